"""A token bucket, used for the bot-wide Discord REST limit and for TMDB.

discord.py retries 429s, but a bot that relies on 429s gets its requests
delayed and, past a threshold, Cloudflare-banned. Discord's global limit is 50
requests per second per bot; MatineeBot takes one token per REST call from one
bucket, so a fan-out to hundreds of guilds stays under it by construction,
whichever feature makes the calls.

Note that a bucket admits ``capacity + rate`` requests in any one-second window
(a full bucket, then a second of refill), so both numbers count toward the limit.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

__all__ = ["TokenBucket"]


class TokenBucket:
    """``rate`` tokens per second, bursts up to ``capacity``; :meth:`acquire` waits for a token."""

    def __init__(self, rate: float, capacity: float | None = None, *, clock: Callable[[], float] = time.monotonic):
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.capacity = capacity if capacity is not None else rate
        self._tokens = self.capacity
        self._clock = clock
        self._updated = clock()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
        self._updated = now

    def try_acquire(self) -> bool:
        self._refill()
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False

    def idle(self) -> bool:
        """Nobody waits for a token and the bucket is full: no request took one for a while.

        Background work (the re-check of older comments) asks this before each
        request and waits while it is False, so it never competes with a fan-out or
        a command's answers for the shared budget.
        """
        self._refill()
        return not self._lock.locked() and self._tokens >= self.capacity

    async def acquire(self) -> None:
        # The lock makes waiters queue in order instead of all waking on the same refill.
        async with self._lock:
            while not self.try_acquire():
                await asyncio.sleep((1 - self._tokens) / self.rate)
