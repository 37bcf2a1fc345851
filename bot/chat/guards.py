"""Keeping chat affordable: a per-member request limit and a per-guild daily token budget.

Both are stored in SQLite and survive restarts: the member limit is a sliding
window over the times of each member's recent requests (a deploy must not hand out
a fresh allowance), and the token budget is money.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from ..storage.conversations import ChatRequestRepository, UsageRepository

__all__ = ["DM_GUILD_ID", "SlidingWindowLimiter", "TokenBudget", "utc_day"]

DM_GUILD_ID = 0  # usage bucket for direct messages


def utc_day(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d")


class SlidingWindowLimiter:
    """At most ``limit`` requests per ``window`` seconds per member and server, over a true sliding window.

    The window is kept in SQLite (:class:`ChatRequestRepository`), timed by the wall
    clock: a member who waits for a restart or a deploy finds the same allowance left.
    Refused requests are not recorded, so hammering does not extend the wait.
    """

    def __init__(
        self,
        requests: ChatRequestRepository,
        limit: int,
        window: float = 60.0,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self.window = window
        self._requests = requests
        self._clock = clock
        self._next_prune = float("-inf")

    async def hit(self, guild_id: int | None, user_id: int) -> float | None:
        """Record a request; None when allowed, else the seconds until one is allowed again."""
        now = self._clock()
        since = now - self.window
        if now >= self._next_prune:  # at most once a window: the table holds about two windows of requests
            self._next_prune = now + self.window
            await self._requests.prune(since)
        if await self._requests.record_unless_full(guild_id, user_id, at=now, since=since, limit=self.limit):
            return None
        blocking = await self._requests.nth_newest(guild_id, user_id, since=since, n=self.limit)
        if blocking is None:  # the window emptied in between: try again at once
            return 0.0
        # A clock set back leaves requests "in the future"; never ask for more than one window.
        return min(self.window, max(0.0, blocking + self.window - now))


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
