"""Matinee benchmarks: ``python -m bench`` writes BENCHMARKS.md (see the README's Performance section)."""
