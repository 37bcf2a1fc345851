"""Capped exponential back-off with jitter, for waiting on something that will come back.

Why jitter: a fleet of bots that lost the same network retries in lock-step without
it, and Discord (or a blog) gets every reconnect in the same second. Each delay is
drawn from the upper part of its step (``jitter`` is the fraction that may be taken
off), so the wait still grows as expected and never exceeds ``cap``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

__all__ = ["Backoff"]


@dataclass(slots=True)
class Backoff:
    """Delays of ``first``, ``first * factor``, ... up to ``cap`` seconds, each shortened by up to ``jitter``."""

    first: float = 5.0
    cap: float = 300.0
    factor: float = 2.0
    jitter: float = 0.25
    rng: random.Random = field(default_factory=random.Random)
    attempts: int = 0  # delays handed out since the last reset

    def __post_init__(self) -> None:
        if not (0 < self.first <= self.cap and self.factor >= 1 and 0 <= self.jitter < 1):
            raise ValueError("Backoff needs 0 < first <= cap, factor >= 1 and 0 <= jitter < 1")

    def next_delay(self) -> float:
        """The next wait, in seconds."""
        step = min(self.cap, self.first * self.factor ** min(self.attempts, 64))
        self.attempts += 1
        return step * (1 - self.jitter * self.rng.random())

    def reset(self) -> None:
        self.attempts = 0
