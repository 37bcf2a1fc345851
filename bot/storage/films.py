"""The film catalog: look-ups, ranked search with typo tolerance, and batched upserts.

``get`` and ``search`` keep the signatures other features rely on (chat tools,
review matching). Search is served by the ``films_fts`` index from migration
0004, whose rowids sort most-voted films first (see the migration for why).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..models import Film
from .database import Database
from .film_autocomplete import FilmSuggestion
from .film_autocomplete import autocomplete as _autocomplete
from .film_autocomplete import corrections as _corrections
from .film_search import (
    any_position_match,
    match_with_alternatives,
    normalize_title,
    search_tokens,
    title_prefix_match,
)

__all__ = ["FilmHit", "FilmRecord", "FilmRepository", "ImportCounts"]

_FILM_COLUMNS = (
    "id, title, original_title, year, directors, cast_members, runtime_minutes, genres, overview, "
    "poster_url, tmdb_id, imdb_id, popularity, vote_count"
)
_F_COLUMNS = ", ".join("f." + c.strip() for c in _FILM_COLUMNS.split(","))

# Search tiers, best first.
TIER_EXACT, TIER_PREFIX, TIER_WORDS, TIER_FUZZY = 0, 1, 2, 3
_BM25 = "bm25(films_fts, 10.0, 6.0, 3.0, 0.0)"


@dataclass(frozen=True, slots=True)
class FilmHit:
    """One search result: the film and how it matched (``tier``: 0 exact … 3 fuzzy)."""

    film: Film
    tier: int
    score: float = 0.0


@dataclass(slots=True)
class FilmRecord:
    """A film as an import file or TMDB describes it, before it has a catalog id."""

    title: str
    year: int | None = None
    original_title: str | None = None
    directors: Sequence[str] = ()
    cast: Sequence[str] = ()
    runtime_minutes: int | None = None
    genres: Sequence[str] = ()
    overview: str | None = None
    poster_url: str | None = None
    imdb_id: str | None = None
    tmdb_id: int | None = None
    popularity: float | None = None
    vote_count: int | None = None
    alt_titles: Sequence[str] = field(default_factory=tuple)
    source: str = "import"
    fetched_at: str | None = None

    def all_titles(self) -> list[str]:
        return [t for t in (self.title, self.original_title, *self.alt_titles) if t]


@dataclass(slots=True)
class ImportCounts:
    added: int = 0
    updated: int = 0
    unchanged: int = 0

    def __iadd__(self, other: ImportCounts) -> ImportCounts:
        self.added += other.added
        self.updated += other.updated
        self.unchanged += other.unchanged
        return self


def _json_or_none(values: Sequence[str]) -> str | None:
    cleaned = [v for v in values if v]
    return json.dumps(cleaned, ensure_ascii=False) if cleaned else None


def _dedupe(records: Sequence[FilmRecord]) -> list[FilmRecord]:
    """One record per IMDb id and per TMDB id within a batch (the first wins)."""
    seen_imdb: set[str] = set()
    seen_tmdb: set[int] = set()
    kept: list[FilmRecord] = []
    for record in records:
        if (record.imdb_id and record.imdb_id in seen_imdb) or (record.tmdb_id and record.tmdb_id in seen_tmdb):
            continue
        if record.imdb_id:
            seen_imdb.add(record.imdb_id)
        if record.tmdb_id:
            seen_tmdb.add(record.tmdb_id)
        kept.append(record)
    return kept


_STAGE_COLUMNS = (
    "seq, title, original_title, year, directors, cast_members, runtime_minutes, genres, overview, poster_url, "
    "tmdb_id, imdb_id, popularity, vote_count, alt_titles, source, fetched_at"
)
_RESOLVE = (
    "UPDATE temp.film_import SET film_id = (SELECT id FROM films WHERE films.imdb_id = film_import.imdb_id) "
    "WHERE film_id IS NULL AND imdb_id IS NOT NULL",
    "UPDATE temp.film_import SET film_id = (SELECT id FROM films WHERE films.tmdb_id = film_import.tmdb_id) "
    "WHERE film_id IS NULL AND tmdb_id IS NOT NULL",
    # Adopt a film known only by title and year (from a review, say) instead of duplicating it.
    "UPDATE temp.film_import SET film_id = (SELECT f.id FROM films f WHERE f.title = film_import.title COLLATE NOCASE "
    "AND f.year IS film_import.year AND (f.imdb_id IS NULL OR film_import.imdb_id IS NULL) "
    "AND (f.tmdb_id IS NULL OR film_import.tmdb_id IS NULL) ORDER BY f.vote_count DESC, f.id LIMIT 1) "
    "WHERE film_id IS NULL",
)
# New values win when the import has them; missing values never erase what we know.
_MERGED = {
    "title": "b.title",
    "original_title": "coalesce(b.original_title, films.original_title)",
    "year": "coalesce(b.year, films.year)",
    "directors": "coalesce(b.directors, films.directors)",
    "cast_members": "coalesce(b.cast_members, films.cast_members)",
    "runtime_minutes": "coalesce(b.runtime_minutes, films.runtime_minutes)",
    "genres": "coalesce(b.genres, films.genres)",
    "overview": "coalesce(b.overview, films.overview)",
    "poster_url": "coalesce(b.poster_url, films.poster_url)",
    "popularity": "coalesce(b.popularity, films.popularity)",
    "vote_count": "coalesce(b.vote_count, films.vote_count)",
    "fetched_at": "coalesce(b.fetched_at, films.fetched_at)",
    "imdb_id": "CASE WHEN films.imdb_id IS NULL AND b.imdb_id IS NOT NULL AND NOT EXISTS "
    "(SELECT 1 FROM films x WHERE x.imdb_id = b.imdb_id) THEN b.imdb_id ELSE films.imdb_id END",
    "tmdb_id": "CASE WHEN films.tmdb_id IS NULL AND b.tmdb_id IS NOT NULL AND NOT EXISTS "
    "(SELECT 1 FROM films x WHERE x.tmdb_id = b.tmdb_id) THEN b.tmdb_id ELSE films.tmdb_id END",
}
_UPDATE_SQL = (
    "UPDATE films SET "  # noqa: S608 - constant column expressions
    + ", ".join(f"{col} = {expr}" for col, expr in _MERGED.items())
    + ", updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') FROM temp.film_import b WHERE films.id = b.film_id AND ("
    + ", ".join(f"films.{col}" for col in _MERGED)
    + ") IS NOT ("
    + ", ".join(_MERGED.values())
    + ")"
)
_INSERT_SQL = (
    "INSERT INTO films (title, original_title, year, directors, cast_members, runtime_minutes, genres, overview, "
    "poster_url, tmdb_id, imdb_id, popularity, vote_count, source, fetched_at) "
    "SELECT title, original_title, year, coalesce(directors, '[]'), coalesce(cast_members, '[]'), runtime_minutes, "
    "coalesce(genres, '[]'), overview, poster_url, tmdb_id, imdb_id, coalesce(popularity, 0), "
    "coalesce(vote_count, 0), source, fetched_at FROM temp.film_import WHERE film_id IS NULL ORDER BY seq"
)


class FilmRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    # -- reads ----------------------------------------------------------------------

    async def get(self, film_id: int) -> Film | None:
        row = await self._db.fetchone(f"SELECT {_FILM_COLUMNS} FROM films WHERE id = ?", (film_id,))  # noqa: S608
        return Film.from_row(row) if row else None

    async def get_many(self, film_ids: Sequence[int]) -> dict[int, Film]:
        ids = list(dict.fromkeys(film_ids))[:500]
        if not ids:
            return {}
        rows = await self._db.fetchall(
            f"SELECT {_FILM_COLUMNS} FROM films WHERE id IN ({', '.join('?' for _ in ids)})",  # noqa: S608
            ids,
        )
        return {row["id"]: Film.from_row(row) for row in rows}

    async def by_imdb_id(self, imdb_id: str) -> Film | None:
        row = await self._db.fetchone(f"SELECT {_FILM_COLUMNS} FROM films WHERE imdb_id = ?", (imdb_id,))  # noqa: S608
        return Film.from_row(row) if row else None

    async def by_tmdb_id(self, tmdb_id: int) -> Film | None:
        row = await self._db.fetchone(f"SELECT {_FILM_COLUMNS} FROM films WHERE tmdb_id = ?", (tmdb_id,))  # noqa: S608
        return Film.from_row(row) if row else None

    async def fetched_at(self, film_id: int) -> str | None:
        """When TMDB details were last cached for this film (None: never)."""
        return await self._db.fetchval("SELECT fetched_at FROM films WHERE id = ?", (film_id,))

    async def count(self) -> int:
        return int(await self._db.fetchval("SELECT count(*) FROM films"))

    async def alt_titles(self, film_id: int) -> list[str]:
        rows = await self._db.fetchall("SELECT title FROM film_titles WHERE film_id = ? ORDER BY title", (film_id,))
        return [r[0] for r in rows]

    async def popular(self, limit: int = 25) -> list[Film]:
        """The most-voted films, straight from the index's rowid order (no sort)."""
        rows = await self._db.fetchall(
            f"SELECT {_F_COLUMNS} FROM (SELECT film_id FROM films_fts ORDER BY rowid LIMIT ?) h "  # noqa: S608
            "JOIN films f ON f.id = h.film_id ORDER BY f.vote_count DESC, f.id",
            (limit,),
        )
        return [Film.from_row(r) for r in rows]

    async def find_by_title(self, title: str, year: int | None = None) -> Film | None:
        """The best catalog match for a review's film: exact title (and year when known)."""
        params: Sequence[object] = (title.strip(), year) if year else (title.strip(),)
        year_clause = "AND year = ?" if year else ""
        row = await self._db.fetchone(
            f"SELECT {_FILM_COLUMNS} FROM films WHERE title = ? COLLATE NOCASE {year_clause} "  # noqa: S608
            "ORDER BY vote_count DESC LIMIT 1",
            params,
        )
        return Film.from_row(row) if row else None

    # -- search ---------------------------------------------------------------------

    async def search(self, query: str, *, limit: int = 25) -> list[Film]:
        """Films matching ``query`` (any member input), best first; typos are tolerated.

        When the index finds nothing, a plain substring scan keeps the original
        contract ("starts with or contains", e.g. "0%" in "Express 100%"). That
        scan reads the whole table, so autocomplete (``search_hits``) never uses it.
        """
        hits = await self.search_hits(query, limit=limit)
        if hits:
            return [hit.film for hit in hits]
        return await self._substring(query, limit=limit)

    async def _substring(self, query: str, *, limit: int) -> list[Film]:
        needle = " ".join(query.split())[:200]
        if not needle:
            return []
        escaped = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        rows = await self._db.fetchall(
            f"SELECT {_FILM_COLUMNS} FROM films WHERE title LIKE ? ESCAPE '\\' "  # noqa: S608
            "ORDER BY (title LIKE ? ESCAPE '\\') DESC, vote_count DESC, popularity DESC LIMIT ?",
            (f"%{escaped}%", f"{escaped}%", max(1, min(int(limit), 100))),
        )
        return [Film.from_row(r) for r in rows]

    async def autocomplete(self, query: str, limit: int = 25) -> list[FilmSuggestion]:
        """Choices for what a member typed so far (any input), best first, in one read.

        The keystroke path: same tiers and order as ``search_hits(bm25=False)`` with
        the typo fallback, but run whole on the read connection (see
        :mod:`.film_autocomplete`). Blank input gets the most-voted films.
        """
        query = query[:200]
        return await self._db.read(lambda conn: _autocomplete(conn, query, limit))

    async def search_hits(self, query: str, *, limit: int = 25, fuzzy: bool = True, bm25: bool = True) -> list[FilmHit]:
        """Ranked matches: exact title, then title prefix, then words anywhere, then typo fixes.

        Within a tier, more-voted films come first and bm25 breaks ties. One SQL
        statement per tier set, each FTS part bounded by ``LIMIT`` in rowid order,
        so the cost does not grow with the number of matching films.

        ``bm25=False`` is for autocomplete: bm25 needs each term's document
        frequency, which for a short prefix ("the") means reading its whole
        doclist (~10 ms at 100k films); ties then go to the shorter title.
        """
        limit = max(1, min(int(limit), 100))
        tokens = search_tokens(query)
        if not tokens:
            return []
        score = _BM25 if bm25 else "0.0"
        hits = await self._strict_hits(query, tokens, limit, score)
        if not hits and fuzzy:
            hits = await self._fuzzy_hits(tokens, limit, score)
        return hits[:limit]

    async def _strict_hits(self, query: str, tokens: list[str], limit: int, score: str) -> list[FilmHit]:
        exact = " ".join(query.split())[:300]
        sql = (
            "WITH hits (film_id, tier, ord, score) AS ("  # noqa: S608 - constant fragments only
            "SELECT * FROM (SELECT id, 0, 0, 0.0 FROM films WHERE title = :exact COLLATE NOCASE LIMIT :n) "
            "UNION ALL SELECT * FROM (SELECT film_id, 0, 0, 0.0 FROM film_titles WHERE title = :exact COLLATE NOCASE "
            "LIMIT :n) "
            f"UNION ALL SELECT * FROM (SELECT film_id, 1, rowid, {score} FROM films_fts WHERE films_fts MATCH :prefix "
            "ORDER BY rowid LIMIT :n) "
            f"UNION ALL SELECT * FROM (SELECT film_id, 2, rowid, {score} FROM films_fts WHERE films_fts MATCH :words "
            "ORDER BY rowid LIMIT :n)) "
            f"SELECT {_F_COLUMNS}, min(h.tier) AS tier, min(h.score) AS score "
            "FROM hits h JOIN films f ON f.id = h.film_id "
            "GROUP BY f.id ORDER BY tier, f.vote_count DESC, score LIMIT :n"
        )
        rows = await self._db.fetchall(
            sql,
            {
                "exact": exact,
                "prefix": title_prefix_match(tokens),
                "words": any_position_match(tokens),
                "n": limit + 10,
            },
        )
        return _rank(rows, normalize_title(query))

    async def _fuzzy_hits(self, tokens: list[str], limit: int, score: str) -> list[FilmHit]:
        groups = await self.correct_words(tokens)
        if groups is None:
            return []
        match = match_with_alternatives(groups)
        if match is None:
            return []
        rows = await self._db.fetchall(
            f"SELECT {_F_COLUMNS}, 3 AS tier, h.score AS score FROM ("  # noqa: S608
            f"SELECT film_id, rowid AS ord, {score} AS score FROM films_fts WHERE films_fts MATCH ? "
            "ORDER BY rowid LIMIT ?) h JOIN films f ON f.id = h.film_id ORDER BY h.ord",
            (match, limit + 10),
        )
        return _rank(rows, " ".join(t for g in groups for t in g[:1]))

    async def correct_words(self, tokens: list[str]) -> list[list[str]] | None:
        """For each word, the spellings the catalog knows: itself, or its one-edit neighbours.

        Words with no known spelling are left out; returns None when no word is left.
        The last word may be a prefix ("expres" is fine while typing "express").
        """
        if not tokens:
            return None
        return await self._db.read(lambda conn: _corrections(conn, tokens))

    async def suggest(self, query: str, *, limit: int = 5) -> list[Film]:
        """Films that share any word (or a corrected word) with ``query``, for "did you mean"."""
        tokens = [t for t in search_tokens(query) if len(t) >= 2]
        if not tokens:
            return []
        words: set[str] = set(tokens)
        for token in tokens:
            groups = await self.correct_words([token])
            if groups:
                words.update(groups[0])
        match = " OR ".join('"' + w.replace('"', '""') + '"' for w in sorted(words))
        rows = await self._db.fetchall(
            f"SELECT {_F_COLUMNS} FROM (SELECT film_id, rowid AS ord FROM films_fts WHERE films_fts MATCH ? "  # noqa: S608
            "ORDER BY rowid LIMIT ?) h JOIN films f ON f.id = h.film_id ORDER BY h.ord",
            (match, limit),
        )
        return [Film.from_row(r) for r in rows]

    # -- writes ---------------------------------------------------------------------

    async def add(
        self,
        title: str,
        *,
        year: int | None = None,
        directors: Sequence[str] = (),
        genres: Sequence[str] = (),
        source: str = "local",
    ) -> Film:
        """Add a minimal film (e.g. one known only from a review)."""
        async with self._db.transaction() as conn:
            cursor = await conn.execute(
                "INSERT INTO films (title, year, directors, genres, source) VALUES (?, ?, ?, ?, ?)",
                (title, year, json.dumps(list(directors)), json.dumps(list(genres)), source),
            )
            film_id = cursor.lastrowid
            await _add_terms(conn, [title])
        film = await self.get(int(film_id))
        assert film is not None
        return film

    async def attach_tmdb_id(self, film_id: int, tmdb_id: int) -> bool:
        """Link a local film to its TMDB entry, unless another film already has that id."""
        changed = await self._db.execute(
            "UPDATE films SET tmdb_id = ?1 WHERE id = ?2 AND tmdb_id IS NULL "
            "AND NOT EXISTS (SELECT 1 FROM films WHERE tmdb_id = ?1)",
            (tmdb_id, film_id),
        )
        return changed > 0

    async def mark_fetched(self, film_id: int) -> None:
        await self._db.execute(
            "UPDATE films SET fetched_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ?", (film_id,)
        )

    async def add_alt_titles(self, film_id: int, titles: Iterable[str]) -> None:
        titles = [t.strip() for t in titles if t and t.strip()]
        async with self._db.transaction() as conn:
            await conn.executemany(
                "INSERT OR IGNORE INTO film_titles (film_id, title) VALUES (?, ?)", [(film_id, t) for t in titles]
            )
            await _add_terms(conn, titles)

    async def upsert(self, record: FilmRecord) -> Film:
        """Insert or merge one film (a TMDB result, say) and return the stored film."""
        await self.import_batch([record])
        film = None
        if record.tmdb_id:
            film = await self.by_tmdb_id(record.tmdb_id)
        if film is None and record.imdb_id:
            film = await self.by_imdb_id(record.imdb_id)
        if film is None:
            film = await self.find_by_title(record.title, record.year)
        assert film is not None
        return film

    async def import_batch(self, records: Sequence[FilmRecord]) -> ImportCounts:
        """Upsert a batch in one transaction: match on IMDb id, TMDB id, then (title, year).

        Running the same batch twice changes nothing the second time, so imports
        can be re-run after an interruption.
        """
        records = _dedupe(records)
        counts = ImportCounts()
        if not records:
            return counts
        rows = [
            (
                seq,
                r.title,
                r.original_title if r.original_title and r.original_title != r.title else None,
                r.year,
                _json_or_none(r.directors),
                _json_or_none(r.cast),
                r.runtime_minutes,
                _json_or_none(r.genres),
                r.overview,
                r.poster_url,
                r.tmdb_id,
                r.imdb_id,
                r.popularity,
                r.vote_count,
                _json_or_none([t for t in r.alt_titles if t != r.title]),
                r.source,
                r.fetched_at,
            )
            for seq, r in enumerate(records)
        ]
        async with self._db.transaction() as conn:
            await conn.execute(
                "CREATE TEMP TABLE IF NOT EXISTS film_import (seq INTEGER PRIMARY KEY, film_id INTEGER, title TEXT, "
                "original_title TEXT, year INTEGER, directors TEXT, cast_members TEXT, runtime_minutes INTEGER, "
                "genres TEXT, overview TEXT, poster_url TEXT, tmdb_id INTEGER, imdb_id TEXT, popularity REAL, "
                "vote_count INTEGER, alt_titles TEXT, source TEXT, fetched_at TEXT)"
            )
            await conn.execute("DELETE FROM temp.film_import")
            await conn.executemany(
                f"INSERT INTO temp.film_import ({_STAGE_COLUMNS}) VALUES ({', '.join('?' * 17)})",  # noqa: S608
                rows,
            )
            for statement in _RESOLVE:
                await conn.execute(statement)
            unresolved = await conn.execute_fetchall("SELECT seq FROM temp.film_import WHERE film_id IS NULL")
            new_seqs = [r[0] for r in unresolved]
            # changes() counts the statement's own rows, not the index rows its triggers write.
            await conn.execute(_UPDATE_SQL)
            counts.updated = await _changes_of_last_statement(conn)
            await conn.execute(_INSERT_SQL)
            counts.added = await _changes_of_last_statement(conn)
            if counts.added:
                for statement in _RESOLVE:
                    await conn.execute(statement)
            await conn.execute(
                "INSERT OR IGNORE INTO film_titles (film_id, title) SELECT b.film_id, j.value "
                "FROM temp.film_import b, json_each(b.alt_titles) j "
                "WHERE b.alt_titles IS NOT NULL AND b.film_id IS NOT NULL AND trim(j.value) <> ''"
            )
            await _add_terms(conn, [t for seq in new_seqs for t in records[seq].all_titles()])
            if counts.updated:  # a changed title may bring new words; known words keep their counts
                fresh = set(new_seqs)
                others = [t for seq, r in enumerate(records) if seq not in fresh for t in r.all_titles()]
                await _add_terms(conn, others, count=False)
            await conn.execute("DELETE FROM temp.film_import")
        counts.unchanged = len(records) - counts.added - counts.updated
        return counts

    async def set_directors_by_imdb(self, pairs: Sequence[tuple[str, Sequence[str]]]) -> int:
        """Attach directors to films imported by IMDb id; returns how many films changed."""
        rows = [(json.dumps(list(names), ensure_ascii=False), imdb_id) for imdb_id, names in pairs if names]
        return await self._changes(
            "UPDATE films SET directors = ?1 WHERE imdb_id = ?2 AND directors IS NOT ?1 AND directors = '[]'", rows
        )

    async def stage_imdb_ratings(self, rows: Sequence[tuple[str, int, float]]) -> None:
        """Park IMDb vote counts in a temp table, so films are indexed with them on insert.

        Updating votes after the fact would rewrite every film's index row (its
        rowid encodes the votes); staging first halves the cost of a full import.
        """
        async with self._db.transaction() as conn:
            await conn.execute(
                "CREATE TEMP TABLE IF NOT EXISTS imdb_ratings (imdb_id TEXT PRIMARY KEY, votes INTEGER, rating REAL)"
            )
            await conn.executemany("INSERT OR REPLACE INTO temp.imdb_ratings VALUES (?, ?, ?)", rows)

    async def staged_imdb_ratings(self, imdb_ids: Sequence[str]) -> dict[str, tuple[int, float]]:
        found: dict[str, tuple[int, float]] = {}
        ids = list(imdb_ids)
        # A TEMP table lives on the writer connection only, so it is read inside a transaction.
        async with self._db.transaction() as conn:
            for start in range(0, len(ids), 900):
                chunk = ids[start : start + 900]
                rows = await conn.execute_fetchall(
                    "SELECT imdb_id, votes, rating FROM temp.imdb_ratings "  # noqa: S608
                    f"WHERE imdb_id IN ({', '.join('?' * len(chunk))})",
                    chunk,
                )
                found.update({r[0]: (int(r[1]), float(r[2] or 0.0)) for r in rows})
        return found

    async def drop_staged_imdb_ratings(self) -> None:
        await self._db.execute("DROP TABLE IF EXISTS temp.imdb_ratings")

    async def add_alt_titles_by_imdb(self, pairs: Sequence[tuple[str, str]]) -> int:
        rows = [(title, imdb_id) for imdb_id, title in pairs if title.strip()]
        changed = await self._changes(
            "INSERT OR IGNORE INTO film_titles (film_id, title) SELECT id, ?1 FROM films "
            "WHERE imdb_id = ?2 AND title <> ?1 COLLATE NOCASE",
            rows,
        )
        if changed:
            async with self._db.transaction() as conn:
                await _add_terms(conn, [t for t, _ in rows])
        return changed

    async def _changes(self, sql: str, rows: list[tuple[Any, ...]]) -> int:
        """Run ``sql`` for every row in one transaction; returns the rows it changed itself."""
        if not rows:
            return 0
        async with self._db.transaction() as conn, conn.executemany(sql, rows) as cursor:
            # sqlite3 sums changes() over executemany; trigger writes are not included.
            return max(cursor.rowcount, 0)

    async def terms_missing(self) -> bool:
        """True when films exist but the typo vocabulary is empty (films added before 0004)."""
        row = await self._db.fetchone(
            "SELECT EXISTS (SELECT 1 FROM films), EXISTS (SELECT 1 FROM film_terms)",
        )
        return bool(row and row[0] and not row[1])

    async def rebuild_terms(self) -> int:
        """Recount the title vocabulary from scratch; returns the number of distinct words."""
        counter: Counter[str] = Counter()
        last_id = 0
        while True:
            rows = await self._db.fetchall(
                "SELECT f.id, f.title, coalesce(f.original_title, ''), "
                "coalesce((SELECT group_concat(t.title, ' ') FROM film_titles t WHERE t.film_id = f.id), '') "
                "FROM films f WHERE f.id > ? ORDER BY f.id LIMIT 5000",
                (last_id,),
            )
            if not rows:
                break
            for row in rows:
                counter.update(set(search_tokens(" ".join(row[1:4]), limit=10_000)))
            last_id = rows[-1][0]
        async with self._db.transaction() as conn:
            await conn.execute("DELETE FROM film_terms")
            await conn.executemany("INSERT INTO film_terms (term, films) VALUES (?, ?)", counter.items())
        return len(counter)


async def _changes_of_last_statement(conn: Any) -> int:
    rows = await conn.execute_fetchall("SELECT changes()")
    return int(rows[0][0])


async def _add_terms(conn: Any, titles: Iterable[str], *, count: bool = True) -> None:
    """Add title words to the typo vocabulary; ``count=False`` only adds words not yet known."""
    counter: Counter[str] = Counter()
    for title in titles:
        counter.update(set(search_tokens(title, limit=10_000)))
    if not counter:
        return
    if count:
        await conn.executemany(
            "INSERT INTO film_terms (term, films) VALUES (?, ?) "
            "ON CONFLICT (term) DO UPDATE SET films = films + excluded.films",
            counter.items(),
        )
    else:
        await conn.executemany("INSERT OR IGNORE INTO film_terms (term, films) VALUES (?, 1)", [(t,) for t in counter])


def _rank(rows: Sequence[Any], wanted: str) -> list[FilmHit]:
    """Order rows by tier; an accent-insensitive exact title counts as exact.

    Within a tier: more votes first, then better bm25 (more negative), then the shorter title.
    """
    hits: list[FilmHit] = []
    for row in rows:
        film = Film.from_row(row)
        tier = int(row["tier"])
        if (
            tier > TIER_EXACT
            and wanted
            and wanted
            in (
                normalize_title(film.title),
                normalize_title(film.original_title or ""),
            )
        ):
            tier = TIER_EXACT
        hits.append(FilmHit(film=film, tier=tier, score=float(row["score"] or 0.0)))
    hits.sort(key=lambda h: (h.tier, -math.log1p(max(h.film.vote_count, 0)), h.score, len(h.film.title)))
    return hits
