"""Autocomplete search over the film catalog, as one synchronous read for the reader thread.

Same tiers and order as :meth:`FilmRepository.search_hits` with ``bm25=False``
(exact title > title prefix > words anywhere > typo fix; most-voted first, then
the shorter title), tuned for the keystroke path:

- the whole search (every tier, typo fallback included) runs in one thread hop
  via :meth:`Database.read`, instead of three aiosqlite hops per statement;
- the words-anywhere tier is skipped when exact and prefix matches already fill
  the choices: it can only add lower-ranked films (its matches are a superset
  of the prefix matches in the same rowid order, so any film it could promote
  to "exact" is already among the prefix matches);
- only the columns the choice label needs are read, the first director is
  taken by SQLite's JSON functions, and no :class:`Film` is built.

What it still costs over one raw ``films_fts MATCH`` (bench figure 2): a thread
hop (~0.07 ms), the title-prefix phrase (``^"the" + "of"*`` must walk the
common words' position lists when few titles start that way) before the
words-anywhere match, and for typos a few indexed look-ups in the deletion
neighbourhood of the typed words (migration 0015; it replaced ~600 generated
spellings per word). Cutting more means a cheaper prefix tier (an indexed,
normalised title key for long prefixes), which needs a schema change.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from .film_search import (
    any_position_match,
    correction_groups,
    deletions,
    match_with_alternatives,
    normalize_title,
    one_edit_apart,
    search_tokens,
    title_prefix_match,
    typo_words,
)

__all__ = ["FilmSuggestion", "autocomplete", "corrections"]

# id, title, original_title, year, vote_count, first director
_COLUMNS = (
    "f.id, f.title, f.original_title, f.year, f.vote_count, "
    "CASE WHEN json_valid(f.directors) THEN json_extract(f.directors, '$[0]') END"
)
# The index's rowid is ((2^31 - 1 - votes) << 32) + film id (migration 0004), so the film id is
# its low 32 bits: reading it from the rowid skips a read of the index's content row per hit
# (the UNINDEXED film_id column), about a third of the cost of a short prefix match.
_FILM_ID = "(rowid & 4294967295)"
_STRICT = (
    "WITH hits (film_id, tier) AS ("  # noqa: S608 - constant fragments only
    "SELECT * FROM (SELECT id, 0 FROM films WHERE title = :exact COLLATE NOCASE LIMIT :n) "
    "UNION ALL SELECT * FROM (SELECT film_id, 0 FROM film_titles WHERE title = :exact COLLATE NOCASE LIMIT :n) "
    f"UNION ALL SELECT * FROM (SELECT {_FILM_ID}, 1 FROM films_fts WHERE films_fts MATCH :prefix "
    "ORDER BY rowid LIMIT :n)) "
    f"SELECT {_COLUMNS}, min(h.tier) FROM hits h JOIN films f ON f.id = h.film_id GROUP BY f.id"
)
_MATCH = (
    f"SELECT {_COLUMNS}, ? FROM (SELECT {_FILM_ID} AS film_id FROM films_fts WHERE films_fts MATCH ? "  # noqa: S608
    "ORDER BY rowid LIMIT ?) h JOIN films f ON f.id = h.film_id"
)
_POPULAR = (
    f"SELECT {_COLUMNS}, 1 FROM (SELECT {_FILM_ID} AS film_id FROM films_fts ORDER BY rowid LIMIT ?) h "  # noqa: S608
    "JOIN films f ON f.id = h.film_id ORDER BY f.vote_count DESC, f.id"
)
_TIER_EXACT, _TIER_WORDS, _TIER_FUZZY = 0, 2, 3  # as in films.py
_OVERFETCH = 10  # as search_hits: a few spare rows per tier for ties and duplicates


@dataclass(frozen=True, slots=True)
class FilmSuggestion:
    """What an autocomplete choice shows: "Title (Year) — Director"; ``id`` is its value."""

    id: int
    title: str
    year: int | None
    director: str | None


def autocomplete(conn: sqlite3.Connection, query: str, limit: int) -> list[FilmSuggestion]:
    """Up to ``limit`` films for what a member has typed so far; never raises on member input.

    Blank input gets the most-voted films; input with nothing searchable (emoji
    only, punctuation) gets none.
    """
    limit = max(1, min(int(limit), 100))
    n = limit + _OVERFETCH
    tokens = search_tokens(query)
    if not tokens:
        rows = [] if query.strip() else conn.execute(_POPULAR, (limit,)).fetchall()
        return [_suggestion(row) for row in rows]  # already most-voted first, as popular() orders them
    wanted = normalize_title(query)
    exact = " ".join(query.split())[:300]
    rows = conn.execute(_STRICT, {"exact": exact, "prefix": title_prefix_match(tokens), "n": n}).fetchall()
    if len(rows) < limit:
        seen = {row[0] for row in rows}
        words = conn.execute(_MATCH, (_TIER_WORDS, any_position_match(tokens), n)).fetchall()
        rows += [row for row in words if row[0] not in seen]
    if rows:
        return _ranked(rows, wanted, limit)
    groups = corrections(conn, tokens)
    match = match_with_alternatives(groups) if groups else None
    if match is None:
        return []
    rows = conn.execute(_MATCH, (_TIER_FUZZY, match, n)).fetchall()
    return _ranked(rows, " ".join(g[0] for g in groups if g), limit)


def corrections(conn: sqlite3.Connection, tokens: list[str]) -> list[list[str]] | None:
    """For each word, the spellings the catalog knows (itself, or its one-edit neighbours); see
    :meth:`FilmRepository.correct_words`. Three indexed statements at most, whatever the words' length.
    """
    # The words themselves first: a known word that is not the last needs no neighbours.
    known = _known(conn, sorted(set(tokens)))
    last = tokens[-1]
    fuzzy = typo_words(tokens, skip={t for t in tokens if t in known and t != last})
    variants: dict[str, set[str]] = {}
    if fuzzy:
        # The deletion neighbourhood (migration 0015): words sharing a key with a typed word, kept only
        # when truly one edit away; the same words edit_variants() would have found, in ~1/50 the look-ups.
        keys = sorted(set().union(*(deletions(word) for word in fuzzy)))
        placeholders = ", ".join("?" for _ in keys)
        sql = (
            "SELECT DISTINCT t.term, t.films FROM film_term_deletions d JOIN film_terms t ON t.term = d.term "  # noqa: S608
            f"WHERE d.variant IN ({placeholders})"
        )
        near = {term: int(films) for term, films in conn.execute(sql, keys)}
        for word in fuzzy:
            variants[word] = {term for term in near if one_edit_apart(word, term)}
            known.update((term, near[term]) for term in variants[word])
    last_is_prefix = last in known or (
        conn.execute(
            "SELECT 1 FROM film_terms WHERE term >= ? AND term < ? LIMIT 1", (last, last + "\U0010ffff")
        ).fetchone()
        is not None
    )
    return correction_groups(tokens, variants, known, last_is_prefix)


def _known(conn: sqlite3.Connection, words: list[str]) -> dict[str, int]:
    """Which of ``words`` the title vocabulary has, with how many films use each."""
    placeholders = ", ".join("?" for _ in words)
    sql = f"SELECT term, films FROM film_terms WHERE term IN ({placeholders})"  # noqa: S608
    return {term: int(films) for term, films in conn.execute(sql, words)}


def _ranked(rows: list[tuple], wanted: str, limit: int) -> list[FilmSuggestion]:
    """Order as ``films._rank`` does (an accent-insensitive exact title counts as exact), best ``limit``."""
    keyed = []
    first = wanted.split(" ", 1)[0]
    for row in rows:
        film_id, title, original_title, _, votes, _, tier = row
        if (
            tier > _TIER_EXACT
            and wanted
            and (_may_equal(title, first) or _may_equal(original_title, first))
            and wanted in (normalize_title(title), normalize_title(original_title or ""))
        ):
            tier = _TIER_EXACT
        keyed.append(((tier, -max(votes or 0, 0), len(title), film_id), row))
    keyed.sort(key=lambda k: k[0])
    return [_suggestion(row) for _, row in keyed[:limit]]


def _may_equal(title: str | None, first_word: str) -> bool:
    """Cheap pre-check for "normalises to the wanted title": an ASCII title must contain its first word."""
    if not title:
        return False
    return not title.isascii() or first_word in title.lower()


def _suggestion(row: tuple) -> FilmSuggestion:
    film_id, title, _, year, _, director, _ = row
    return FilmSuggestion(film_id, title, year, director if isinstance(director, str) and director.strip() else None)
