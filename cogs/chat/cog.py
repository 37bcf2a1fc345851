"""Chat cog: turns mentions, replies, DMs and /ask into calls on :class:`bot.chat.ChatService`.

It decides *whether* Matinee was addressed and *where* to answer; everything
about the answer itself lives in the service.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import discord
from discord import app_commands
from discord.ext import commands

from bot.admin import admin_command
from bot.bot import MatineeBot
from bot.chat import ChatRequest, ChatService, TokenCounter
from bot.chat.prompt_packing import PERSONA_MAX_CHARS
from bot.errors import UserFacingError
from bot.text import clean_text, neutralize_mentions, truncate
from cogs._ui import NO_MENTIONS

from .render import fallback_embeds
from .targets import ChannelTarget, InteractionTarget

__all__ = ["Chat"]

log = logging.getLogger(__name__)

DMS_OFF = "Chat in direct messages is turned off on this Matinee. Talk to me in the server instead!"
UNLOAD_GRACE_SECONDS = 3.0
USAGE_KEEP_DAYS = 7
CONVERSATIONAL_TYPES = (discord.MessageType.default, discord.MessageType.reply)


class Chat(commands.Cog):
    """Matinee's chat host: @mention, reply to the bot, DM, or /ask."""

    def __init__(self, bot: MatineeBot) -> None:
        self.bot = bot
        self.counter = TokenCounter()
        self.service = ChatService(bot.db, bot.settings, bot.llm, counter=self.counter)
        self._in_flight: set[asyncio.Task[object]] = set()

    async def cog_load(self) -> None:
        # tiktoken may need a download that can never happen offline: try in the background.
        self.counter.start_loading()
        # Usage rows only matter for today's budget; keep a week for diagnostics.
        week_ago = (datetime.now(UTC) - timedelta(days=USAGE_KEEP_DAYS)).strftime("%Y-%m-%d")
        await self.service.usage.prune(week_ago)

    async def cog_unload(self) -> None:
        # Let replies in flight finish (they write memory and usage), but never hang shutdown.
        current = asyncio.current_task()
        pending = [t for t in self._in_flight if t is not current and not t.done()]
        if pending:
            _, still_running = await asyncio.wait(pending, timeout=UNLOAD_GRACE_SECONDS)
            for task in still_running:
                task.cancel()

    @contextlib.contextmanager
    def _tracked(self) -> Iterator[None]:
        task = asyncio.current_task()
        if task is not None:
            self._in_flight.add(task)
        try:
            yield
        finally:
            if task is not None:
                self._in_flight.discard(task)

    # ------------------------------------------------------------------ messages
    def _addressed(self, message: discord.Message) -> bool:
        """Whether Matinee should answer: a DM, an explicit @mention, or a reply to its message."""
        me = self.bot.user
        if me is None:
            return False
        if message.guild is None:
            return True
        if any(user.id == me.id for user in message.mentions):
            return True
        resolved = message.reference.resolved if message.reference is not None else None
        return isinstance(resolved, discord.Message) and resolved.author.id == me.id

    def _strip_mention(self, content: str) -> str:
        me = self.bot.user
        if me is None:
            return content
        return re.sub(rf"<@!?{me.id}>", "", content).strip()

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        if message.author.bot or message.type not in CONVERSATIONAL_TYPES or not self._addressed(message):
            return
        target = ChannelTarget(message.channel, reply_to=message)
        if message.guild is None and not self.bot.settings.chat_allow_dms:
            if await self.service.check_rate_limit(None, message.author.id) is None:
                await self._notice(target, DMS_OFF)
            return
        request = self._request_from_message(message)
        try:
            with self._tracked():
                if not self.service.configured:
                    await self._answer_from_reviews(message, request, target)
                else:
                    await self.service.respond(request, target)
        except Exception:
            log.exception("chat reply failed in channel %s", message.channel.id)
            await self._notice(target, "Something went wrong on my side while answering. Please try again.")

    def _request_from_message(self, message: discord.Message) -> ChatRequest:
        channel = message.channel
        quoted_text = quoted_author = None
        resolved = message.reference.resolved if message.reference is not None else None
        if isinstance(resolved, discord.Message) and self.bot.user and resolved.author.id != self.bot.user.id:
            quoted_text = resolved.content or None
            quoted_author = resolved.author.display_name
        return ChatRequest(
            conversation_id=channel.id,
            author_id=message.author.id,
            author_name=message.author.display_name,
            content=self._strip_mention(message.content),
            guild_id=message.guild.id if message.guild else None,
            thread_id=channel.id if _maybe_thread(channel) else None,
            place=_place(channel),
            quoted_text=quoted_text,
            quoted_author=quoted_author,
            message_id=message.id,
        )

    async def _answer_from_reviews(self, message: discord.Message, request: ChatRequest, target: ChannelTarget) -> None:
        """No model: a mention gets what /ask gives, the matching reviews and the film's card."""
        refusal = await self.service.check_rate_limit(request.guild_id, request.author_id)
        if refusal is not None:
            await self._notice(target, refusal)
            return
        answer = await self.service.fallback_answer(request)
        await message.channel.send(
            embeds=fallback_embeds(answer, request.content or message.content),
            reference=message.to_reference(fail_if_not_exists=False),
            mention_author=False,
            allowed_mentions=NO_MENTIONS,
        )

    async def _notice(self, target: ChannelTarget, text: str) -> None:
        try:
            await target.send(text)
        except discord.HTTPException:
            log.warning("could not send a chat notice", exc_info=True)

    # ------------------------------------------------------------------ /ask
    @app_commands.command(name="ask", description="Ask Matinee about films and the blog's reviews")
    @app_commands.describe(question="What would you like to know?", ephemeral="Only you see the answer")
    async def ask(
        self,
        interaction: discord.Interaction,
        question: app_commands.Range[str, 1, 2000],
        ephemeral: bool = False,
    ) -> None:
        if interaction.guild_id is None and not self.bot.settings.chat_allow_dms:
            raise UserFacingError(DMS_OFF)
        channel = interaction.channel
        request = ChatRequest(
            conversation_id=interaction.channel_id or interaction.user.id,
            author_id=interaction.user.id,
            author_name=interaction.user.display_name,
            content=question,
            guild_id=interaction.guild_id,
            thread_id=interaction.channel_id if channel is not None and _maybe_thread(channel) else None,
            place=_place(channel) if channel is not None else None,
            remember=not ephemeral,
            check_rate_limit=False,
        )
        # The member limit is checked before deferring so its notice can be private.
        refusal = await self.service.check_rate_limit(interaction.guild_id, interaction.user.id)
        if refusal is not None:
            raise UserFacingError(refusal)
        await interaction.response.defer(ephemeral=ephemeral, thinking=True)
        if not self.service.configured:
            answer = await self.service.fallback_answer(request)
            await interaction.followup.send(
                embeds=fallback_embeds(answer, question), ephemeral=ephemeral, allowed_mentions=NO_MENTIONS
            )
            return
        with self._tracked():
            await self.service.respond(request, InteractionTarget(interaction, ephemeral=ephemeral))

    # ------------------------------------------------------------------ /matinee persona
    @admin_command(name="persona", description="Set how Matinee talks in this server (its chat persona), or reset it")
    @app_commands.describe(
        text=f"How Matinee should sound here (up to {PERSONA_MAX_CHARS} characters); leave out to see the current one",
        reset="Go back to the default persona",
    )
    @app_commands.checks.has_permissions(manage_guild=True)
    async def persona(
        self,
        interaction: discord.Interaction,
        text: app_commands.Range[str, 1, PERSONA_MAX_CHARS] | None = None,
        reset: bool = False,
    ) -> None:
        if interaction.guild_id is None:
            raise UserFacingError("Personas are set per server; run this inside one.")
        if reset:
            await self.service.set_persona(interaction.guild_id, None)
            message = "Matinee's persona is back to the default warm, knowledgeable film host."
        elif text is not None:
            stored = await self.service.set_persona(interaction.guild_id, text)
            message = f"Matinee's persona in this server is now:\n>>> {_quote(stored or '')}"
        else:
            current = await self.service.persona(interaction.guild_id)
            message = (
                f"Matinee's persona in this server:\n>>> {_quote(current)}"
                if current
                else "Matinee uses its default persona here (a warm, knowledgeable film host). "
                "Set one with `/matinee persona text:`."
            )
        await interaction.response.send_message(message, ephemeral=True, allowed_mentions=NO_MENTIONS)


def _quote(text: str) -> str:
    return truncate(neutralize_mentions(clean_text(text)), 1800)


def _maybe_thread(channel: object) -> bool:
    """Threads can be review threads; a plain text channel or DM never is."""
    return isinstance(channel, discord.Thread) or getattr(channel, "type", None) in (
        discord.ChannelType.public_thread,
        discord.ChannelType.private_thread,
        discord.ChannelType.news_thread,
    )


def _place(channel: object) -> str:
    if isinstance(channel, discord.DMChannel):
        return "a direct message"
    name = getattr(channel, "name", None)
    if isinstance(channel, discord.Thread):
        return f"the thread '{name}'" if name else "a thread"
    return f"the #{name} channel" if name else "a channel of the server"
