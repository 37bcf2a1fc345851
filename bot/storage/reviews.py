"""Reviews and their announcements.

The reviews feature extends these repositories (feeds, the outbox); the read
methods here are the contract other features (discussions, films, chat) use.

Listings (:meth:`ReviewRepository.recent`, ``for_film``, ``search``, ``search_page``)
read the ``published_reviews`` view, so a review withdrawn from the blog leaves them;
look-ups of one review (by id, slug, URL or entry) still find it, marked ``withdrawn``.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aiosqlite

from ..models import Announcement, Review
from ..slugs import review_slug
from ..urls import normalize_post_url
from .database import Database
from .film_search import any_position_match, search_tokens
from .fts import fts_prefix_query
from .review_names import allocate_slug, follow_address, resolve_review_id

__all__ = ["AnnouncementRepository", "ReviewListing", "ReviewRepository", "insert_review", "review_columns"]

# The columns Review.from_row reads, in table order.
_REVIEW_FIELDS = (
    "id", "source", "source_key", "slug", "title", "url", "author", "film_title", "film_year", "film_id", "rating",
    "excerpt", "body_md", "image_url", "tags", "spoilers", "published_at", "content_hash", "withdrawn_at",
)  # fmt: skip


def review_columns(alias: str = "", *, bounded: Mapping[str, int] | None = None) -> str:
    """The select list for :meth:`Review.from_row`, from ``reviews`` (or ``reviews AS alias``).

    ``bounded`` reads only the start of long text columns (``{"body_md": 8000}``), for
    queries on a hot path that need no more than that.
    """
    prefix = f"{alias}." if alias else ""
    limits = bounded or {}
    return ", ".join(
        f"substr({prefix}{name}, 1, {int(limits[name])}) AS {name}" if name in limits else prefix + name
        for name in _REVIEW_FIELDS
    )


@dataclass(frozen=True, slots=True)
class ReviewListing:
    """One line of ``matinee reviews list``: the names to use, and what became of the review."""

    id: int
    slug: str
    title: str
    url: str | None
    film_title: str | None
    date: str  # published, else when it was stored (ISO, UTC)
    comments: int  # not deleted, every server
    announced_in: int  # servers where the announcement was sent
    pending_in: int  # servers where it is still owed
    withdrawn: bool = False  # its Markdown file was deleted: it left every listing but this one

    def matches(self, text: str) -> bool:
        """Whether ``text`` appears (letter case aside) in the title, film, slug or address."""
        needle = text.casefold().strip()
        return any(needle in (value or "").casefold() for value in (self.title, self.film_title, self.slug, self.url))


_LISTING = """
SELECT r.id, r.slug, r.title, r.url, r.film_title, coalesce(r.published_at, r.created_at) AS date,
    (SELECT count(*) FROM comments AS c WHERE c.review_id = r.id AND c.deleted = 0) AS comments,
    (SELECT count(*) FROM announcements AS a WHERE a.review_id = r.id AND a.state = 'sent') AS announced_in,
    (SELECT count(*) FROM announcements AS a WHERE a.review_id = r.id AND a.state = 'pending') AS pending_in,
    r.withdrawn_at IS NOT NULL AS withdrawn
FROM reviews AS r
WHERE :source IS NULL OR r.id IN (SELECT k.review_id FROM review_keys AS k WHERE k.source = :source)
ORDER BY coalesce(r.published_at, r.created_at) DESC, r.id DESC
"""
_REVIEW_COLUMNS = review_columns()
_R_COLUMNS = review_columns("r")  # for queries joining reviews AS r
_ANNOUNCEMENT_COLUMNS = "review_id, guild_id, channel_id, nonce, state, message_id, thread_id, spoiler"


def _review_values(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Review fields as column values: tags as a JSON array, spoilers as 0/1.

    A review's ``url_key`` is always its ``url`` in normal form (:func:`bot.urls.normalize_post_url`):
    the one key that says two entries are the same post.
    """
    values = dict(fields)
    if "tags" in values and not isinstance(values["tags"], str):
        values["tags"] = json.dumps(list(values["tags"]))
    if "spoilers" in values:
        values["spoilers"] = int(bool(values["spoilers"]))
    if "url" in values:
        values["url_key"] = normalize_post_url(values["url"])
    return values


async def insert_review(conn: aiosqlite.Connection, fields: Mapping[str, Any]) -> int:
    """Insert a new review inside the caller's transaction and return its id.

    The one ``INSERT INTO reviews``: :meth:`ReviewRepository.upsert` and the outbox
    (which records a review together with its announcement intents) both use it.
    Without a ``slug`` in ``fields`` the review gets the first free one its address
    (else its title) gives (:func:`bot.slugs.review_slug`), chosen in this transaction.
    """
    values = _review_values(fields)
    if not values.get("slug"):
        values["slug"] = await allocate_slug(conn, review_slug(values.get("url"), str(values.get("title") or "")))
    names = sorted(values)
    cursor = await conn.execute(
        f"INSERT INTO reviews ({', '.join(names)}) VALUES ({', '.join('?' for _ in names)})",  # noqa: S608
        [values[n] for n in names],
    )
    review_id = int(cursor.lastrowid)
    await cursor.close()
    return review_id


class ReviewRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, review_id: int) -> Review | None:
        row = await self._db.fetchone(f"SELECT {_REVIEW_COLUMNS} FROM reviews WHERE id = ?", (review_id,))  # noqa: S608
        return Review.from_row(row) if row else None

    async def get_by_slug(self, slug: str) -> Review | None:
        row = await self._db.fetchone(f"SELECT {_REVIEW_COLUMNS} FROM reviews WHERE slug = ?", (slug,))  # noqa: S608
        return Review.from_row(row) if row else None

    async def find(self, name: str) -> Review | None:
        """The review ``name`` names: its slug, a slug it had before, its id or its post's address.

        The one resolver (:func:`bot.storage.review_names.resolve_review_id`), read in one hop.
        """

        def read(conn: sqlite3.Connection) -> sqlite3.Row | None:
            review_id = resolve_review_id(conn, name)
            if review_id is None:
                return None
            return conn.execute(f"SELECT {_REVIEW_COLUMNS} FROM reviews WHERE id = ?", (review_id,)).fetchone()  # noqa: S608

        row = await self._db.read(read)
        return Review.from_row(row) if row else None

    async def get_by_source_key(self, source: str, source_key: str) -> Review | None:
        """The review a source's entry is (its own first entry, or one it shares with another feed)."""
        row = await self._db.fetchone(
            f"SELECT {_R_COLUMNS} FROM review_keys k JOIN reviews r ON r.id = k.review_id "  # noqa: S608
            "WHERE k.source = ? AND k.source_key = ?",
            (source, source_key),
        )
        return Review.from_row(row) if row else None

    async def find_by_url(self, url: str | None) -> Review | None:
        """The review of the post at ``url`` (however it is spelled), the oldest if several exist."""
        key = normalize_post_url(url)
        if key is None:
            return None
        row = await self._db.fetchone(
            f"SELECT {_REVIEW_COLUMNS} FROM reviews WHERE url_key = ? ORDER BY id LIMIT 1",  # noqa: S608
            (key,),
        )
        return Review.from_row(row) if row else None

    async def update_content(self, review_id: int, fields: Mapping[str, Any]) -> Review:
        """Store an edited entry's fields on an existing review (its key and source stay).

        Its slug stays too, unless the post's address changed to one that gives another
        slug (WordPress's ``?p=412`` became a permalink): then the review takes the new
        address's slug and keeps the old one as an alias (:func:`follow_address`).
        """
        values = _review_values(fields)
        names = sorted(n for n in values if n not in {"source", "source_key", "slug"})
        assignments = ", ".join(f"{n} = ?" for n in names)
        async with self._db.transaction() as conn:
            async with conn.execute("SELECT url FROM reviews WHERE id = ?", (review_id,)) as cursor:
                before = await cursor.fetchone()
            await conn.execute(
                f"UPDATE reviews SET {assignments}, updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') "  # noqa: S608
                "WHERE id = ?",
                [*(values[n] for n in names), review_id],
            )
            if before is not None and "url" in values and values["url"] != before[0]:
                await follow_address(conn, review_id, before[0], values["url"])
        review = await self.get(review_id)
        assert review is not None
        return review

    async def upsert(self, **fields: Any) -> tuple[Review, bool]:
        """Insert a review or update the one with the same (source, source_key).

        Returns the stored review and whether anything changed (a new review, or
        a different ``content_hash``), so callers know when to (re-)announce.
        """
        existing = await self.get_by_source_key(fields["source"], fields["source_key"])
        if existing is None:
            async with self._db.transaction() as conn:
                review_id = await insert_review(conn, fields)
            review = await self.get(review_id)
            assert review is not None
            return review, True
        fields = _review_values(fields)
        if fields.get("content_hash") == existing.content_hash:
            return existing, False
        review = await self.update_content(existing.id, fields)
        await self._db.execute(
            "UPDATE review_keys SET content_hash = ? WHERE source = ? AND source_key = ?",
            (review.content_hash, fields["source"], fields["source_key"]),
        )
        return review, True

    async def slug_exists(self, slug: str) -> bool:
        """Whether a review has ``slug`` now or had it before (a slug is never given to another review)."""
        return (
            await self._db.fetchval(
                "SELECT 1 FROM reviews WHERE slug = ?1 UNION ALL SELECT 1 FROM review_slug_aliases WHERE slug = ?1",
                (slug,),
            )
            is not None
        )

    async def recent(self, limit: int = 25) -> list[Review]:
        rows = await self._db.fetchall(
            f"SELECT {_REVIEW_COLUMNS} FROM published_reviews "  # noqa: S608
            "ORDER BY coalesce(published_at, created_at) DESC, id DESC LIMIT ?",
            (limit,),
        )
        return [Review.from_row(r) for r in rows]

    async def for_film(self, film_id: int) -> list[Review]:
        rows = await self._db.fetchall(
            f"SELECT {_REVIEW_COLUMNS} FROM published_reviews WHERE film_id = ? "  # noqa: S608
            "ORDER BY coalesce(published_at, created_at) DESC",
            (film_id,),
        )
        return [Review.from_row(r) for r in rows]

    async def search(self, query: str, *, limit: int = 10, offset: int = 0) -> list[Review]:
        """Full-text search over title, film and body; any member input is safe here."""
        match = fts_prefix_query(query)
        if match is None:
            return await self.recent(limit) if offset == 0 else []
        rows = await self._db.fetchall(
            f"SELECT {_R_COLUMNS} "  # noqa: S608
            "FROM reviews_fts JOIN published_reviews r ON r.id = reviews_fts.rowid "
            "WHERE reviews_fts MATCH ? ORDER BY bm25(reviews_fts, 5.0, 3.0, 1.0) LIMIT ? OFFSET ?",
            (match, limit, offset),
        )
        return [Review.from_row(r) for r in rows]

    async def search_page(
        self, query: str, *, film_id: int | None = None, limit: int = 5, offset: int = 0
    ) -> tuple[list[Review], int]:
        """A page of reviews matching ``query`` (title, film, body; any input is safe), optionally of one film.

        No query: the film's reviews (or all reviews), newest first. Returns the page and the total.
        """
        match = any_position_match(search_tokens(query, limit=12))
        film_clause = "AND r.film_id = :film" if film_id is not None else ""
        params = {"match": match, "film": film_id, "n": limit, "off": offset}
        if match is None:
            base = f"FROM published_reviews r WHERE 1 = 1 {film_clause}"
            order = "ORDER BY coalesce(r.published_at, r.created_at) DESC, r.id DESC"
        else:
            base = (
                "FROM reviews_fts JOIN published_reviews r ON r.id = reviews_fts.rowid "
                f"WHERE reviews_fts MATCH :match {film_clause}"
            )
            order = "ORDER BY bm25(reviews_fts, 5.0, 3.0, 1.0)"
        total = int(await self._db.fetchval(f"SELECT count(*) {base}", params) or 0)
        rows = await self._db.fetchall(f"SELECT {_R_COLUMNS} {base} {order} LIMIT :n OFFSET :off", params)
        return [Review.from_row(r) for r in rows], total

    async def count(self) -> int:
        return int(await self._db.fetchval("SELECT count(*) FROM reviews"))

    async def set_withdrawn(self, review_ids: Sequence[int], withdrawn: bool) -> list[Review]:
        """Withdraw reviews from every listing (or bring them back); returns those whose state changed."""
        changed: list[int] = []
        async with self._db.transaction() as conn:
            for review_id in review_ids:
                cursor = await conn.execute(
                    "UPDATE reviews SET withdrawn_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') "
                    "WHERE id = ? AND withdrawn_at IS NULL"
                    if withdrawn
                    else "UPDATE reviews SET withdrawn_at = NULL WHERE id = ? AND withdrawn_at IS NOT NULL",
                    (review_id,),
                )
                if cursor.rowcount:
                    changed.append(review_id)
                await cursor.close()
        return [review for review_id in changed if (review := await self.get(review_id)) is not None]

    async def listing(self, *, source: str | None = None, search: str | None = None) -> list[ReviewListing]:
        """Every review (of one source: ``feed:<id>``, ``markdown``…), newest first, for ``matinee reviews list``.

        ``search`` keeps those whose title, film, slug or address contains it (letter case aside).
        """
        rows = await self._db.fetchall(_LISTING, {"source": source})
        found = [ReviewListing(**dict(row) | {"withdrawn": bool(row["withdrawn"])}) for row in rows]
        return [r for r in found if r.matches(search)] if search and search.strip() else found


class AnnouncementRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def _fetch(self, where: str, params: Sequence[Any]) -> list[Announcement]:
        rows = await self._db.fetchall(
            f"SELECT {_ANNOUNCEMENT_COLUMNS} FROM announcements WHERE {where}",  # noqa: S608 - callers pass literals
            params,
        )
        return [Announcement.from_row(r) for r in rows]

    async def get(self, review_id: int, guild_id: int) -> Announcement | None:
        found = await self._fetch("review_id = ? AND guild_id = ?", (review_id, guild_id))
        return found[0] if found else None

    async def for_review(self, review_id: int) -> list[Announcement]:
        return await self._fetch("review_id = ? ORDER BY guild_id", (review_id,))

    async def record_sent(
        self,
        review_id: int,
        guild_id: int,
        channel_id: int,
        message_id: int,
        *,
        thread_id: int | None = None,
        nonce: str | None = None,
        spoiler: bool = False,
    ) -> Announcement:
        """Insert (or replace) a confirmed-sent announcement, e.g. a thread opened by hand."""
        await self._db.execute(
            "INSERT INTO announcements (review_id, guild_id, channel_id, message_id, thread_id, nonce, state, "
            "spoiler, sent_at) VALUES (?, ?, ?, ?, ?, ?, 'sent', ?, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) "
            "ON CONFLICT (review_id, guild_id) DO UPDATE SET channel_id = excluded.channel_id, "
            "message_id = excluded.message_id, thread_id = excluded.thread_id, state = 'sent', "
            "spoiler = excluded.spoiler, sent_at = excluded.sent_at",
            (review_id, guild_id, channel_id, message_id, thread_id, nonce or f"manual:{message_id}", int(spoiler)),
        )
        found = await self.get(review_id, guild_id)
        assert found is not None
        return found

    async def by_thread(self, thread_id: int) -> Announcement | None:
        """The announcement whose discussion thread this is; None for threads of no review."""
        found = await self._fetch("thread_id = ?", (thread_id,))
        return found[0] if found else None

    async def by_message(self, message_id: int) -> Announcement | None:
        found = await self._fetch("message_id = ?", (message_id,))
        return found[0] if found else None

    async def with_threads(self) -> list[Announcement]:
        """Every announcement that has a discussion thread (for backfill after downtime)."""
        return await self._fetch("thread_id IS NOT NULL ORDER BY thread_id", ())

    async def set_thread(self, review_id: int, guild_id: int, thread_id: int | None) -> None:
        await self._db.execute(
            "UPDATE announcements SET thread_id = ? WHERE review_id = ? AND guild_id = ?",
            (thread_id, review_id, guild_id),
        )

    async def set_spoiler(self, thread_id: int, spoiler: bool) -> None:
        await self._db.execute("UPDATE announcements SET spoiler = ? WHERE thread_id = ?", (int(spoiler), thread_id))
