"""Matinee benchmarks: ``python -m bench`` writes BENCHMARKS.md (see docs/benchmarks.md)."""
