"""The discussions feature: review threads, comments, polls, summaries and exports."""

from __future__ import annotations

from bot.bot import MatineeBot

from .cog import Discussions
from .commands import DiscussionCommands

__all__ = ["DiscussionCommands", "Discussions", "setup"]


async def setup(bot: MatineeBot) -> None:
    events = Discussions(bot)
    await bot.add_cog(events)
    await bot.add_cog(DiscussionCommands(bot, events.discussions))
