"""The discussions feature: review threads, comments, polls, exports, /forget-me."""

from __future__ import annotations

from bot.bot import MatineeBot

from .cog import Discussions
from .commands import DiscussionCommands

__all__ = ["DiscussionCommands", "Discussions", "setup"]


async def setup(bot: MatineeBot) -> None:
    core = Discussions(bot)
    await bot.add_cog(core)
    await bot.add_cog(DiscussionCommands(bot, core))
