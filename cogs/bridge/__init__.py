"""The blog-comment bridge in Discord: the comment-feed loop and the thread webhook or bot-message transport."""

from __future__ import annotations

from bot.bot import MatineeBot

from .cog import Bridge
from .transport import DiscordMirrorTransport

__all__ = ["Bridge", "DiscordMirrorTransport", "setup"]


async def setup(bot: MatineeBot) -> None:
    await bot.add_cog(Bridge(bot))
