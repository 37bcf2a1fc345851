"""Feeds, guild subscriptions to them, and the per-feed views of stored reviews.

A feed row is shared by every guild that reads it (one fetch per poll, however
many subscribers), and there is one row per address once normalised
(:func:`feed_url_key`): the same feed added again with ``?utm_source=…`` or
``www.`` is the same feed. The entries it listed are ``review_keys`` rows whose
source is ``feed:<id>`` (see :mod:`.entries`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from ..models import Review
from ..timestamps import utc_iso
from ..urls import normalize_post_url
from .database import Database
from .entries import EntryRepository

__all__ = ["Feed", "FeedRepository", "Subscription", "feed_source", "feed_url_key"]

# A feed nobody reads (not builtin, no subscription) forgets its baseline: whoever subscribes next
# gets a fresh first read, in which everything the feed lists is history, not news.
_RESET_UNREAD = (
    "UPDATE feeds SET initialized = 0, etag = NULL, last_modified = NULL WHERE builtin = 0 AND initialized = 1 "
    "AND NOT EXISTS (SELECT 1 FROM feed_subscriptions s WHERE s.feed_id = feeds.id)"
)

_FEED_COLUMNS = (
    "id, url, builtin, title, etag, last_modified, initialized, last_fetch_at, last_success_at, last_error, "
    "failure_count, first_failure_at, next_poll_at, disabled_at"
)


def feed_source(feed_id: int) -> str:
    """The ``reviews.source`` value of a feed's entries."""
    return f"feed:{feed_id}"


def feed_url_key(url: str) -> str:
    """What makes two feed addresses one feed: the same rules as a post's address (bot/urls.py)."""
    return normalize_post_url(url) or url


@dataclass(frozen=True, slots=True)
class Feed:
    id: int
    url: str
    builtin: bool = False
    title: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    initialized: bool = False
    last_fetch_at: str | None = None
    last_success_at: str | None = None
    last_error: str | None = None
    failure_count: int = 0
    first_failure_at: str | None = None
    next_poll_at: str | None = None
    disabled_at: str | None = None

    @property
    def source(self) -> str:
        return feed_source(self.id)

    @property
    def disabled(self) -> bool:
        return self.disabled_at is not None

    @property
    def label(self) -> str:
        return self.title or self.url

    @classmethod
    def from_row(cls, row) -> Feed:
        data = dict(row)
        data["builtin"] = bool(data["builtin"])
        data["initialized"] = bool(data["initialized"])
        return cls(**data)


@dataclass(frozen=True, slots=True)
class Subscription:
    guild_id: int
    feed_id: int
    channel_id: int | None = None
    backfill: int = 0
    category: str | None = None  # only entries in this category (or tag) are reviews; None: every entry


class FeedRepository:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._entries = EntryRepository(db)

    # -- feeds --------------------------------------------------------------------------

    async def get(self, feed_id: int) -> Feed | None:
        row = await self._db.fetchone(f"SELECT {_FEED_COLUMNS} FROM feeds WHERE id = ?", (feed_id,))  # noqa: S608
        return Feed.from_row(row) if row else None

    async def get_by_url(self, url: str) -> Feed | None:
        """The feed at this address, however it is spelled (tracking parameters, ``www.``, scheme, slash)."""
        row = await self._db.fetchone(
            f"SELECT {_FEED_COLUMNS} FROM feeds WHERE url_key = ?", (feed_url_key(url),)  # noqa: S608
        )
        return Feed.from_row(row) if row else None

    async def _ensure_in(self, conn, url: str, builtin: bool) -> None:
        """Inside a transaction: the feed row for ``url``'s key, created with ``url`` if new."""
        key = feed_url_key(url)
        cursor = await conn.execute("SELECT id FROM feeds WHERE url_key = ?", (key,))
        row = await cursor.fetchone()
        await cursor.close()
        if row is not None:
            if builtin:
                await conn.execute("UPDATE feeds SET builtin = 1 WHERE id = ?", (row[0],))
            return
        await conn.execute("INSERT INTO feeds (url, url_key, builtin) VALUES (?, ?, ?)", (url, key, int(builtin)))

    async def ensure(self, url: str, *, builtin: bool = False) -> Feed:
        """The feed with this address, created if new; ``builtin`` is only ever switched on here."""
        async with self._db.transaction() as conn:
            await self._ensure_in(conn, url, builtin)
        feed = await self.get_by_url(url)
        assert feed is not None
        return feed

    async def set_builtin_urls(self, urls: list[str]) -> list[Feed]:
        """Make exactly ``urls`` the builtin feeds (REVIEW_FEEDS may change between runs)."""
        async with self._db.transaction() as conn:
            await conn.execute("UPDATE feeds SET builtin = 0 WHERE builtin = 1")
            for url in urls:
                await self._ensure_in(conn, url, True)
            await conn.execute(_RESET_UNREAD)
        return [f for f in await self.all() if f.builtin]

    async def all(self) -> list[Feed]:
        rows = await self._db.fetchall(f"SELECT {_FEED_COLUMNS} FROM feeds ORDER BY id")  # noqa: S608
        return [Feed.from_row(r) for r in rows]

    async def active(self) -> list[Feed]:
        """Feeds someone still reads (builtin or subscribed) and that are not disabled."""
        rows = await self._db.fetchall(
            f"SELECT {_FEED_COLUMNS} FROM feeds WHERE disabled_at IS NULL AND "  # noqa: S608
            "(builtin = 1 OR EXISTS (SELECT 1 FROM feed_subscriptions s WHERE s.feed_id = feeds.id)) ORDER BY id"
        )
        return [Feed.from_row(r) for r in rows]

    async def due(self, now: dt.datetime) -> list[Feed]:
        return [f for f in await self.active() if f.next_poll_at is None or f.next_poll_at <= utc_iso(now)]

    async def record_success(
        self,
        feed_id: int,
        *,
        now: dt.datetime,
        next_poll: dt.datetime,
        etag: str | None,
        last_modified: str | None,
        title: str | None = None,
    ) -> None:
        await self._db.execute(
            "UPDATE feeds SET last_fetch_at = ?, last_success_at = ?, next_poll_at = ?, etag = ?, "
            "last_modified = ?, title = coalesce(?, title), last_error = NULL, failure_count = 0, "
            "first_failure_at = NULL WHERE id = ?",
            (utc_iso(now), utc_iso(now), utc_iso(next_poll), etag, last_modified, title, feed_id),
        )

    async def mark_initialized(self, feed_id: int) -> None:
        await self._db.execute("UPDATE feeds SET initialized = 1 WHERE id = ?", (feed_id,))

    async def record_failure(self, feed_id: int, *, now: dt.datetime, error: str, next_poll: dt.datetime) -> Feed:
        await self._db.execute(
            "UPDATE feeds SET last_fetch_at = ?, last_error = ?, failure_count = failure_count + 1, "
            "first_failure_at = coalesce(first_failure_at, ?), next_poll_at = ? WHERE id = ?",
            (utc_iso(now), error, utc_iso(now), utc_iso(next_poll), feed_id),
        )
        feed = await self.get(feed_id)
        assert feed is not None
        return feed

    async def disable(self, feed_id: int, *, now: dt.datetime) -> None:
        await self._db.execute("UPDATE feeds SET disabled_at = ? WHERE id = ?", (utc_iso(now), feed_id))

    async def enable(self, feed_id: int) -> None:
        """Re-enable a disabled feed (an admin added it again): fresh failure count, poll now."""
        await self._db.execute(
            "UPDATE feeds SET disabled_at = NULL, failure_count = 0, first_failure_at = NULL, next_poll_at = NULL "
            "WHERE id = ?",
            (feed_id,),
        )

    async def poll_soon(self, feed_id: int) -> None:
        await self._db.execute("UPDATE feeds SET next_poll_at = NULL WHERE id = ?", (feed_id,))

    # -- subscriptions ----------------------------------------------------------------------

    async def subscribe(
        self,
        guild_id: int,
        feed_id: int,
        *,
        channel_id: int | None,
        backfill: int = 0,
        created_by: int | None = None,
        category: str | None = None,
    ) -> tuple[Subscription, bool]:
        """Subscribe a guild, or set the channel and category of its subscription; returns it and whether it is new."""
        existed = await self.subscription(guild_id, feed_id) is not None
        await self._db.execute(
            "INSERT INTO feed_subscriptions (guild_id, feed_id, channel_id, backfill, created_by, category) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (guild_id, feed_id) DO UPDATE SET "
            "channel_id = excluded.channel_id, category = excluded.category",
            (guild_id, feed_id, channel_id, backfill, created_by, category),
        )
        sub = await self.subscription(guild_id, feed_id)
        assert sub is not None
        return sub, not existed

    async def unsubscribe(self, guild_id: int, feed_id: int) -> bool:
        """Remove a guild's subscription; a feed left without readers will take a fresh baseline."""
        async with self._db.transaction() as conn:
            cursor = await conn.execute(
                "DELETE FROM feed_subscriptions WHERE guild_id = ? AND feed_id = ?", (guild_id, feed_id)
            )
            removed = cursor.rowcount > 0
            await cursor.close()
            await conn.execute(_RESET_UNREAD)
        return removed

    async def set_channel(self, guild_id: int, feed_id: int, channel_id: int | None) -> None:
        """Point a subscription at another channel (None: the guild's announcement channel)."""
        await self._db.execute(
            "UPDATE feed_subscriptions SET channel_id = ? WHERE guild_id = ? AND feed_id = ?",
            (channel_id, guild_id, feed_id),
        )

    async def subscription(self, guild_id: int, feed_id: int) -> Subscription | None:
        row = await self._db.fetchone(
            "SELECT guild_id, feed_id, channel_id, backfill, category FROM feed_subscriptions "
            "WHERE guild_id = ? AND feed_id = ?",
            (guild_id, feed_id),
        )
        return Subscription(**dict(row)) if row else None

    async def subscriptions_of_feed(self, feed_id: int) -> list[Subscription]:
        rows = await self._db.fetchall(
            "SELECT guild_id, feed_id, channel_id, backfill, category FROM feed_subscriptions WHERE feed_id = ? "
            "ORDER BY guild_id",
            (feed_id,),
        )
        return [Subscription(**dict(r)) for r in rows]

    async def feeds_of_guild(self, guild_id: int) -> list[tuple[Feed, Subscription]]:
        rows = await self._db.fetchall(
            f"SELECT {', '.join('f.' + c.strip() for c in _FEED_COLUMNS.split(','))}, "  # noqa: S608
            "s.channel_id AS sub_channel_id, s.backfill AS sub_backfill, s.category AS sub_category "
            "FROM feed_subscriptions s JOIN feeds f ON f.id = s.feed_id WHERE s.guild_id = ? ORDER BY f.id",
            (guild_id,),
        )
        out = []
        for row in rows:
            data = dict(row)
            sub = [data.pop(name) for name in ("sub_channel_id", "sub_backfill", "sub_category")]
            feed = Feed.from_row(data)
            out.append((feed, Subscription(guild_id, feed.id, *sub)))
        return out

    async def clear_backfill(self, guild_id: int, feed_id: int) -> None:
        await self._db.execute(
            "UPDATE feed_subscriptions SET backfill = 0 WHERE guild_id = ? AND feed_id = ?", (guild_id, feed_id)
        )

    # -- the feed's entries (see .entries) ------------------------------------------------

    async def entry_count(self, feed_id: int) -> int:
        return await self._entries.count(feed_source(feed_id))

    async def newest_published(self, source: str) -> str | None:
        """The watermark: the newest publication time among a source's recorded entries."""
        return await self._entries.newest_published(source)

    async def newest_reviews(self, source: str, limit: int) -> list[Review]:
        """A source's newest reviews, oldest of them first (the order to announce them in)."""
        return await self._entries.newest_reviews(source, limit)
