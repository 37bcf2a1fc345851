"""Discussions cog: gateway events in, calls on ``bot.discussions`` out.

Announcements open threads; messages, raw edits/deletes/reactions and poll votes
go to the comment and poll services; ready/resumed/disconnect and thread updates
drive the backfill, and so do a server leaving and coming back (``guild_remove``,
``guild_unavailable``, ``guild_join``, ``guild_available``). The slash commands are
in ``commands.py``; what Discord must do for the services is in ``transport.py``.
"""

from __future__ import annotations

import logging
from functools import partial

import discord
from discord.ext import commands

from bot.bot import MatineeBot
from bot.discussions.feature import DiscussionFeature
from bot.discussions.opening_prompts import llm_prompts
from bot.discussions.summary import summarise
from bot.discussions.transport import ThreadInfo
from bot.models import Announcement, Review
from bot.storage.web import WebRepository
from bot.web.consent import blog_notice_for

from .render import emoji_key, final_poll_counts, incoming, is_member_edit, iso
from .transport import DiscordThreadTransport

__all__ = ["Discussions"]

log = logging.getLogger(__name__)


class Discussions(commands.Cog):
    """Review threads and their comments and polls: everything driven by gateway events."""

    def __init__(self, bot: MatineeBot) -> None:
        self.bot = bot
        self.discussions = DiscussionFeature(
            bot.db,
            bot.writer,
            DiscordThreadTransport(bot),
            write_prompts=partial(llm_prompts, bot.llm) if bot.llm is not None else None,
            summarise=partial(summarise, bot.llm),
            blog_notice=partial(blog_notice_for, WebRepository(bot.db)),
            rest_budget=bot.rest_limiter,
        )

    async def cog_load(self) -> None:
        await self.discussions.load()

    async def cog_unload(self) -> None:
        await self.discussions.close()

    # -- opening a discussion ---------------------------------------------------------------

    @commands.Cog.listener()
    async def on_review_announced(self, review: Review, announcement: Announcement) -> None:
        try:
            await self.open_discussion(review, announcement)
        except Exception:
            log.exception("could not open the discussion of review %s in guild %s", review.id, announcement.guild_id)

    @commands.Cog.listener()
    async def on_review_thread_retry(self, review: Review, announcement: Announcement) -> None:
        """The reviews loop says a refused thread is due for another try (see bot.problems)."""
        await self.on_review_announced(review, announcement)

    async def open_discussion(self, review: Review, announcement: Announcement) -> ThreadInfo | None:
        return await self.discussions.opening.open(review, announcement)

    @commands.Cog.listener()
    async def on_review_updated(self, review: Review) -> None:
        await self.discussions.opening.review_updated(review)

    # -- comments ---------------------------------------------------------------------------

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        if message.guild is not None and not message.author.bot:
            await self.discussions.comment_service.ingest(incoming(message))

    @commands.Cog.listener()
    async def on_raw_message_edit(self, payload: discord.RawMessageUpdateEvent) -> None:
        counts = final_poll_counts(payload.data)
        if counts is not None and await self.discussions.poll_service.finalize(payload.message_id, counts):
            return
        if is_member_edit(payload):
            await self.discussions.comment_service.edited(
                payload.channel_id,
                payload.message_id,
                payload.data.get("content") or "",
                iso(payload.message.edited_at) or payload.data.get("edited_timestamp"),
                [a.url for a in payload.message.attachments],
            )

    @commands.Cog.listener()
    async def on_raw_message_delete(self, payload: discord.RawMessageDeleteEvent) -> None:
        if payload.guild_id is not None:
            await self.discussions.comment_service.deleted(payload.channel_id, [payload.message_id])

    @commands.Cog.listener()
    async def on_raw_bulk_message_delete(self, payload: discord.RawBulkMessageDeleteEvent) -> None:
        if payload.guild_id is not None:
            await self.discussions.comment_service.deleted(payload.channel_id, sorted(payload.message_ids))

    @commands.Cog.listener()
    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        if payload.guild_id is not None:
            await self.discussions.comment_service.reaction(
                payload.channel_id, payload.message_id, emoji_key(payload.emoji), 1
            )

    @commands.Cog.listener()
    async def on_raw_reaction_remove(self, payload: discord.RawReactionActionEvent) -> None:
        if payload.guild_id is not None:
            await self.discussions.comment_service.reaction(
                payload.channel_id, payload.message_id, emoji_key(payload.emoji), -1
            )

    @commands.Cog.listener()
    async def on_raw_reaction_clear(self, payload: discord.RawReactionClearEvent) -> None:
        if payload.guild_id is not None:
            await self.discussions.comment_service.reactions_cleared(payload.channel_id, payload.message_id)

    @commands.Cog.listener()
    async def on_raw_reaction_clear_emoji(self, payload: discord.RawReactionClearEmojiEvent) -> None:
        if payload.guild_id is not None:
            await self.discussions.comment_service.reactions_cleared(
                payload.channel_id, payload.message_id, emoji_key(payload.emoji)
            )

    # -- poll votes ---------------------------------------------------------------------------

    @commands.Cog.listener()
    async def on_raw_poll_vote_add(self, payload: discord.RawPollVoteActionEvent) -> None:
        if payload.guild_id is not None:
            await self.discussions.poll_service.vote(payload.message_id, payload.user_id, payload.answer_id, added=True)

    @commands.Cog.listener()
    async def on_raw_poll_vote_remove(self, payload: discord.RawPollVoteActionEvent) -> None:
        if payload.guild_id is not None:
            await self.discussions.poll_service.vote(
                payload.message_id, payload.user_id, payload.answer_id, added=False
            )

    # -- backfill -------------------------------------------------------------------------

    @commands.Cog.listener()
    async def on_ready(self) -> None:
        self.discussions.session_started("ready")

    @commands.Cog.listener()
    async def on_resumed(self) -> None:
        self.discussions.session_started("resumed")

    @commands.Cog.listener()
    async def on_disconnect(self) -> None:
        await self._gap_opened(None)

    # Removed from a server, or the server is unavailable (an outage): nothing of it reaches us
    # until it comes back, when its threads are caught up with.

    @commands.Cog.listener()
    async def on_guild_remove(self, guild: discord.Guild) -> None:
        await self._gap_opened(guild.id)

    @commands.Cog.listener()
    async def on_guild_unavailable(self, guild: discord.Guild) -> None:
        await self._gap_opened(guild.id)

    @commands.Cog.listener()
    async def on_guild_join(self, guild: discord.Guild) -> None:
        self.discussions.backfill.start_guild_catch_up(guild.id)

    @commands.Cog.listener()
    async def on_guild_available(self, guild: discord.Guild) -> None:
        self.discussions.backfill.start_guild_catch_up(guild.id)

    async def _gap_opened(self, guild_id: int | None) -> None:
        try:
            await self.discussions.backfill.gap_opened(guild_id)
        except Exception:
            log.warning("could not mark review threads as owing a backfill", exc_info=True)

    @commands.Cog.listener()
    async def on_raw_thread_update(self, payload: discord.RawThreadUpdateEvent) -> None:
        archived = (payload.data.get("thread_metadata") or {}).get("archived")
        if archived is False and (payload.thread is None or payload.thread.archived):
            await self.discussions.backfill.thread_unarchived(payload.thread_id)
