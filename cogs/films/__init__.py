"""The films feature: /film, /rate, /top and /watchlist, and the film option other commands use."""

from __future__ import annotations

from bot.bot import MatineeBot

from .cog import Films


async def setup(bot: MatineeBot) -> None:
    await bot.add_cog(Films(bot))
