"""The chat feature: Matinee as a film-loving host (mentions, replies, DMs, /ask, /matinee persona)."""

from __future__ import annotations

from bot.bot import MatineeBot

from .cog import Chat

__all__ = ["Chat", "setup"]


async def setup(bot: MatineeBot) -> None:
    await bot.add_cog(Chat(bot))
