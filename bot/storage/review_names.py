"""How a review is named: its slug, a slug it had before, its id or its post's address.

Operators, staff and templates name a review four ways, and each works wherever a
review is asked for (``matinee export --review``, ``/matinee export``, ``/discussion
open``, the read API's ``?review=``):

* its slug, ``chungking-express`` (letter case does not matter);
* a slug it had before: a review that took its address's slug (migration
  ``review_slugs_from_urls``, or a post whose address changed) keeps the old one in
  ``review_slug_aliases``, so links and scripts that used it still work;
* its id, ``12``;
* its post's address, however it is spelled: ``https://www.blog.example/…/?utm_source=x``
  is matched in the one normal form of :func:`bot.urls.normalize_post_url`, stored
  as ``reviews.url_key``. An address without a scheme (``blog.example/…``) works too;
  a slug never contains ``/``.

:func:`resolve_review_id` is the one resolver; it runs on any sqlite3 connection (the
read connections call it in one thread hop). Slugs are handed out here as well, so
"taken" means one thing everywhere: a slug belongs to the review that has it now or
had it before, and is never given to another.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import aiosqlite

from ..slugs import slug_candidates, slug_from_url
from ..urls import normalize_post_url

__all__ = [
    "MAX_NAME_CHARS",
    "ReviewName",
    "adopt_url_slugs",
    "allocate_slug",
    "follow_address",
    "parse_review_name",
    "resolve_review_id",
    "review_ids_by_url_key",
]

MAX_NAME_CHARS = 2048  # an address as long as browsers send; anything longer names nothing
_MAX_ID_DIGITS = 18  # SQLite's integers end at 19 digits; a longer number is no id
_CHUNK = 500

# One statement, one hop: the current slug as written, then in lower case, then an old slug, then the id.
_RESOLVE = """
SELECT review_id FROM (
    SELECT id AS review_id, 0 AS rank FROM reviews WHERE slug = :slug
    UNION ALL SELECT id, 1 FROM reviews WHERE slug = :folded
    UNION ALL SELECT review_id, 2 FROM review_slug_aliases WHERE slug IN (:slug, :folded)
    UNION ALL SELECT id, 3 FROM reviews WHERE id = :id
) ORDER BY rank LIMIT 1
"""
_BY_URL_KEY = "SELECT id FROM reviews WHERE url_key = ? ORDER BY id LIMIT 1"
_OWNER = (
    "SELECT id FROM reviews WHERE slug = :slug "
    "UNION ALL SELECT review_id FROM review_slug_aliases WHERE slug = :slug LIMIT 1"
)

Readable = sqlite3.Connection | sqlite3.Cursor


@dataclass(frozen=True, slots=True)
class ReviewName:
    """A name as given, read one way: a post address (``url_key``) or a slug that may be an id."""

    url_key: str | None = None
    slug: str | None = None
    review_id: int | None = None


def parse_review_name(name: str) -> ReviewName | None:
    """What ``name`` can mean; None when it can name no review (empty, too long, an address that is not one)."""
    text = name.strip()
    if not text or len(text) > MAX_NAME_CHARS:
        return None
    if "/" in text:
        key = normalize_post_url(text if "://" in text else f"https://{text}")
        return ReviewName(url_key=key) if key is not None else None
    digits = text.isascii() and text.isdigit() and len(text) <= _MAX_ID_DIGITS
    return ReviewName(slug=text, review_id=int(text) if digits else None)


def resolve_review_id(conn: Readable, name: str) -> int | None:
    """The id of the review ``name`` names (slug, old slug, id or post address), or None.

    A slug wins over an id that reads the same (a review whose slug is ``1917``); an
    address names the oldest review of that post.
    """
    parsed = parse_review_name(name)
    if parsed is None:
        return None
    if parsed.url_key is not None:
        row = conn.execute(_BY_URL_KEY, (parsed.url_key,)).fetchone()
    else:
        assert parsed.slug is not None
        params = {"slug": parsed.slug, "folded": parsed.slug.lower(), "id": parsed.review_id}
        row = conn.execute(_RESOLVE, params).fetchone()
    return int(row[0]) if row else None


def review_ids_by_url_key(conn: Readable, keys: Iterable[str], *, published_only: bool = False) -> dict[str, int]:
    """For each stored post address key among ``keys``: its oldest review's id (one query per 500 keys).

    ``published_only`` leaves out reviews withdrawn from the blog (the public read side).
    """
    table = "published_reviews" if published_only else "reviews"
    wanted = sorted(set(keys))
    found: dict[str, int] = {}
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        marks = ", ".join("?" for _ in chunk)
        rows = conn.execute(
            f"SELECT url_key, min(id) FROM {table} WHERE url_key IN ({marks}) GROUP BY url_key",  # noqa: S608
            chunk,
        ).fetchall()
        found.update({str(r[0]): int(r[1]) for r in rows})
    return found


# -- handing slugs out (on the writer, inside the caller's transaction) -------------------------


async def _owner(conn: aiosqlite.Connection, slug: str) -> int | None:
    async with conn.execute(_OWNER, {"slug": slug}) as cursor:
        row = await cursor.fetchone()
    return int(row[0]) if row else None


async def allocate_slug(conn: aiosqlite.Connection, base: str, *, review_id: int | None = None) -> str:
    """The first of ``base``, ``base-2``… that no other review has now or had before."""
    for candidate in slug_candidates(base):
        owner = await _owner(conn, candidate)
        if owner is None or owner == review_id:
            return candidate
    raise AssertionError("unreachable: slug candidates never run out")


async def follow_address(conn: aiosqlite.Connection, review_id: int, old_url: str | None, new_url: str | None) -> None:
    """After a review's post moved (``?p=412`` became a permalink): take the new address's slug.

    The slug it had stays an alias, so it still resolves; a slug the review had before
    is taken back. Nothing changes when the new address gives the same slug as the
    old one, or none at all (a review keeps a name rather than lose one).
    """
    wanted = slug_from_url(new_url)
    if wanted is None or wanted == slug_from_url(old_url):
        return
    async with conn.execute("SELECT slug FROM reviews WHERE id = ?", (review_id,)) as cursor:
        row = await cursor.fetchone()
    if row is None:
        return
    current = str(row[0])
    if re.fullmatch(rf"{re.escape(wanted)}(-\d+)?", current):
        return  # already named after this address
    new = await allocate_slug(conn, wanted, review_id=review_id)
    await conn.execute("DELETE FROM review_slug_aliases WHERE slug = ?", (new,))
    await conn.execute(
        "INSERT OR IGNORE INTO review_slug_aliases (slug, review_id) VALUES (?, ?)", (current, review_id)
    )
    await conn.execute("UPDATE reviews SET slug = ? WHERE id = ?", (new, review_id))


def plan_url_slugs(rows: Sequence[tuple[int, str, str | None]]) -> list[tuple[int, str, str]]:
    """(id, old slug, new slug) for each review, of ``(id, slug, url)`` rows in id order, whose address names it.

    Every slug in ``rows`` stays its review's (as the slug or an alias), so a new slug
    is never another review's old one, and reviews are served in id order: the review
    stored first keeps the plain name, the next gets ``-2``. The same rows always give
    the same plan.
    """
    owner = {slug: review_id for review_id, slug, _url in rows}
    renames: list[tuple[int, str, str]] = []
    for review_id, old, url in rows:
        wanted = slug_from_url(url)
        if wanted is None or wanted == old:
            continue
        new = next(c for c in slug_candidates(wanted) if owner.get(c, review_id) == review_id)
        if new != old:
            owner[new] = review_id
            renames.append((review_id, old, new))
    return renames


async def adopt_url_slugs(conn: aiosqlite.Connection) -> None:
    """Migration step: every stored review with a post address takes its address's slug; old slugs become aliases."""
    async with conn.execute("SELECT id, slug, url FROM reviews ORDER BY id") as cursor:
        rows = [(int(r[0]), str(r[1]), r[2]) for r in await cursor.fetchall()]
    renames = plan_url_slugs(rows)
    if not renames:
        return
    await conn.executemany(
        "INSERT INTO review_slug_aliases (slug, review_id) VALUES (?, ?)", [(old, rid) for rid, old, _ in renames]
    )
    await conn.executemany("UPDATE reviews SET slug = ? WHERE id = ?", [(new, rid) for rid, _, new in renames])
