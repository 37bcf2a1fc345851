"""The announcement outbox: intents written before sending, confirmed after.

A pending ``announcements`` row is a promise to post a review in a guild. It is
written in the same transaction that records the review (so a crash can never
record a review while losing its announcement), ``attempts`` is bumped before
each send (so after a crash we know a send may have reached Discord and must be
reconciled first), and ``state = 'sent'`` + ``message_id`` are stored once
Discord confirmed the post.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..models import Announcement, Review
from ..timestamps import utc_iso
from .database import Database
from .reviews import _ANNOUNCEMENT_COLUMNS, ReviewRepository, insert_review

__all__ = ["OutboxRepository", "PendingAnnouncement", "Target", "new_nonce"]


# An intent: "announce this review in this guild". OR IGNORE keeps an existing one (and its nonce).
_ADD_INTENT = (
    "INSERT OR IGNORE INTO announcements (review_id, guild_id, channel_id, nonce, spoiler) VALUES (?, ?, ?, ?, ?)"
)


def new_nonce() -> str:
    """A random message nonce; Discord accepts at most 25 characters."""
    return secrets.token_hex(12)


@dataclass(frozen=True, slots=True)
class Target:
    """Where one guild receives a review."""

    guild_id: int
    channel_id: int


@dataclass(frozen=True, slots=True)
class PendingAnnouncement:
    announcement: Announcement
    attempts: int
    created_at: str
    retrying: bool = False  # an open delivery problem is being retried (see bot.problems)


class OutboxRepository:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._reviews = ReviewRepository(db)

    @property
    def database(self) -> Database:
        return self._db

    async def record_review(self, fields: Mapping[str, Any], targets: Iterable[Target]) -> Review:
        """Insert a new review and its announcement intents atomically.

        Either both exist afterwards or neither does, which is what makes the
        entry's "seen" mark and its delivery promise one fact.
        """
        spoiler = int(bool(fields.get("spoilers", False)))
        async with self._db.transaction() as conn:
            review_id = await insert_review(conn, fields)
            for target in targets:
                await conn.execute(_ADD_INTENT, (review_id, target.guild_id, target.channel_id, new_nonce(), spoiler))
        review = await self._reviews.get(review_id)
        assert review is not None
        return review

    async def add_intents(self, review: Review, targets: Iterable[Target]) -> int:
        """Promise to announce an existing review in more guilds (backfill); existing ones are kept."""
        added = 0
        async with self._db.transaction() as conn:
            for target in targets:
                cursor = await conn.execute(
                    _ADD_INTENT,
                    (review.id, target.guild_id, target.channel_id, new_nonce(), int(review.spoilers)),
                )
                added += cursor.rowcount
                await cursor.close()
        return added

    async def link_entry(
        self, source: str, source_key: str, review: Review, content_hash: str, targets: Iterable[Target]
    ) -> int:
        """Record that ``source`` lists ``review`` under ``source_key``, and promise it to ``targets``, atomically.

        The same post read from another feed (or re-keyed in its own) is the same review:
        a server that already has an announcement of it keeps that one (one per server).
        Returns how many new intents were written.
        """
        added = 0
        async with self._db.transaction() as conn:
            await conn.execute(
                "INSERT INTO review_keys (source, source_key, review_id, content_hash) VALUES (?, ?, ?, ?)",
                (source, source_key, review.id, content_hash),
            )
            for target in targets:
                cursor = await conn.execute(
                    _ADD_INTENT, (review.id, target.guild_id, target.channel_id, new_nonce(), int(review.spoilers))
                )
                added += cursor.rowcount
                await cursor.close()
        return added

    async def pending(self, now: dt.datetime | None = None) -> list[PendingAnnouncement]:
        """Every unconfirmed intent that may be attempted now, oldest review first (the order they must appear in).

        An intent whose delivery problem waits for its next retry (or for staff) is left out until then,
        and so is one of a withdrawn review (until its file comes back).
        """
        rows = await self._db.fetchall(
            f"SELECT {', '.join('a.' + c.strip() for c in _ANNOUNCEMENT_COLUMNS.split(','))}, "  # noqa: S608
            "a.attempts, a.created_at, p.id AS problem_id FROM announcements a JOIN reviews r ON r.id = a.review_id "
            "LEFT JOIN delivery_problems p ON p.guild_id = a.guild_id AND p.review_id = a.review_id "
            "AND p.kind = 'announcement' AND p.resolved_at IS NULL "
            "WHERE a.state = 'pending' AND r.withdrawn_at IS NULL AND (p.id IS NULL OR p.next_retry_at <= ?) "
            "ORDER BY coalesce(r.published_at, r.created_at), r.id",
            (utc_iso(now or dt.datetime.now(dt.UTC)),),
        )
        return [
            PendingAnnouncement(Announcement.from_row(r), r["attempts"], r["created_at"], r["problem_id"] is not None)
            for r in rows
        ]

    async def retarget(self, guild_id: int, from_channel: int, to_channel: int) -> int:
        """Send a guild's unsent announcements for a deleted channel to another one instead.

        Nothing can have been posted in a channel that no longer exists, so the
        intents start over (no reconciliation in the old channel).
        """
        return await self._db.execute(
            "UPDATE announcements SET channel_id = ?, attempts = 0 WHERE guild_id = ? AND channel_id = ? "
            "AND state = 'pending'",
            (to_channel, guild_id, from_channel),
        )

    async def begin_attempt(self, review_id: int, guild_id: int) -> None:
        """Durably note that a send is about to happen (so a crash after it is reconciled)."""
        await self._db.execute(
            "UPDATE announcements SET attempts = attempts + 1 WHERE review_id = ? AND guild_id = ?",
            (review_id, guild_id),
        )

    async def mark_sent(
        self, review_id: int, guild_id: int, *, channel_id: int, message_id: int, thread_id: int | None
    ) -> Announcement:
        await self._db.execute(
            "UPDATE announcements SET state = 'sent', channel_id = ?, message_id = ?, "
            "thread_id = coalesce(?, thread_id), last_error = NULL, "
            "sent_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE review_id = ? AND guild_id = ?",
            (channel_id, message_id, thread_id, review_id, guild_id),
        )
        row = await self._db.fetchone(
            f"SELECT {_ANNOUNCEMENT_COLUMNS} FROM announcements WHERE review_id = ? AND guild_id = ?",  # noqa: S608
            (review_id, guild_id),
        )
        assert row is not None
        return Announcement.from_row(row)

    async def record_error(self, review_id: int, guild_id: int, error: str) -> None:
        await self._db.execute(
            "UPDATE announcements SET last_error = ? WHERE review_id = ? AND guild_id = ?",
            (error[:500], review_id, guild_id),
        )

    async def drop(self, review_id: int, guild_id: int) -> None:
        """Abandon an intent that can never be delivered (channel gone, access revoked)."""
        await self._db.execute(
            "DELETE FROM announcements WHERE review_id = ? AND guild_id = ? AND state = 'pending'",
            (review_id, guild_id),
        )

    async def sent_for_review(self, review_id: int) -> list[Announcement]:
        rows = await self._db.fetchall(
            f"SELECT {_ANNOUNCEMENT_COLUMNS} FROM announcements "  # noqa: S608
            "WHERE review_id = ? AND state = 'sent' AND message_id IS NOT NULL ORDER BY guild_id",
            (review_id,),
        )
        return [Announcement.from_row(r) for r in rows]

    async def counts(self, review_id: int) -> dict[str, int]:
        rows = await self._db.fetchall(
            "SELECT state, count(*) FROM announcements WHERE review_id = ? GROUP BY state", (review_id,)
        )
        return {r[0]: r[1] for r in rows}
