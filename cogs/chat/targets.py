"""Discord implementations of :class:`bot.chat.streaming.ReplyTarget`.

Every send and edit passes ``AllowedMentions.none()`` and runs the text through
``neutralize_mentions`` once more: model output must never ping anyone, even if
the bot-wide default were changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import discord

from bot.text import neutralize_mentions
from cogs._ui import NO_MENTIONS

__all__ = ["ChannelTarget", "InteractionTarget"]

log = logging.getLogger(__name__)

TYPING_REFRESH_SECONDS = 8.0  # Discord shows "typing…" for ~10 s per trigger


class ChannelTarget:
    """Replies in a channel, thread or DM; the first message replies to the member's message."""

    def __init__(self, channel: discord.abc.Messageable, *, reply_to: discord.Message | None = None) -> None:
        self._channel = channel
        self._reply_to = reply_to

    async def send(self, text: str) -> discord.Message:
        reference = None
        if self._reply_to is not None:
            reference = self._reply_to.to_reference(fail_if_not_exists=False)
            self._reply_to = None  # only the first message of a reply is threaded to the question
        return await self._channel.send(
            neutralize_mentions(text), allowed_mentions=NO_MENTIONS, reference=reference, mention_author=False
        )

    async def edit(self, message: discord.Message, text: str) -> None:
        await message.edit(content=neutralize_mentions(text), allowed_mentions=NO_MENTIONS)

    async def delete(self, message: discord.Message) -> None:
        await message.delete()

    def typing(self) -> AbstractAsyncContextManager[Any]:
        return _background_typing(self._channel)


class InteractionTarget:
    """Replies to a deferred /ask: the first follow-up replaces the "thinking…" message."""

    def __init__(self, interaction: discord.Interaction, *, ephemeral: bool) -> None:
        self._interaction = interaction
        self._ephemeral = ephemeral

    async def send(self, text: str) -> discord.WebhookMessage:
        return await self._interaction.followup.send(
            neutralize_mentions(text), ephemeral=self._ephemeral, allowed_mentions=NO_MENTIONS, wait=True
        )

    async def edit(self, message: discord.WebhookMessage, text: str) -> None:
        await message.edit(content=neutralize_mentions(text), allowed_mentions=NO_MENTIONS)

    async def delete(self, message: discord.WebhookMessage) -> None:
        await message.delete()

    def typing(self) -> AbstractAsyncContextManager[Any]:
        # The deferred response already shows "Matinee is thinking…".
        return contextlib.nullcontext()


@asynccontextmanager
async def _background_typing(channel: discord.abc.Messageable) -> AsyncIterator[None]:
    """A typing indicator that never delays the reply: triggered from a background task.

    ``async with channel.typing()`` awaits Discord before entering, which would sit
    on the hot path between the member's message and the model request.
    """

    async def keep_typing() -> None:
        while True:
            try:
                await channel.typing()  # awaiting (not entering) triggers the indicator once
            except discord.HTTPException:
                log.debug("typing indicator failed", exc_info=True)
                return
            await asyncio.sleep(TYPING_REFRESH_SECONDS)

    task = asyncio.create_task(keep_typing(), name="matinee-chat-typing")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
