"""The discussions feature: review threads, comments, polls, exports, /forget-me."""

from __future__ import annotations

from bot.bot import MatineeBot

from .cog import Discussions

__all__ = ["Discussions", "setup"]


async def setup(bot: MatineeBot) -> None:
    await bot.add_cog(Discussions(bot))
