"""Keeping chat affordable: a per-member request limit and a per-guild daily token budget.

The member limit is a sliding window kept in memory: it protects the model from
bursts, and forgetting it on restart costs at most one extra minute of requests.
The token budget is money, so it is stored in SQLite and survives restarts.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from ..storage.conversations import UsageRepository

__all__ = ["DM_GUILD_ID", "SlidingWindowLimiter", "TokenBudget", "utc_day"]

DM_GUILD_ID = 0  # usage bucket for direct messages


def utc_day(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d")


class SlidingWindowLimiter:
    """At most ``limit`` hits per ``window`` seconds per key, over a true sliding window."""

    def __init__(self, limit: int, window: float = 60.0, *, clock: Callable[[], float] = time.monotonic) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self.window = window
        self._clock = clock
        self._hits: dict[object, deque[float]] = {}

    def hit(self, key: object) -> float | None:
        """Record a request; None when allowed, else the seconds until one is allowed again."""
        now = self._clock()
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        if len(hits) >= self.limit:
            return max(0.0, hits[0] + self.window - now)
        hits.append(now)
        if len(self._hits) > 10_000:
            self._prune(now)
        return None

    def _prune(self, now: float) -> None:
        """Drop members with no recent requests, so memory stays bounded on a big server."""
        for key in [k for k, v in self._hits.items() if not v or v[-1] <= now - self.window]:
            del self._hits[key]


class TokenBudget:
    """A daily token allowance per guild, reset at midnight UTC."""

    def __init__(
        self,
        usage: UsageRepository,
        daily_limit: int,
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._usage = usage
        self.daily_limit = daily_limit
        self._now = now

    async def exhausted_until(self, guild_id: int | None) -> datetime | None:
        """None while the guild has budget left today; else when the budget resets."""
        now = self._now()
        used = await self._usage.tokens_on(guild_id or DM_GUILD_ID, utc_day(now))
        if used < self.daily_limit:
            return None
        return self.next_reset(now)

    async def spend(self, guild_id: int | None, tokens: int) -> None:
        await self._usage.add(guild_id or DM_GUILD_ID, utc_day(self._now()), tokens)

    async def used_today(self, guild_id: int | None) -> int:
        return await self._usage.tokens_on(guild_id or DM_GUILD_ID, utc_day(self._now()))

    @staticmethod
    def next_reset(now: datetime) -> datetime:
        start = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        return start + timedelta(days=1)
