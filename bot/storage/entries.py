"""The entries each source has listed, and which review each one is (table ``review_keys``).

A source is a feed (``feed:<id>``), the Markdown folder or Discord. A review's own
``(source, source_key)`` is its first entry (a trigger records it with the review).
More entries lead to the same review when the same post turns up again: in a second
feed (a category feed and the whole-site feed), or in the same feed under a new
guid. "Has this source seen this entry" is a look-up here, so a post read from two
feeds is still one review, announced once per server.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..models import Review
from .database import Database
from .reviews import _R_COLUMNS

__all__ = ["Entry", "EntryRepository"]


@dataclass(frozen=True, slots=True)
class Entry:
    source: str
    source_key: str
    review_id: int
    content_hash: str = ""


class EntryRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, source: str, source_key: str) -> Entry | None:
        row = await self._db.fetchone(
            "SELECT source, source_key, review_id, content_hash FROM review_keys WHERE source = ? AND source_key = ?",
            (source, source_key),
        )
        return Entry(**dict(row)) if row else None

    async def of_review(self, source: str, review_id: int) -> list[Entry]:
        """The keys under which ``source`` has listed this review (usually one)."""
        rows = await self._db.fetchall(
            "SELECT source, source_key, review_id, content_hash FROM review_keys "
            "WHERE review_id = ? AND source = ? ORDER BY source_key",
            (review_id, source),
        )
        return [Entry(**dict(r)) for r in rows]

    async def rekey(self, source: str, old_key: str, new_key: str) -> None:
        """The source now lists this entry under ``new_key`` (a changed guid): move the key, keep the review.

        When the key was the review's own, the review's ``source_key`` follows, so the
        two never disagree.
        """
        async with self._db.transaction() as conn:
            await conn.execute(
                "UPDATE reviews SET source_key = ? WHERE source = ? AND source_key = ?", (new_key, source, old_key)
            )
            await conn.execute(
                "UPDATE review_keys SET source_key = ? WHERE source = ? AND source_key = ?", (new_key, source, old_key)
            )

    async def set_hash(self, source: str, source_key: str, content_hash: str) -> None:
        await self._db.execute(
            "UPDATE review_keys SET content_hash = ? WHERE source = ? AND source_key = ?",
            (content_hash, source, source_key),
        )

    async def listed_reviews(self, source: str) -> dict[int, tuple[frozenset[str], bool]]:
        """Each review ``source`` has listed: the keys it listed it under, and whether it is withdrawn."""
        rows = await self._db.fetchall(
            "SELECT k.review_id, k.source_key, r.withdrawn_at IS NOT NULL AS withdrawn "
            "FROM review_keys k JOIN reviews r ON r.id = k.review_id WHERE k.source = ?",
            (source,),
        )
        keys: dict[int, set[str]] = {}
        withdrawn: dict[int, bool] = {}
        for row in rows:
            keys.setdefault(row["review_id"], set()).add(row["source_key"])
            withdrawn[row["review_id"]] = bool(row["withdrawn"])
        return {review_id: (frozenset(found), withdrawn[review_id]) for review_id, found in keys.items()}

    async def count(self, source: str) -> int:
        return int(await self._db.fetchval("SELECT count(*) FROM review_keys WHERE source = ?", (source,)))

    async def newest_published(self, source: str) -> str | None:
        """The watermark: the newest publication time among the reviews a source has listed."""
        return await self._db.fetchval(
            "SELECT max(r.published_at) FROM review_keys k JOIN reviews r ON r.id = k.review_id WHERE k.source = ?",
            (source,),
        )

    async def newest_reviews(self, source: str, limit: int) -> list[Review]:
        """A source's newest reviews, oldest of them first (the order to announce them in)."""
        if limit <= 0:
            return []
        rows = await self._db.fetchall(
            f"SELECT DISTINCT {_R_COLUMNS}, coalesce(r.published_at, r.created_at) AS sort_at "  # noqa: S608
            "FROM review_keys k JOIN reviews r ON r.id = k.review_id WHERE k.source = ? "
            "ORDER BY sort_at DESC, r.id DESC LIMIT ?",
            (source, limit),
        )
        return [Review.from_row(r) for r in reversed(rows)]
