"""What Discord's errors mean for a delivery: the one place the cogs turn them into :class:`DeliveryError`.

The outbox of announcements (cogs/reviews/transport.py) and the mirrors of blog comments
(cogs/bridge/transport.py) both catch :data:`DISCORD_ERRORS` and raise
:func:`delivery_error`'s answer, whose ``failure`` says what a retry can do: 403 is a
permission staff can grant, 404 means the target is gone, any other 4xx but 429 is
refused for good, and the rest (5xx, 429, no answer at all) is worth another try.

:class:`LostResponse` is the exception :func:`bot.lost_response.single_attempt` raises for
a create call whose answer was lost (a 5xx after Discord may have done it). It is a
``discord.DiscordServerError``, so code that knows 5xx treats it as one; it lives here
because ``bot/`` holds no discord.py type where it can avoid it.
"""

from __future__ import annotations

import aiohttp
import discord

from bot.reviews import DeliveryError, Failure

__all__ = ["DISCORD_ERRORS", "UNANSWERED", "LostResponse", "delivery_error"]

UNANSWERED = (aiohttp.ClientError, TimeoutError, OSError)  # Discord did not answer at all
DISCORD_ERRORS = (discord.HTTPException, *UNANSWERED)


class LostResponse(discord.DiscordServerError):
    """Discord answered a create call with a 5xx: it may or may not have been done."""

    def __init__(self, response: aiohttp.ClientResponse, text: str) -> None:
        super().__init__(response, text)  # type: ignore[arg-type]  # an aiohttp response, as discord.py passes


def delivery_error(exc: BaseException, *, what: str, gone: str) -> DeliveryError:
    """The :class:`DeliveryError` for ``exc``, one of :data:`DISCORD_ERRORS`.

    ``what`` completes "I'm missing a permission to ..." and "Discord refused to ...";
    ``gone`` says what a 404 means here ("the channel was deleted").
    """
    if not isinstance(exc, discord.HTTPException):
        return DeliveryError(f"Discord did not answer ({type(exc).__name__})")
    detail = f"Discord {exc.status}: {exc.text[:200]}" if exc.text else f"Discord {exc.status}"
    if isinstance(exc, discord.Forbidden):
        return DeliveryError(f"I'm missing a permission to {what} ({detail})", failure=Failure.FORBIDDEN,
                             status=exc.status)  # fmt: skip
    if isinstance(exc, LostResponse):
        return DeliveryError(f"Discord's answer was lost ({detail}); the post may have been made",
                             status=exc.status)  # fmt: skip
    if isinstance(exc, discord.NotFound):
        return DeliveryError(f"{gone} ({detail})", failure=Failure.GONE, status=exc.status)
    if 400 <= exc.status < 500 and exc.status != 429:
        return DeliveryError(f"Discord refused to {what} ({detail})", failure=Failure.REFUSED, status=exc.status)
    return DeliveryError(f"Discord error ({detail})", status=exc.status)
