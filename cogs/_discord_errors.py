"""What Discord's errors mean for a delivery: the one place the cogs turn them into :class:`DeliveryError`.

:class:`LostResponse` is the exception :func:`bot.lost_response.single_attempt` raises for
a create call whose answer was lost (a 5xx after Discord may have done it). It is a
``discord.DiscordServerError``, so code that knows 5xx treats it as one; it lives here
because ``bot/`` holds no discord.py type where it can avoid it.
"""

from __future__ import annotations

import aiohttp
import discord

__all__ = ["LostResponse"]


class LostResponse(discord.DiscordServerError):
    """Discord answered a create call with a 5xx: it may or may not have been done."""

    def __init__(self, response: aiohttp.ClientResponse, text: str) -> None:
        super().__init__(response, text)  # type: ignore[arg-type]  # an aiohttp response, as discord.py passes
