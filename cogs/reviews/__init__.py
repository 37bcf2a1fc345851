"""Reviews: announcements of feed, Markdown and Discord-authored reviews (cog.py), and /reviews (search.py)."""

from __future__ import annotations

from bot.bot import MatineeBot

from .cog import Reviews
from .search import ReviewSearch

__all__ = ["ReviewSearch", "Reviews", "setup"]


async def setup(bot: MatineeBot) -> None:
    await bot.add_cog(Reviews(bot))
    await bot.add_cog(ReviewSearch(bot))
