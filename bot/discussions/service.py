"""Comment ingest, edits, deletions, reactions and poll votes.

The cog converts discord.py objects into the plain records below and calls these
services; nothing here imports discord. The ingest path is the hot path (a burst
of thousands of messages): it does one cached lookup (thread → review) and one
awaited batched write per message, nothing more.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from ..models import Announcement, Comment
from ..storage import (
    AnnouncementRepository,
    CommentRepository,
    PollRepository,
    RatingRepository,
    ReviewRepository,
)
from ..storage.comments import DELETED_AUTHOR_NAME
from ..storage.forgotten import ForgetMarks, ForgottenRepository, snowflake_at
from ..storage.polls import PollInfo
from ..text import clean_text

__all__ = [
    "CommentService",
    "DiscussionIndex",
    "IncomingMessage",
    "PollService",
    "ThreadRef",
    "is_deleted_account",
]

log = logging.getLogger(__name__)

NEGATIVE_TTL = 30.0  # seconds a "not a review thread" answer is trusted
_MAX_NEGATIVE = 10_000


@dataclass(frozen=True, slots=True)
class ThreadRef:
    """What a review thread (or an announcement message) belongs to."""

    review_id: int
    guild_id: int
    channel_id: int  # the announcement's channel (text or forum)
    thread_id: int | None
    message_id: int | None
    spoiler: bool = False

    @classmethod
    def from_announcement(cls, a: Announcement) -> ThreadRef:
        return cls(a.review_id, a.guild_id, a.channel_id, a.thread_id, a.message_id, a.spoiler)


@dataclass(frozen=True, slots=True)
class IncomingMessage:
    """A Discord message reduced to what a comment needs (built by the cog)."""

    message_id: int
    guild_id: int | None
    channel_id: int
    author_id: int
    author_name: str
    author_username: str
    content: str
    created_at: str
    edited_at: str | None = None
    reference_message_id: int | None = None
    attachments: tuple[str, ...] = ()
    reactions: Mapping[str, int] = field(default_factory=dict)
    author_is_bot: bool = False
    is_system: bool = False
    in_thread: bool = False


def is_deleted_account(name: str, username: str) -> bool:
    """Discord renames deleted accounts to "Deleted User" / ``deleted_user_<hex>``."""
    return name.strip() == DELETED_AUTHOR_NAME or username.lower().startswith("deleted_user_")


class DiscussionIndex:
    """In-memory map of review threads and announcement messages, so ingest rarely hits SQLite.

    Positive answers are kept until changed (threads do not move between reviews);
    negative answers expire after NEGATIVE_TTL, so a thread recorded by another
    feature after we looked is picked up soon.
    """

    def __init__(self, announcements: AnnouncementRepository) -> None:
        self._announcements = announcements
        self._threads: dict[int, ThreadRef] = {}
        self._messages: dict[int, ThreadRef] = {}
        self._channels: set[int] = set()
        self._negative: dict[int, float] = {}

    async def load(self) -> None:
        for announcement in await self._announcements.with_threads():
            self.add(announcement)

    def add(self, announcement: Announcement | ThreadRef) -> ThreadRef:
        ref = announcement if isinstance(announcement, ThreadRef) else ThreadRef.from_announcement(announcement)
        if ref.thread_id is not None:
            self._threads[ref.thread_id] = ref
            self._negative.pop(ref.thread_id, None)
        if ref.message_id is not None:
            self._messages[ref.message_id] = ref
            self._negative.pop(ref.message_id, None)
        self._channels.add(ref.channel_id)
        return ref

    def set_spoiler(self, thread_id: int, spoiler: bool) -> None:
        ref = self._threads.get(thread_id)
        if ref is not None:
            self.add(ThreadRef(ref.review_id, ref.guild_id, ref.channel_id, ref.thread_id, ref.message_id, spoiler))

    def cached_thread(self, thread_id: int) -> ThreadRef | None:
        return self._threads.get(thread_id)

    @property
    def thread_ids(self) -> list[int]:
        return list(self._threads)

    def might_hold_comments(self, channel_id: int) -> bool:
        """Cheap filter for raw events: a review thread or a channel with announcements."""
        return channel_id in self._threads or channel_id in self._channels

    def _negative_hit(self, key: int) -> bool:
        expires = self._negative.get(key)
        if expires is None:
            return False
        if expires > time.monotonic():
            return True
        del self._negative[key]
        return False

    def _remember_miss(self, key: int) -> None:
        if len(self._negative) >= _MAX_NEGATIVE:
            self._negative.clear()
        self._negative[key] = time.monotonic() + NEGATIVE_TTL

    async def thread(self, thread_id: int) -> ThreadRef | None:
        ref = self._threads.get(thread_id)
        if ref is not None or self._negative_hit(thread_id):
            return ref
        announcement = await self._announcements.by_thread(thread_id)
        if announcement is None:
            self._remember_miss(thread_id)
            return None
        return self.add(announcement)

    async def announcement_message(self, message_id: int) -> ThreadRef | None:
        ref = self._messages.get(message_id)
        if ref is not None or self._negative_hit(message_id):
            return ref
        announcement = await self._announcements.by_message(message_id)
        if announcement is None or announcement.state != "sent":
            self._remember_miss(message_id)
            return None
        return self.add(announcement)


class CommentService:
    """Turns member messages and raw edit/delete/reaction events into comment rows.

    A message its author wrote before asking to be forgotten is never stored
    again: the storage refuses it in the write itself (live messages cost nothing
    more), and re-reads (backfill, the re-check) leave it out before writing, so
    their counts are right and a since-deleted account is still recognised.
    """

    def __init__(self, index: DiscussionIndex, comments: CommentRepository, forgotten: ForgottenRepository) -> None:
        self.index = index
        self._comments = comments
        self._forgotten = forgotten

    async def resolve(self, msg: IncomingMessage) -> ThreadRef | None:
        """The review this message comments on, or None if it is not a comment."""
        if msg.author_is_bot or msg.is_system or msg.guild_id is None:
            return None
        if msg.in_thread or self.index.cached_thread(msg.channel_id) is not None:
            ref = await self.index.thread(msg.channel_id)
            if ref is not None:
                return ref
        if msg.reference_message_id is not None:
            ref = await self.index.announcement_message(msg.reference_message_id)
            if ref is not None and ref.channel_id == msg.channel_id:
                return ref
        return None

    def to_comment(self, msg: IncomingMessage, ref: ThreadRef) -> Comment:
        deleted = is_deleted_account(msg.author_name, msg.author_username)
        reply_to = msg.reference_message_id
        if reply_to is not None and reply_to == ref.message_id:
            reply_to = None  # a reply to the announcement is a top-level comment
        return Comment(
            message_id=msg.message_id,
            review_id=ref.review_id,
            guild_id=ref.guild_id,
            thread_id=ref.thread_id if ref.thread_id is not None else msg.channel_id,
            author_id=0 if deleted else msg.author_id,
            author_name=DELETED_AUTHOR_NAME if deleted else clean_text(msg.author_name)[:100] or "member",
            content=clean_text(msg.content),
            created_at=msg.created_at,
            edited_at=msg.edited_at,
            reply_to_id=reply_to,
            attachments=tuple(msg.attachments),
            reactions=dict(msg.reactions),
        )

    async def ingest(self, msg: IncomingMessage) -> bool:
        """Store the message if it is a comment; True when stored (durably)."""
        ref = await self.resolve(msg)
        if ref is None:
            return False
        # A message that has just been posted has no reactions of its own; any that
        # discord.py's cached Message already shows arrived as reaction events, which
        # are counted when they are handled. Taking them here too would count them twice.
        # (Checked first: almost no new message has any, and replace() costs ~3% of ingest.)
        comment = self.to_comment(msg, ref)
        if comment.reactions:
            comment = dataclasses.replace(comment, reactions={})
        await self._comments.store(comment)
        if comment.author_id == 0 and msg.author_id:
            await self._comments.anonymise_author(msg.author_id)
        return True

    async def ingest_many(self, messages: Sequence[IncomingMessage]) -> int:
        """Store a page of re-read messages (backfill, re-check) through one batch; returns how many were stored.

        Messages of members forgotten before they were written are left out.
        """
        comments: list[Comment] = []
        anonymise: set[int] = set()
        marks: dict[int, ForgetMarks] = {}
        for msg in messages:
            ref = await self.resolve(msg)
            if ref is None:
                continue
            if ref.guild_id not in marks:
                marks[ref.guild_id] = await self._forgotten.marks(ref.guild_id)
            if marks[ref.guild_id].predates(msg.author_id, msg.message_id):
                continue
            comment = self.to_comment(msg, ref)
            comments.append(comment)
            if comment.author_id == 0 and msg.author_id:
                anonymise.add(msg.author_id)
        if comments:
            await self._comments.store_many(comments)
        for author_id in anonymise:
            await self._comments.anonymise_author(author_id)
        return len(comments)

    async def reconcile(
        self, thread_id: int, seen: Sequence[IncomingMessage], *, oldest_id: int, newest_id: int
    ) -> tuple[int, int]:
        """Catch up with edits, deletions and reactions made while no events reached us.

        ``seen`` is the thread's history between ``oldest_id`` and ``newest_id``
        (inclusive) as Discord has it now. A stored comment in that range that is
        missing from it was deleted; one whose content, edit time, attachments or
        reactions differ was changed. Returns (deleted, refreshed) counts. Only
        live rows are touched, so erased comments stay erased; and a row a live
        event changed since it was read here keeps what the event wrote
        (``CommentRepository.refresh_many``).
        """
        now = {msg.message_id: msg for msg in seen}
        stored = await self._comments.for_thread_between(thread_id, oldest_id, newest_id)
        gone = [c.message_id for c in stored if c.message_id not in now]
        changed: list[tuple[Comment, Comment]] = []
        for comment in stored:
            msg = now.get(comment.message_id)
            if msg is None:
                continue
            fresh = self.to_comment(msg, ThreadRef(comment.review_id, comment.guild_id, 0, thread_id, None))
            if (fresh.content, fresh.edited_at, fresh.attachments, dict(fresh.reactions)) != (
                comment.content,
                comment.edited_at,
                comment.attachments,
                dict(comment.reactions),
            ):
                changed.append((comment, fresh))
        if gone:
            await self._comments.mark_deleted(gone)
        if changed:
            await self._comments.refresh_many(changed)
        return len(gone), len(changed)

    async def store_unseen(self, seen: Sequence[IncomingMessage]) -> int:
        """Store the messages of a re-read that were never stored (a gap no backfill could read); how many.

        Rows that exist, live or deleted, are left to :meth:`reconcile`; forgotten
        members' earlier messages stay out (see :meth:`ingest_many`).
        """
        known = await self._comments.known_ids(m.message_id for m in seen)
        unseen = sorted((m for m in seen if m.message_id not in known), key=lambda m: m.message_id)
        return await self.ingest_many(unseen) if unseen else 0

    async def edited(
        self, channel_id: int, message_id: int, content: str, edited_at: str | None, attachments: Sequence[str]
    ) -> bool:
        if not self.index.might_hold_comments(channel_id) and await self.index.thread(channel_id) is None:
            return False
        await self._comments.edit(message_id, clean_text(content), edited_at, attachments)
        return True

    async def deleted(self, channel_id: int, message_ids: Iterable[int]) -> bool:
        if not self.index.might_hold_comments(channel_id) and await self.index.thread(channel_id) is None:
            return False
        await self._comments.mark_deleted(list(message_ids))
        return True

    async def reaction(self, channel_id: int, message_id: int, emoji: str, delta: int) -> bool:
        if not self.index.might_hold_comments(channel_id):
            return False
        await self._comments.adjust_reaction(message_id, emoji, delta)
        return True

    async def reactions_cleared(self, channel_id: int, message_id: int, emoji: str | None = None) -> bool:
        if not self.index.might_hold_comments(channel_id):
            return False
        await self._comments.clear_reactions(message_id, emoji)
        return True


class PollService:
    """Records star-poll votes and mirrors them into members' film ratings.

    Votes of one poll are handled one at a time (a lock per poll message): an
    add followed quickly by a remove must not be applied in the wrong order,
    since the rating is recomputed from the stored votes after each change.

    A forgotten member's votes: a live vote event received after the forget is
    stored; a vote only seen in Discord's voter list (reconcile) is dated by the
    poll's creation, so in a poll that existed when the member forgot it does not
    come back (bot/storage/forgotten.py has the rule and its edge).
    """

    def __init__(
        self,
        polls: PollRepository,
        reviews: ReviewRepository,
        ratings: RatingRepository,
        forgotten: ForgottenRepository,
    ) -> None:
        self._polls = polls
        self._reviews = reviews
        self._ratings = ratings
        self._forgotten = forgotten
        self._locks: dict[int, asyncio.Lock] = {}
        self._known: dict[int, PollInfo | None] = {}

    async def _poll(self, message_id: int) -> PollInfo | None:
        if message_id in self._known:
            return self._known[message_id]
        info = await self._polls.get_poll(message_id)
        if info is not None:
            self._known[message_id] = info
        return info

    def remember(self, info: PollInfo) -> None:
        self._known[info.message_id] = info

    def is_known(self, message_id: int) -> bool:
        return self._known.get(message_id) is not None

    async def vote(
        self, message_id: int, user_id: int, answer_id: int, *, added: bool, seen_at: int | None = None
    ) -> bool:
        """Apply one vote event; returns False for polls that are not Matinee's rating polls.

        ``seen_at`` (a snowflake) is when the vote is known to exist: by default now,
        when the live event is handled (taken before waiting for the poll's lock).
        """
        seen = seen_at or snowflake_at()
        lock = self._locks.setdefault(message_id, asyncio.Lock())
        async with lock:
            info = await self._poll(message_id)
            if info is None or not 1 <= answer_id <= 5:
                return False
            if added:
                # Our polls are single-choice: a new vote replaces any other answer.
                for other in await self._polls.user_answers(message_id, user_id):
                    if other != answer_id:
                        await self._polls.remove_vote(message_id, user_id, other)
                await self._polls.add_vote(message_id, info.review_id, info.guild_id, user_id, answer_id, seen_at=seen)
            else:
                await self._polls.remove_vote(message_id, user_id, answer_id)
            await self._mirror_rating(info, user_id)
        return True

    async def _mirror_rating(self, info: PollInfo, user_id: int) -> None:
        review = await self._reviews.get(info.review_id)
        if review is None or review.film_id is None:
            return
        # Derived from the stored vote in the same write: a vote refused or erased leaves no rating.
        await self._ratings.mirror_poll_vote(info.guild_id, user_id, review.film_id, info.message_id)

    async def reconcile(self, message_id: int, current: Mapping[int, int]) -> int:
        """Bring stored votes in line with Discord's (user → answer), e.g. votes cast while we were down.

        Goes through :meth:`vote`, so ratings follow. A voter forgotten in this
        server since the poll was posted is not added back: Discord still lists the
        vote they cast before forgetting. Returns how many changes were applied.
        """
        info = await self._poll(message_id)
        if info is None:
            return 0
        marks = await self._forgotten.marks(info.guild_id)
        stored = await self._polls.votes(message_id)
        changes = 0
        for user_id, answers in stored.items():
            for answer_id in answers:
                if current.get(user_id) != answer_id:
                    changes += await self.vote(message_id, user_id, answer_id, added=False)
        for user_id, answer_id in current.items():
            if answer_id in stored.get(user_id, set()) or marks.predates(user_id, message_id):
                continue
            # Only seen in the voter list: the vote is known to exist since the poll was posted.
            changes += await self.vote(message_id, user_id, answer_id, added=True, seen_at=message_id)
        return changes

    async def finalize(self, message_id: int, counts: Mapping[int, int]) -> bool:
        """Record Discord's final counts when the poll has ended."""
        info = await self._poll(message_id)
        if info is None:
            return False
        await self._polls.record_results(message_id, counts)
        self._known[message_id] = PollInfo(info.message_id, info.review_id, info.guild_id, info.thread_id, True)
        return True
