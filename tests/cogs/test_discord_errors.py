"""One classifier for Discord's errors: each becomes a DeliveryError whose ``failure`` says what a retry can do."""

from __future__ import annotations

from types import SimpleNamespace

import aiohttp
import discord
import pytest

from bot.reviews import Failure
from cogs._discord_errors import DISCORD_ERRORS, LostResponse, delivery_error

GONE = "the thread or message is gone"


def _answer(kind: type[discord.HTTPException], status: int, text: str = "") -> discord.HTTPException:
    return kind(SimpleNamespace(status=status, reason="x"), text)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("error", "failure", "message"),
    [
        (_answer(discord.Forbidden, 403, "Missing Permissions"), Failure.FORBIDDEN,
         "I'm missing a permission to post in the thread (Discord 403: Missing Permissions)"),
        (_answer(discord.NotFound, 404), Failure.GONE, "the thread or message is gone (Discord 404)"),
        (_answer(discord.HTTPException, 400, "Invalid Form Body"), Failure.REFUSED,
         "Discord refused to post in the thread (Discord 400: Invalid Form Body)"),
        (_answer(discord.HTTPException, 429), Failure.TRANSIENT, "Discord error (Discord 429)"),
        (_answer(discord.DiscordServerError, 503), Failure.TRANSIENT, "Discord error (Discord 503)"),
        (_answer(LostResponse, 502), Failure.TRANSIENT,
         "Discord's answer was lost (Discord 502); the post may have been made"),
    ],
)  # fmt: skip
def test_each_answer_says_what_a_retry_can_do(error: discord.HTTPException, failure: Failure, message: str) -> None:
    classified = delivery_error(error, what="post in the thread", gone=GONE)
    assert classified.failure is failure and str(classified) == message and classified.status == error.status


@pytest.mark.parametrize("error", [aiohttp.ServerDisconnectedError(), TimeoutError(), ConnectionResetError()])
def test_no_answer_at_all_is_worth_another_try(error: Exception) -> None:
    assert isinstance(error, DISCORD_ERRORS)
    classified = delivery_error(error, what="post there", gone=GONE)
    assert classified.failure is Failure.TRANSIENT and classified.status is None
    assert str(classified) == f"Discord did not answer ({type(error).__name__})"


def test_a_lost_response_is_a_discord_server_error() -> None:
    assert isinstance(_answer(LostResponse, 502), discord.DiscordServerError)
