"""The polling loop the reviews and bridge cogs share.

Each runs a turn every ``tick`` seconds, or at once when woken (a feed added, a review
posted from Discord); a turn that fails is logged and the loop goes on; unloading the
cog cancels it. One loop, so the two cannot drift apart in how they start, wake or stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from discord.ext import commands

__all__ = ["MAX_TICK_SECONDS", "PollingLoop", "feed_tick"]

log = logging.getLogger(__name__)

MAX_TICK_SECONDS = 15.0


def feed_tick(poll_seconds: float) -> float:
    """How often a feed loop looks for due work: a quarter of the poll interval, within 0.2–15 s."""
    return max(0.2, min(poll_seconds / 4, MAX_TICK_SECONDS))


class PollingLoop:
    """``turn()`` every ``tick`` seconds once the bot is ready; ``before_first()`` runs once before."""

    def __init__(
        self,
        bot: commands.Bot,
        name: str,
        turn: Callable[[], Awaitable[object]],
        *,
        tick: float,
        before_first: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.bot = bot
        self.name = name
        self.tick = tick
        self._turn = turn
        self._before_first = before_first
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    def wake(self) -> None:
        """Run a turn now."""
        self._wake.set()

    async def _run(self) -> None:
        await self.bot.wait_until_ready()
        if self._before_first is not None:
            await self._before_first()
        while not self.bot.is_closed():
            try:
                await self._turn()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s iteration failed; continuing", self.name)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.tick)
            self._wake.clear()
