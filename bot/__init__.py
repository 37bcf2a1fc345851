"""Matinee: a Discord bot that hosts a film blog's comment section."""

__version__ = "0.1.0"
