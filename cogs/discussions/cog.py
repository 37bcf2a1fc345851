"""Discussions cog: a thin adapter between Discord and the services in ``bot.discussions``.

Gateway events (messages, raw edits/deletes/reactions/poll votes, thread updates,
ready/resumed) become calls on the comment and poll services; slash commands call
the exporter, the summariser and the privacy service.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import io
import logging
from typing import Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.bot import MatineeBot
from bot.discussions.export import EXPORT_FORMATS, DiscussionExporter
from bot.discussions.privacy import forget_member
from bot.discussions.prompts import build_opening, llm_prompts, template_prompts, thread_name
from bot.discussions.service import CommentService, DiscussionIndex, PollService, ThreadRef, plan_backfill
from bot.discussions.summary import summarise
from bot.errors import UserFacingError
from bot.models import Announcement, Review
from bot.storage import (
    AnnouncementRepository,
    CommentRepository,
    DiscussionThreadRepository,
    GuildSettingsRepository,
    PollInfo,
    PollRepository,
    RatingRepository,
    ReviewRepository,
)
from bot.text import CHOICE_NAME, clean_text, truncate

from .render import (
    ARCHIVE_CHOICES,
    build_poll,
    emoji_key,
    incoming,
    iso,
    normalise_archive_minutes,
    starter_embed,
    with_spoiler_notice,
)
from .views import ForgetMeView

__all__ = ["Discussions"]

log = logging.getLogger(__name__)

NO_MENTIONS = discord.AllowedMentions.none()
LLM_TIMEOUT_CAP = 10.0
THREAD_ALREADY_EXISTS = 160004
MAX_UPLOAD_BYTES = 8 * 1024 * 1024
BACKFILL_PAGE = 100


def _can_moderate_threads(interaction: discord.Interaction) -> bool:
    perms = interaction.permissions
    if perms.manage_threads or perms.manage_messages:
        return True
    raise app_commands.MissingPermissions(["manage_threads"])


class Discussions(commands.Cog):
    """Review threads, their comments and polls, exports, summaries and /forget-me."""

    discussion = app_commands.Group(name="discussion", description="Review discussion threads", guild_only=True)

    def __init__(self, bot: MatineeBot) -> None:
        self.bot = bot
        db, writer = bot.db, bot.writer
        self.reviews = ReviewRepository(db)
        self.announcements = AnnouncementRepository(db)
        self.guild_settings = GuildSettingsRepository(db)
        self.comments = CommentRepository(db, writer)
        self.threads = DiscussionThreadRepository(db)
        self.polls = PollRepository(db, writer)
        self.ratings = RatingRepository(db)
        self.index = DiscussionIndex(self.announcements)
        self.comment_service = CommentService(self.index, self.comments)
        self.poll_service = PollService(self.polls, self.reviews, self.ratings)
        self.exporter = DiscussionExporter(self.reviews, self.comments, self.polls, self.ratings)
        self._open_locks: dict[tuple[int, int], asyncio.Lock] = {}
        self._backfill_task: asyncio.Task[None] | None = None
        self._thread_backfills: dict[int, asyncio.Task[None]] = {}
        self._snapshot: dict[int, int] | None = None
        self.backfilled_messages = 0  # observable in tests and /matinee about-like diagnostics

        self.export_command = app_commands.Command(
            name="export",
            description="Export a review's comments and ratings as a file (JSON, Markdown or HTML)",
            callback=self.export_review,
        )
        self.export_command.autocomplete("review")(self.review_autocomplete)
        self.archive_command = app_commands.Command(
            name="archive-after",
            description="How long review threads stay open without new messages",
            callback=self.archive_after,
        )

    # -- lifecycle ------------------------------------------------------------------

    async def cog_load(self) -> None:
        await self.index.load()
        self.bot.add_admin_command(self.export_command)
        self.bot.add_admin_command(self.archive_command)

    async def cog_unload(self) -> None:
        self.bot.remove_admin_command(self.export_command.name)
        self.bot.remove_admin_command(self.archive_command.name)
        tasks = [t for t in [self._backfill_task, *self._thread_backfills.values()] if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    @property
    def _llm_timeout(self) -> float:
        return min(self.bot.settings.openai_timeout_seconds, LLM_TIMEOUT_CAP)

    # -- opening a discussion -------------------------------------------------------------

    @commands.Cog.listener()
    async def on_review_announced(self, review: Review, announcement: Announcement) -> None:
        try:
            await self.open_discussion(review, announcement)
        except Exception:
            log.exception("could not open the discussion of review %s in guild %s", review.id, announcement.guild_id)

    async def open_discussion(self, review: Review, announcement: Announcement) -> discord.Thread | None:
        """Create (text channel) or adopt (forum post) the thread, then post the opening message once."""
        key = (review.id, announcement.guild_id)
        async with self._open_locks.setdefault(key, asyncio.Lock()):
            guild = self.bot.get_guild(announcement.guild_id)
            if guild is None:
                log.warning("review %s announced in guild %s, which I can't see", review.id, announcement.guild_id)
                return None
            settings = await self.guild_settings.get(guild.id)
            archive = normalise_archive_minutes(settings.auto_archive_minutes)
            spoiler = announcement.spoiler or review.spoilers
            name = thread_name(review, spoilers=spoiler)
            thread = await self._thread_for(guild, review, announcement, name, archive)
            if thread is None:
                return None
            if spoiler and not announcement.spoiler:
                await self.announcements.set_spoiler(thread.id, True)
            self.index.add(
                ThreadRef(review.id, guild.id, announcement.channel_id, thread.id, announcement.message_id, spoiler)
            )
            await self.threads.register(thread.id, review.id, guild.id)
            record = await self.threads.get(thread.id)
            if record is not None and record.opening_message_id:
                return thread  # already opened (a repeated event or a re-open)
            await self._post_opening(thread, review, guild.id, spoiler)
            return thread

    async def _thread_for(
        self, guild: discord.Guild, review: Review, announcement: Announcement, name: str, archive: int
    ) -> discord.Thread | None:
        if announcement.thread_id is not None:
            thread = await self._get_thread(guild, announcement.thread_id)
            if thread is None:
                log.warning("thread %s of review %s is gone", announcement.thread_id, review.id)
                return None
            changes: dict[str, object] = {}
            if thread.name != name:
                changes["name"] = name
            if thread.auto_archive_duration != archive:
                changes["auto_archive_duration"] = archive
            if changes:
                try:
                    thread = await thread.edit(**changes)  # type: ignore[arg-type]
                except discord.HTTPException as exc:
                    log.warning("could not update thread %s: %s", thread.id, exc)
            return thread
        channel = guild.get_channel(announcement.channel_id)
        if not isinstance(channel, discord.TextChannel) or announcement.message_id is None:
            log.warning("announcement of review %s has no thread and no text-channel message", review.id)
            return None
        try:
            thread = await channel.get_partial_message(announcement.message_id).create_thread(
                name=name,
                auto_archive_duration=archive,  # type: ignore[arg-type]
            )
        except discord.HTTPException as exc:
            if exc.code != THREAD_ALREADY_EXISTS:
                log.warning("could not create the thread for review %s: %s", review.id, exc)
                return None
            # A thread started from a message shares the message's id.
            found = await self._get_thread(guild, announcement.message_id)
            if found is None:
                return None
            thread = found
        await self.announcements.set_thread(review.id, guild.id, thread.id)
        return thread

    async def _get_thread(self, guild: discord.Guild, thread_id: int) -> discord.Thread | None:
        thread = guild.get_thread(thread_id)
        if thread is not None:
            return thread
        try:
            channel = await self.bot.fetch_channel(thread_id)
        except discord.HTTPException:
            return None
        return channel if isinstance(channel, discord.Thread) else None

    async def _post_opening(self, thread: discord.Thread, review: Review, guild_id: int, spoiler: bool) -> None:
        prompts = None
        if self.bot.openai is not None:
            prompts = await llm_prompts(
                self.bot.openai, self.bot.settings.openai_model, review, timeout=self._llm_timeout
            )
        opening = build_opening(
            review, prompts or template_prompts(review), spoiler=spoiler, from_model=prompts is not None
        )
        message = await thread.send(opening.content, poll=build_poll(opening.poll), allowed_mentions=NO_MENTIONS)
        await self.threads.set_opening(thread.id, message.id)
        expires = iso(message.poll.expires_at) if message.poll is not None else None
        await self.polls.record_poll(message.id, review.id, guild_id, thread.id, expires)
        self.poll_service.remember(PollInfo(message.id, review.id, guild_id, thread.id, False))

    # -- comments ---------------------------------------------------------------------------

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        if message.guild is None or message.author.bot:
            return
        await self.comment_service.ingest(incoming(message))

    @commands.Cog.listener()
    async def on_raw_message_edit(self, payload: discord.RawMessageUpdateEvent) -> None:
        data = payload.data
        poll = data.get("poll") or {}
        results = poll.get("results") or {}
        if results.get("is_finalized"):
            counts = {int(c["id"]): int(c.get("count", 0)) for c in results.get("answer_counts", [])}
            if await self.poll_service.finalize(payload.message_id, counts):
                return
        if payload.guild_id is None or "content" not in data or not data.get("edited_timestamp"):
            return  # embeds unfurling, pins, flags: not an edit of what the member wrote
        if (data.get("author") or {}).get("bot"):
            return
        await self.comment_service.edited(
            payload.channel_id,
            payload.message_id,
            data.get("content") or "",
            iso(payload.message.edited_at) or data.get("edited_timestamp"),
            [a.url for a in payload.message.attachments],
        )

    @commands.Cog.listener()
    async def on_raw_message_delete(self, payload: discord.RawMessageDeleteEvent) -> None:
        if payload.guild_id is not None:
            await self.comment_service.deleted(payload.channel_id, [payload.message_id])

    @commands.Cog.listener()
    async def on_raw_bulk_message_delete(self, payload: discord.RawBulkMessageDeleteEvent) -> None:
        if payload.guild_id is not None:
            await self.comment_service.deleted(payload.channel_id, sorted(payload.message_ids))

    @commands.Cog.listener()
    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        if payload.guild_id is not None:
            await self.comment_service.reaction(payload.channel_id, payload.message_id, emoji_key(payload.emoji), 1)

    @commands.Cog.listener()
    async def on_raw_reaction_remove(self, payload: discord.RawReactionActionEvent) -> None:
        if payload.guild_id is not None:
            await self.comment_service.reaction(payload.channel_id, payload.message_id, emoji_key(payload.emoji), -1)

    @commands.Cog.listener()
    async def on_raw_reaction_clear(self, payload: discord.RawReactionClearEvent) -> None:
        if payload.guild_id is not None:
            await self.comment_service.reactions_cleared(payload.channel_id, payload.message_id)

    @commands.Cog.listener()
    async def on_raw_reaction_clear_emoji(self, payload: discord.RawReactionClearEmojiEvent) -> None:
        if payload.guild_id is not None:
            await self.comment_service.reactions_cleared(
                payload.channel_id, payload.message_id, emoji_key(payload.emoji)
            )

    # -- poll votes ---------------------------------------------------------------------------

    @commands.Cog.listener()
    async def on_raw_poll_vote_add(self, payload: discord.RawPollVoteActionEvent) -> None:
        if payload.guild_id is not None:
            await self.poll_service.vote(payload.message_id, payload.user_id, payload.answer_id, added=True)

    @commands.Cog.listener()
    async def on_raw_poll_vote_remove(self, payload: discord.RawPollVoteActionEvent) -> None:
        if payload.guild_id is not None:
            await self.poll_service.vote(payload.message_id, payload.user_id, payload.answer_id, added=False)

    # -- backfill -------------------------------------------------------------------------

    @commands.Cog.listener()
    async def on_ready(self) -> None:
        self._start_backfill("ready")

    @commands.Cog.listener()
    async def on_resumed(self) -> None:
        self._start_backfill("resumed")

    @commands.Cog.listener()
    async def on_disconnect(self) -> None:
        """Remember where each thread stood, so live messages after reconnecting can't hide the gap."""
        if self._snapshot is None:
            try:
                self._snapshot = await self.threads.cursors()
            except Exception:
                log.debug("could not snapshot thread cursors on disconnect", exc_info=True)

    def _start_backfill(self, reason: str) -> None:
        if self._backfill_task is not None and not self._backfill_task.done():
            self._backfill_task.cancel()
        self._backfill_task = asyncio.create_task(self.backfill_open_threads(reason), name="matinee-backfill")

    async def backfill_open_threads(self, reason: str = "manual") -> int:
        """Store what was said in every open review thread while we were not listening."""
        snapshot, self._snapshot = self._snapshot, None
        open_threads: dict[int, discord.Thread] = {}
        for thread_id in self.index.thread_ids:
            channel = self.bot.get_channel(thread_id)
            if isinstance(channel, discord.Thread) and not channel.archived:
                open_threads[thread_id] = channel
        stored = 0
        for plan in await plan_backfill(self.threads, open_threads, snapshot):
            stored += await self._backfill_thread(open_threads[plan.thread_id], plan.after_id)
        await self._collect_missed_poll_results()
        if stored:
            log.info("backfill (%s): stored %d messages from %d open threads", reason, stored, len(open_threads))
        return stored

    async def _backfill_thread(self, thread: discord.Thread, after_id: int) -> int:
        stored = 0
        page = []
        try:
            async for message in thread.history(limit=None, after=discord.Object(after_id), oldest_first=True):
                page.append(incoming(message))
                if len(page) >= BACKFILL_PAGE:
                    stored += await self.comment_service.ingest_many(page)
                    page = []
            if page:
                stored += await self.comment_service.ingest_many(page)
        except discord.HTTPException as exc:
            log.warning("could not backfill thread %s: %s", thread.id, exc)
        self.backfilled_messages += stored
        return stored

    async def _collect_missed_poll_results(self) -> None:
        """Polls that ended while we were down: read their final counts once."""
        # Kept small on purpose: only polls of open threads we can see, and only past expiry.
        now = dt.datetime.now(dt.UTC)
        for thread_id in self.index.thread_ids:
            record = await self.threads.get(thread_id)
            if record is None or not record.opening_message_id:
                continue
            info = await self.polls.get_poll(record.opening_message_id)
            if info is None or info.finalized:
                continue
            thread = self.bot.get_channel(thread_id)
            if not isinstance(thread, discord.Thread):
                continue
            try:
                message = await thread.fetch_message(info.message_id)
            except discord.HTTPException:
                continue
            poll = message.poll
            if poll is None or not poll.is_finalised() or (poll.expires_at and poll.expires_at > now):
                continue
            await self.poll_service.finalize(info.message_id, {a.id: a.vote_count for a in poll.answers})

    @commands.Cog.listener()
    async def on_raw_thread_update(self, payload: discord.RawThreadUpdateEvent) -> None:
        """A review thread that was archived and is open again may hold messages we never saw."""
        archived = (payload.data.get("thread_metadata") or {}).get("archived")
        if archived is not False or (payload.thread is not None and not payload.thread.archived):
            return
        if await self.index.thread(payload.thread_id) is None:
            return
        running = self._thread_backfills.get(payload.thread_id)
        if running is not None and not running.done():
            return
        self._thread_backfills[payload.thread_id] = asyncio.create_task(
            self._backfill_unarchived(payload.guild_id, payload.thread_id)
        )

    async def _backfill_unarchived(self, guild_id: int, thread_id: int) -> None:
        guild = self.bot.get_guild(guild_id)
        thread = await self._get_thread(guild, thread_id) if guild is not None else None
        if thread is None:
            return
        after = await self.threads.last_message_id(thread_id) or thread_id
        await self._backfill_thread(thread, after)
        self._thread_backfills.pop(thread_id, None)

    # -- commands: /discussion ---------------------------------------------------------------

    async def review_autocomplete(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice]:
        reviews = await self.reviews.search(current, limit=25)
        return [
            app_commands.Choice(name=truncate(clean_text(r.title) or r.slug, CHOICE_NAME), value=str(r.id))
            for r in reviews
        ]

    async def _review_thread(self, interaction: discord.Interaction) -> ThreadRef:
        ref = await self.index.thread(interaction.channel_id or 0)
        if ref is None:
            raise UserFacingError("Run this inside a review's discussion thread.")
        return ref

    @discussion.command(name="open", description="Open (or re-open) the discussion thread of a stored review here")
    @app_commands.describe(review="The review (search by title)")
    @app_commands.checks.has_permissions(manage_guild=True)
    async def open_command(self, interaction: discord.Interaction, review: str) -> None:
        found = await self.reviews.find(review)
        if found is None:
            raise UserFacingError("I don't have that review. Pick one from the list.")
        assert interaction.guild is not None
        await interaction.response.defer(ephemeral=True, thinking=True)
        thread = await self._open_by_hand(interaction, found)
        await interaction.followup.send(
            f"The discussion of **{truncate(clean_text(found.title), 200)}** is open: {thread.mention}",
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )

    @open_command.autocomplete("review")
    async def _open_autocomplete(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice]:
        return await self.review_autocomplete(interaction, current)

    async def _open_by_hand(self, interaction: discord.Interaction, review: Review) -> discord.Thread:
        guild = interaction.guild
        assert guild is not None
        existing = await self.announcements.get(review.id, guild.id)
        if existing is not None and existing.thread_id is not None:
            thread = await self._get_thread(guild, existing.thread_id)
            if thread is not None:
                if thread.archived or thread.locked:
                    thread = await thread.edit(archived=False, locked=False)
                self.index.add(existing)
                opened = await self.open_discussion(review, existing)
                return opened or thread
        channel = interaction.channel
        spoiler = review.spoilers
        name = thread_name(review, spoilers=spoiler)
        settings = await self.guild_settings.get(guild.id)
        archive = normalise_archive_minutes(settings.auto_archive_minutes)
        if isinstance(channel, discord.ForumChannel):
            created = await channel.create_thread(
                name=name,
                embed=starter_embed(review),
                auto_archive_duration=archive,  # type: ignore[arg-type]
                allowed_mentions=NO_MENTIONS,
            )
            announcement = await self.announcements.record_sent(
                review.id, guild.id, channel.id, created.message.id, thread_id=created.thread.id, spoiler=spoiler
            )
        elif isinstance(channel, discord.TextChannel):
            starter = await channel.send(embed=starter_embed(review), allowed_mentions=NO_MENTIONS)
            announcement = await self.announcements.record_sent(
                review.id, guild.id, channel.id, starter.id, spoiler=spoiler
            )
        else:
            raise UserFacingError("Run this in a text or forum channel, not inside a thread.")
        thread = await self.open_discussion(review, announcement)
        if thread is None:
            raise UserFacingError("I couldn't create the thread here; check my permissions in this channel.")
        return thread

    @discussion.command(name="spoilers", description="Mark this review thread as a spoiler thread, or unmark it")
    @app_commands.describe(state="on: spoilers allowed here; off: keep it spoiler-free")
    @app_commands.check(_can_moderate_threads)
    async def spoilers_command(self, interaction: discord.Interaction, state: Literal["on", "off"]) -> None:
        ref = await self._review_thread(interaction)
        thread = interaction.channel
        assert isinstance(thread, discord.Thread)
        spoiler = state == "on"
        review = await self.reviews.get(ref.review_id)
        if review is None:
            raise UserFacingError("This thread's review is no longer stored.")
        await interaction.response.defer(ephemeral=True, thinking=True)
        await self.announcements.set_spoiler(thread.id, spoiler)
        self.index.set_spoiler(thread.id, spoiler)
        name = thread_name(review, spoilers=spoiler)
        if thread.name != name:
            await thread.edit(name=name)
        record = await self.threads.get(thread.id)
        if record is not None and record.opening_message_id:
            try:
                opening = await thread.fetch_message(record.opening_message_id)
                content = with_spoiler_notice(opening.content, spoiler)
                if content != opening.content:
                    await opening.edit(content=content, allowed_mentions=NO_MENTIONS)
            except discord.HTTPException as exc:
                log.warning("could not update the opening message of thread %s: %s", thread.id, exc)
        await interaction.followup.send(
            "This is now a spoiler thread." if spoiler else "This thread is now spoiler-free.",
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )

    @discussion.command(name="summary", description="What members think of the film in this thread")
    async def summary_command(self, interaction: discord.Interaction) -> None:
        ref = await self._review_thread(interaction)
        review = await self.reviews.get(ref.review_id)
        if review is None:
            raise UserFacingError("This thread's review is no longer stored.")
        await interaction.response.defer(thinking=True)
        announcement = await self.announcements.by_thread(interaction.channel_id or 0)
        spoiler = announcement.spoiler if announcement is not None else ref.spoiler
        comments = await self.comments.for_review(review.id, guild_id=ref.guild_id)
        counts, _ = await self.polls.review_counts(review.id, ref.guild_id)
        result = await summarise(
            self.bot.openai,
            self.bot.settings.openai_model,
            review,
            comments,
            counts,
            spoiler=spoiler,
            timeout=self._llm_timeout,
        )
        await interaction.followup.send(result.text, allowed_mentions=NO_MENTIONS)

    # -- commands: /matinee export, /matinee archive-after -----------------------------------

    @app_commands.describe(
        review="The review (search by title)",
        format="json (for blog templates), md or html",
        with_ids="Include members' user ids (off by default)",
    )
    @app_commands.checks.has_permissions(manage_guild=True)
    async def export_review(
        self,
        interaction: discord.Interaction,
        review: str,
        format: Literal["json", "md", "html"] = "json",
        with_ids: bool = False,
    ) -> None:
        assert format in EXPORT_FORMATS
        await interaction.response.defer(ephemeral=True, thinking=True)
        result = await self.exporter.export(review, format, with_ids=with_ids, guild_id=interaction.guild_id)
        data = result.content.encode("utf-8")
        if len(data) > MAX_UPLOAD_BYTES:
            raise UserFacingError("That export is too big for Discord; use `matinee export` on the server instead.")
        await interaction.followup.send(
            f"{result.comment_count} comments on **{truncate(clean_text(result.review.title), 200)}**.",
            file=discord.File(io.BytesIO(data), filename=result.filename),
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )

    @app_commands.describe(minutes="Archive review threads after this long without messages")
    @app_commands.choices(
        minutes=[
            app_commands.Choice(name=label, value=value)
            for label, value in zip(("1 hour", "1 day", "3 days", "1 week"), ARCHIVE_CHOICES, strict=True)
        ]
    )
    @app_commands.checks.has_permissions(manage_guild=True)
    async def archive_after(self, interaction: discord.Interaction, minutes: int) -> None:
        if minutes not in ARCHIVE_CHOICES:
            raise UserFacingError("Pick one of the offered durations.")
        assert interaction.guild_id is not None
        await self.guild_settings.update(interaction.guild_id, auto_archive_minutes=minutes)
        await interaction.response.send_message(
            f"New review threads will archive after {minutes // 60} hours without messages."
            if minutes < 1440
            else f"New review threads will archive after {minutes // 1440} days without messages.",
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )

    # -- /forget-me -------------------------------------------------------------------------

    @app_commands.command(name="forget-me", description="Erase your stored comments and poll votes in this server")
    @app_commands.guild_only()
    async def forget_me(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        guild_id, user_id = interaction.guild_id, interaction.user.id

        async def confirmed(_: discord.Interaction) -> str:
            result = await forget_member(self.comments, self.polls, user_id, guild_id)
            return (
                f"Done. I erased {result.comments} comments and {result.poll_votes} poll votes of yours "
                "in this server. (New messages in review threads will be stored again.)"
            )

        view = ForgetMeView(user_id, confirmed)
        comments = await self.comments.count_by_author(user_id, guild_id)
        votes = await self.polls.count_user_votes(user_id, guild_id)
        await interaction.response.send_message(
            f"This erases the {comments} comments and {votes} poll votes I've stored from you in this server, "
            "for good. Are you sure?",
            view=view,
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )
