"""Capped exponential back-off with jitter, for waiting on something that will come back.

Why jitter: a fleet of bots that lost the same network retries in lock-step without
it, and Discord (or a blog) gets every reconnect in the same second. Each delay is
drawn from the upper part of its step (``jitter`` is the fraction that may be taken
off), so the wait still grows as expected and never exceeds ``cap``.

:func:`capped` is the step itself, without jitter or state, for callers that store the
failure count (review and comment feeds, mirrors, announcement retries, thread backfills)
and add their own jitter, if any: one formula for every back-off in Matinee.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from typing import TypeVar

__all__ = ["Backoff", "capped"]

_Span = TypeVar("_Span", float, dt.timedelta)

MAX_DOUBLINGS = 64  # beyond this every step is the cap anyway; keeps the power finite


def capped(first: _Span, attempts: int, cap: _Span, *, factor: float = 2.0) -> _Span:
    """``first * factor ** attempts``, at most ``cap``: the wait after ``attempts`` earlier ones.

    Works on seconds or on ``timedelta`` alike; the cap is compared before multiplying,
    so a long run of failures never overflows a ``timedelta``.
    """
    multiple = factor ** min(max(attempts, 0), MAX_DOUBLINGS)
    if first and multiple >= cap / first:
        return cap
    return min(first * multiple, cap)


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
        step = capped(self.first, self.attempts, self.cap, factor=self.factor)
        self.attempts += 1
        return step * (1 - self.jitter * self.rng.random())

    def reset(self) -> None:
        self.attempts = 0
