"""FilmCatalog: the service behind /film, /rate, /watchlist autocomplete and look-ups.

``FilmCatalog.autocomplete(query, limit=25)`` is the hot path (Discord allows 3 s;
we aim for milliseconds): one read on the storage layer's reader thread
(``FilmRepository.autocomplete``: indexed statements bounded by LIMIT), plus a
small in-process LRU so re-typed prefixes (backspace, two members typing the same
title) cost a dictionary look-up. The LRU entries expire after a few seconds and
the cache is cleared whenever this catalog writes, so results are never stale for long.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from ..models import Film
from ..storage.film_search import normalize_title
from ..storage.films import FilmRepository
from ..text import CHOICE_NAME, truncate
from ..timestamps import parse_utc_iso
from .tmdb import TmdbClient, TmdbUnavailable

__all__ = ["TMDB_UNAVAILABLE_NOTE", "FilmCatalog", "FilmChoice", "Lookup", "choice_label", "choice_name"]

log = logging.getLogger(__name__)

TMDB_UNAVAILABLE_NOTE = "TMDB is unavailable right now; showing local results."
_CACHE_SIZE = 2048
_CACHE_SECONDS = 30.0
_OFFER_SECONDS = 15 * 60
_MAX_OFFER_USERS = 5000


@dataclass(frozen=True, slots=True)
class FilmChoice:
    """One autocomplete choice: ``name`` "Title (Year) — Director" (≤ 100), ``value`` the film id."""

    film_id: int
    name: str
    value: str


@dataclass(slots=True)
class Lookup:
    """The answer to "which film did the member mean?"."""

    film: Film | None
    note: str | None = None
    suggestions: list[Film] = field(default_factory=list)


def choice_name(film: Film) -> str:
    """ "Title (Year) — Director", within Discord's 100-character choice name limit.

    The director part is capped first so a long title still shows its year.
    """
    return choice_label(film.title, film.year, film.directors[0] if film.directors else None)


def choice_label(title: str, year: int | None, director: str | None) -> str:
    """:func:`choice_name` from the three fields it shows (autocomplete reads only these)."""
    year_part = f" ({year})" if year else ""
    director_part = f" — {truncate(director, 30)}" if director else ""
    title = " ".join(title.split()) or "Untitled"
    room = CHOICE_NAME - len(year_part) - len(director_part)
    return truncate(f"{truncate(title, max(room, 10))}{year_part}{director_part}", CHOICE_NAME)


class FilmCatalog:
    def __init__(
        self,
        films: FilmRepository,
        *,
        tmdb: TmdbClient | None = None,
        cache_ttl_hours: int = 168,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.films = films
        self.tmdb = tmdb
        self.cache_ttl = timedelta(hours=cache_ttl_hours)
        self._clock = clock
        self._cache: OrderedDict[tuple[str, int], tuple[float, list[FilmChoice]]] = OrderedDict()
        self._offers: OrderedDict[int, tuple[float, set[int]]] = OrderedDict()

    # -- autocomplete -------------------------------------------------------------------

    async def autocomplete(self, query: str, limit: int = 25) -> list[FilmChoice]:
        """Up to ``limit`` (≤ 25) choices for what the member typed so far; never raises on input."""
        limit = max(1, min(int(limit), 25))
        normalized = normalize_title(query[:200])
        # Empty input (popular films) and emoji-only input (nothing) must not share a cache slot.
        key = (normalized if normalized or not query.strip() else "\x00", limit)
        now = self._clock()
        cached = self._cache.get(key)
        if cached is not None and now - cached[0] < _CACHE_SECONDS:
            self._cache.move_to_end(key)
            return cached[1]
        # One read on the reader thread: every tier, the typo fallback, or the most-voted
        # films for blank input (and nothing for emoji-only input).
        found = await self.films.autocomplete(query[:200], limit)
        choices = [FilmChoice(s.id, choice_label(s.title, s.year, s.director), str(s.id)) for s in found]
        self._cache[key] = (now, choices)
        self._cache.move_to_end(key)
        while len(self._cache) > _CACHE_SIZE:
            self._cache.popitem(last=False)
        return choices

    def invalidate(self) -> None:
        """Forget cached autocomplete results (after this process changed the catalog)."""
        self._cache.clear()

    def remember_offer(self, user_id: int, choices: list[FilmChoice]) -> None:
        """Remember which film ids a member was just offered.

        A submitted value of "1917" is ambiguous: the id of a chosen film, or the
        title "1917" typed and sent without picking. If we offered film id 1917 to
        this member moments ago, it is a pick; otherwise it is text.
        """
        self._offers[user_id] = (self._clock(), {c.film_id for c in choices})
        self._offers.move_to_end(user_id)
        while len(self._offers) > _MAX_OFFER_USERS:
            self._offers.popitem(last=False)

    def _was_offered(self, user_id: int | None, film_id: int) -> bool:
        if user_id is None:
            return False
        entry = self._offers.get(user_id)
        return entry is not None and self._clock() - entry[0] < _OFFER_SECONDS and film_id in entry[1]

    # -- resolving what the member submitted -------------------------------------------------

    async def resolve(self, value: str, *, user_id: int | None = None) -> Lookup:
        """The film a submitted option value means: a picked id, or typed text (then search, TMDB).

        Never raises for odd input; an unknown film comes back as ``Lookup(None, ...)``
        with "did you mean" suggestions.
        """
        text = (value or "").strip()[:200]
        if not text:
            return Lookup(None, suggestions=await self.films.popular(5))
        if text.isascii() and text.isdigit() and len(text) <= 18:
            film_id = int(text)
            if self._was_offered(user_id, film_id):
                film = await self.films.get(film_id)
                if film is not None:
                    return Lookup(film)
            by_title = await self.films.search_hits(text, limit=1, fuzzy=False)
            if by_title and by_title[0].tier == 0:
                return Lookup(by_title[0].film)
            film = await self.films.get(film_id)
            if film is not None:
                return Lookup(film)
        hits = await self.films.search_hits(text, limit=5)
        if hits and hits[0].tier <= 1:
            return Lookup(hits[0].film)
        note = None
        if self.tmdb is not None:
            try:
                found = await self._tmdb_search(text)
            except TmdbUnavailable:
                found = None
                note = TMDB_UNAVAILABLE_NOTE
            if found is not None:
                return Lookup(found)
        if hits:
            return Lookup(hits[0].film, note=note)
        return Lookup(None, note=note, suggestions=await self.films.suggest(text, limit=5))

    async def _tmdb_search(self, text: str) -> Film | None:
        assert self.tmdb is not None
        results = await self.tmdb.search(text, limit=5)
        if not results:
            return None
        wanted = normalize_title(text)
        best = next((r for r in results if normalize_title(r.title) == wanted), results[0])
        detailed = await self.tmdb.details(best.tmdb_id) if best.tmdb_id else None
        film = await self.films.upsert(detailed or best)
        self.invalidate()
        return film

    # -- details (TMDB enrichment with a TTL) ------------------------------------------------

    async def details(self, film: Film) -> tuple[Film, str | None]:
        """The film with fresh TMDB details when TMDB is configured and the cache is stale.

        Returns the (possibly updated) film and a note when TMDB could not be reached.
        """
        if self.tmdb is None:
            return film, None
        fetched = await self.films.fetched_at(film.id)
        if fetched and not self._expired(fetched):
            return film, None
        try:
            record = None
            if film.tmdb_id:
                record = await self.tmdb.details(film.tmdb_id)
            else:
                candidates = await self.tmdb.search(film.title, year=film.year, limit=5)
                wanted = normalize_title(film.title)
                match = next(
                    (
                        c
                        for c in candidates
                        if normalize_title(c.title) == wanted and (not film.year or c.year == film.year)
                    ),
                    None,
                )
                if match is not None and match.tmdb_id:
                    existing = await self.films.by_tmdb_id(match.tmdb_id)
                    if existing is None or existing.id == film.id:
                        record = await self.tmdb.details(match.tmdb_id)
        except TmdbUnavailable:
            return film, TMDB_UNAVAILABLE_NOTE
        if record is None or not record.tmdb_id:
            await self.films.mark_fetched(film.id)  # no TMDB match: don't ask again until the TTL ends
            return film, None
        # Attach the TMDB id first so the upsert merges into this film instead of adding one.
        if not film.tmdb_id:
            await self.films.attach_tmdb_id(film.id, record.tmdb_id)
        updated = await self.films.upsert(record)
        self.invalidate()
        return updated, None

    def _expired(self, fetched_at: str) -> bool:
        when = parse_utc_iso(fetched_at)
        return when is None or datetime.now(UTC) - when > self.cache_ttl

    async def get(self, film_id: int) -> Film | None:
        return await self.films.get(film_id)
