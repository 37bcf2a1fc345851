"""Discussions cog: a thin adapter between Discord's gateway events and ``bot.discussions``.

Announcements open threads; messages, raw edits/deletes/reactions and poll votes
become calls on the comment and poll services; ready/resumed/disconnect and thread
updates drive the backfill. Slash commands are in ``commands.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging

import discord
from discord.ext import commands

from bot.bot import MatineeBot
from bot.discussions.export import DiscussionExporter
from bot.discussions.prompts import build_opening, llm_prompts, template_prompts
from bot.discussions.service import CommentService, DiscussionIndex, PollService, ThreadRef, plan_backfill
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
from bot.storage.conversations import ConversationRepository
from bot.threads import review_thread_name

from .render import (
    build_poll,
    emoji_key,
    incoming,
    iso,
    normalise_archive_minutes,
    with_spoiler_notice,
)

__all__ = ["Discussions"]

log = logging.getLogger(__name__)

NO_MENTIONS = discord.AllowedMentions.none()
THREAD_ALREADY_EXISTS = 160004
BACKFILL_PAGE = 100
# After a fresh session (not a RESUME, which replays missed events), the newest this
# many messages of each open thread are re-read to catch edits, deletions and
# reactions made while we were away. Older comments are not re-checked: the cost of
# a start-up must stay bounded however long the discussions are.
RECONCILE_WINDOW = 100


class Discussions(commands.Cog):
    """Review threads and their comments and polls: everything driven by gateway events.

    The slash commands live in :class:`~cogs.discussions.commands.DiscussionCommands`,
    which borrows this cog's repositories and services.
    """

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
        self.conversations = ConversationRepository(db)
        self.index = DiscussionIndex(self.announcements)
        self.comment_service = CommentService(self.index, self.comments)
        self.poll_service = PollService(self.polls, self.reviews, self.ratings)
        self.exporter = DiscussionExporter(self.reviews, self.comments, self.polls, self.ratings)
        self._open_locks: dict[tuple[int, int], asyncio.Lock] = {}
        self._backfill_task: asyncio.Task[None] | None = None
        self._thread_backfills: dict[int, asyncio.Task[None]] = {}
        self._snapshot: dict[int, int] | None = None
        self.backfilled_messages = 0  # observable in tests and /matinee about-like diagnostics

    # -- lifecycle ------------------------------------------------------------------

    async def cog_load(self) -> None:
        await self.index.load()
        # Cursors as they stood before we connect: live messages arriving right after READY
        # must not move the first backfill's starting point past what was said while we were down.
        self._snapshot = await self.threads.cursors()

    async def cog_unload(self) -> None:
        tasks = [t for t in [self._backfill_task, *self._thread_backfills.values()] if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

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
            known = await self.threads.get(announcement.thread_id) if announcement.thread_id else None
            opened_before = known is not None and known.opening_message_id is not None
            # Once a thread is open, staff decide about spoilers (/discussion spoilers); a re-open keeps it.
            spoiler = announcement.spoiler if opened_before else (announcement.spoiler or review.spoilers)
            name = review_thread_name(review, spoilers=spoiler)
            thread = await self._thread_for(guild, review, announcement, name, archive, adjust=not opened_before)
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
            if announcement.thread_id is not None:
                # A forum post existed before we knew it was a review thread: catch its first replies.
                self._schedule_backfill(guild.id, thread.id)
            return thread

    async def _thread_for(
        self,
        guild: discord.Guild,
        review: Review,
        announcement: Announcement,
        name: str,
        archive: int,
        *,
        adjust: bool = True,
    ) -> discord.Thread | None:
        """The review's thread: created from the announcement in a text channel, else the existing one.

        An existing thread (a forum post made by the announcer) gets our name and
        auto-archive setting when ``adjust`` is set, i.e. the first time we open it.
        """
        if announcement.thread_id is not None:
            thread = await self.get_thread(guild, announcement.thread_id)
            if thread is None:
                log.warning("thread %s of review %s is gone", announcement.thread_id, review.id)
                return None
            if not adjust:
                return thread
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
            found = await self.get_thread(guild, announcement.message_id)
            if found is None:
                return None
            thread = found
        await self.announcements.set_thread(review.id, guild.id, thread.id)
        return thread

    async def get_thread(self, guild: discord.Guild, thread_id: int) -> discord.Thread | None:
        thread = guild.get_thread(thread_id)
        if thread is not None:
            return thread
        try:
            channel = await self.bot.fetch_channel(thread_id)
        except discord.HTTPException:
            return None
        return channel if isinstance(channel, discord.Thread) else None

    async def _post_opening(self, thread: discord.Thread, review: Review, guild_id: int, spoiler: bool) -> None:
        prompts = await llm_prompts(self.bot.llm, review)
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
        if reason == "ready":  # a RESUME replays missed events, votes included; a new session does not
            for thread in open_threads.values():
                await self._reconcile_recent_comments(thread)
                await self._reconcile_poll_votes(thread)
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

    async def _reconcile_recent_comments(self, thread: discord.Thread) -> None:
        """Edits, deletions and reactions of stored comments made while no events reached us."""
        newest = await self.threads.last_message_id(thread.id)
        if not newest:
            return
        try:
            history = [
                m async for m in thread.history(limit=RECONCILE_WINDOW, before=discord.Object(newest + 1))
            ]
        except discord.HTTPException as exc:
            log.info("could not re-read thread %s: %s", thread.id, exc)
            return
        # A short page is the whole thread: anything stored and not in it was deleted.
        oldest = min((m.id for m in history), default=newest) if len(history) >= RECONCILE_WINDOW else 0
        deleted, refreshed = await self.comment_service.reconcile(
            thread.id, [incoming(m) for m in history], oldest_id=oldest, newest_id=newest
        )
        if deleted or refreshed:
            log.info("thread %s: %d comments deleted and %d changed while we were away", thread.id, deleted, refreshed)

    async def _reconcile_poll_votes(self, thread: discord.Thread) -> None:
        """Votes cast or retracted while we were down: read the open poll's voters and catch up."""
        record = await self.threads.get(thread.id)
        if record is None or not record.opening_message_id:
            return
        info = await self.polls.get_poll(record.opening_message_id)
        if info is None or info.finalized:
            return
        try:
            message = await thread.fetch_message(info.message_id)
            if message.poll is None or message.poll.is_finalised():
                return
            current: dict[int, int] = {}
            for answer in message.poll.answers:
                async for voter in answer.voters(limit=None):
                    current[voter.id] = answer.id
        except discord.HTTPException as exc:
            log.info("could not read the voters of poll %s: %s", info.message_id, exc)
            return
        changes = await self.poll_service.reconcile(info.message_id, current)
        if changes:
            log.info("poll %s: caught up with %d vote changes made while disconnected", info.message_id, changes)

    async def _collect_missed_poll_results(self) -> None:
        """Polls that ended while we were down: read their final counts once."""
        for info in await self.polls.expired_open_polls(iso(dt.datetime.now(dt.UTC)) or ""):
            try:
                message = await self.bot.get_partial_messageable(info.thread_id).fetch_message(info.message_id)
            except discord.HTTPException as exc:
                log.info("could not read the ended poll %s: %s", info.message_id, exc)
                continue
            poll = message.poll
            if poll is not None and poll.is_finalised():
                await self.poll_service.finalize(info.message_id, {a.id: a.vote_count for a in poll.answers})

    @commands.Cog.listener()
    async def on_raw_thread_update(self, payload: discord.RawThreadUpdateEvent) -> None:
        """A review thread that was archived and is open again may hold messages we never saw."""
        archived = (payload.data.get("thread_metadata") or {}).get("archived")
        if archived is not False or (payload.thread is not None and not payload.thread.archived):
            return
        if await self.index.thread(payload.thread_id) is None:
            return
        self._schedule_backfill(payload.guild_id, payload.thread_id)

    def _schedule_backfill(self, guild_id: int, thread_id: int) -> None:
        running = self._thread_backfills.get(thread_id)
        if running is not None and not running.done():
            return
        self._thread_backfills[thread_id] = asyncio.create_task(self._backfill_one(guild_id, thread_id))

    async def _backfill_one(self, guild_id: int, thread_id: int) -> None:
        try:
            guild = self.bot.get_guild(guild_id)
            thread = await self.get_thread(guild, thread_id) if guild is not None else None
            if thread is not None:
                after = await self.threads.last_message_id(thread_id) or thread_id
                await self._backfill_thread(thread, after)
        except Exception:
            log.exception("backfill of thread %s failed", thread_id)
        finally:
            self._thread_backfills.pop(thread_id, None)

    async def apply_spoiler(self, thread: discord.Thread, review: Review, spoiler: bool) -> None:
        """Mark or unmark a spoiler thread: stored flag, thread name and the opening message's notice."""
        await self.announcements.set_spoiler(thread.id, spoiler)
        self.index.set_spoiler(thread.id, spoiler)
        name = review_thread_name(review, spoilers=spoiler)
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

    @commands.Cog.listener()
    async def on_review_updated(self, review: Review) -> None:
        """A review's front matter now says "spoilers": its threads become spoiler threads."""
        if not review.spoilers:
            return  # turning spoilers off stays a staff decision (/discussion spoilers off)
        for announcement in await self.announcements.for_review(review.id):
            if announcement.thread_id is None or announcement.spoiler:
                continue
            guild = self.bot.get_guild(announcement.guild_id)
            thread = await self.get_thread(guild, announcement.thread_id) if guild is not None else None
            if thread is None:
                continue
            try:
                await self.apply_spoiler(thread, review, True)
            except discord.HTTPException as exc:
                log.warning("could not mark thread %s as a spoiler thread: %s", thread.id, exc)
