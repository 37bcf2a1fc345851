"""Bridge cog: reads the reviews' comment feeds on their schedule and keeps the threads' mirrors in step.

A thin adapter over :mod:`bot.bridge`: each turn delivers what is owed (a mirror sent
before a crash is found, not sent again), reads the comment feeds that are due, and
delivers what those reads found. ``/matinee feed list`` shows the comment feeds'
status (cogs/reviews reads it from storage).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from discord.ext import commands

from bot.bot import MatineeBot
from bot.bridge import BlogCommentBridge, CommentPoll, MirrorDelivery, MirrorReport
from bot.outbound import Purpose
from bot.reviews import FeedFetcher

from .transport import DiscordMirrorTransport

__all__ = ["Bridge"]

log = logging.getLogger(__name__)

MAX_TICK_SECONDS = 15.0


class Bridge(commands.Cog):
    """The loop that reads comment feeds and mirrors blog comments into review threads."""

    def __init__(self, bot: MatineeBot) -> None:
        self.bot = bot
        settings = bot.settings
        self.service = BlogCommentBridge(
            bot.db, FeedFetcher(bot.outbound.session(Purpose.FEEDS)), poll_seconds=settings.feed_poll_seconds
        )
        self.transport = DiscordMirrorTransport(bot)
        self.delivery = MirrorDelivery(self.service.feeds, self.transport)
        self.tick = max(0.2, min(settings.feed_poll_seconds / 4, MAX_TICK_SECONDS))
        self._wake = asyncio.Event()
        self._turn_lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    async def cog_load(self) -> None:
        self._task = asyncio.create_task(self._run(), name="bridge-loop")

    async def cog_unload(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    def wake(self) -> None:
        """Run a turn now."""
        self._wake.set()

    async def _run(self) -> None:
        await self.bot.wait_until_ready()
        while not self.bot.is_closed():
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("bridge loop iteration failed; continuing")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.tick)
            self._wake.clear()

    async def run_once(self) -> tuple[list[CommentPoll], MirrorReport]:
        """One turn: deliver what is owed, read the due comment feeds, deliver what they brought."""
        async with self._turn_lock:
            await self.delivery.deliver()
            polls = await self.service.poll_due()
            report = await self.delivery.deliver()
            return polls, report
