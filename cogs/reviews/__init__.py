"""Reviews: announcements of feed, Markdown and Discord-authored reviews (see cog.py)."""

from __future__ import annotations

from bot.bot import MatineeBot

from .cog import Reviews

__all__ = ["Reviews", "setup"]


async def setup(bot: MatineeBot) -> None:
    await bot.add_cog(Reviews(bot))
