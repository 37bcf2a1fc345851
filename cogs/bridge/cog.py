"""Bridge cog: reads the reviews' comment feeds on their schedule and keeps the threads' mirrors in step.

A thin adapter over :mod:`bot.bridge`: each turn delivers what is owed (a mirror sent
before a crash is found, not sent again), reads the comment feeds that are due, and
delivers what those reads found. ``/matinee feed list`` shows the comment feeds'
status (cogs/reviews reads it from storage).
"""

from __future__ import annotations

import asyncio

from discord.ext import commands

from bot.bot import MatineeBot
from bot.bridge import BlogCommentBridge, CommentPoll, MirrorDelivery, MirrorReport
from bot.outbound import Purpose
from bot.reviews import FeedFetcher
from cogs._loop import PollingLoop, feed_tick

from .transport import DiscordMirrorTransport

__all__ = ["Bridge"]


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
        self._turn_lock = asyncio.Lock()
        self.loop = PollingLoop(bot, "bridge-loop", self.run_once, tick=feed_tick(settings.feed_poll_seconds))

    async def cog_load(self) -> None:
        self.loop.start()

    async def cog_unload(self) -> None:
        await self.loop.stop()

    def wake(self) -> None:
        """Run a turn now."""
        self.loop.wake()

    async def run_once(self) -> tuple[list[CommentPoll], MirrorReport]:
        """One turn: deliver what is owed, read the due comment feeds, deliver what they brought."""
        async with self._turn_lock:
            await self.delivery.deliver()
            polls = await self.service.poll_due()
            report = await self.delivery.deliver()
            return polls, report
