"""The web side in Discord: the in-process web server, /matinee web, /privacy blog and the blog context menus."""

from __future__ import annotations

from bot.bot import MatineeBot

from .cog import WebFeature
from .commands import WebCommands

__all__ = ["WebCommands", "WebFeature", "setup"]


async def setup(bot: MatineeBot) -> None:
    feature = WebFeature(bot)
    await bot.add_cog(feature)
    await bot.add_cog(WebCommands(bot, feature))
