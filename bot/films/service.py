"""FilmService: what the /film, /rate, /top and /watchlist commands (and every film option) ask for.

No discord.py here: the cog turns interactions into these calls and renders the
plain results. Ratings from discussion-thread polls are stored by the discussions
feature in ``film_ratings`` with source 'poll'; /rate writes source 'rate' to the
same row, so both count once per member in averages and leaderboards (an explicit
/rate wins over a later poll vote).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from ..errors import NotFoundError, UserFacingError
from ..models import Film, Review
from ..paging import Page, page_count
from ..reviews.search import ReviewLink, ReviewSearchService
from ..storage import Database, RatingRepository, RatingSummary, ReviewRepository
from ..storage.film_search import normalize_title
from ..storage.film_stats import FilmStatsRepository, LeaderboardRow
from ..storage.films import FilmRepository
from ..storage.guilds import DEFAULT_TOP_MIN_VOTES, GuildSettingsRepository
from ..storage.watchlist import MAX_WATCHLIST, WatchlistRepository
from ..text import AUTOCOMPLETE_CHOICES
from ..timestamps import utc_iso
from .catalog import FilmCatalog, FilmChoice, choice_name
from .tmdb import TmdbClient

__all__ = [
    "PERIODS",
    "TOP_MIN_VOTES",
    "TOP_MIN_VOTES_MAX",
    "FilmCard",
    "FilmPick",
    "FilmService",
    "parse_stars",
    "period_start",
]

TOP_MIN_VOTES = DEFAULT_TOP_MIN_VOTES  # a server changes it with /matinee top-min-votes
TOP_MIN_VOTES_MAX = 50  # the column's CHECK in migration 0008 holds 1..50 too
TOP_PAGE_SIZE = 10
WATCHLIST_PAGE_SIZE = 10
PERIODS = {"week": 7, "month": 30, "year": 365, "all": None}


def parse_stars(value: float | str) -> float:
    """0.5 to 5 stars in half steps; anything else is a clear, member-facing error."""
    try:
        stars = float(str(value).strip().replace(",", ".").rstrip("★*").strip())
    except ValueError:
        raise UserFacingError("Stars must be a number from 0.5 to 5, in half steps (e.g. 3.5).") from None
    if not math.isfinite(stars) or stars < 0.5 or stars > 5 or (stars * 2) != int(stars * 2):
        raise UserFacingError("Stars must be from 0.5 to 5, in half steps (e.g. 3.5).")
    return stars


def period_start(period: str | None, now: datetime | None = None) -> str | None:
    """The ISO timestamp a leaderboard period starts at (None: all time)."""
    days = PERIODS.get((period or "all").lower())
    if days is None:
        return None
    start = (now or datetime.now(UTC)) - timedelta(days=days)
    return utc_iso(start.replace(microsecond=0))  # whole seconds: the period, not the instant


class FilmPick(NamedTuple):
    """The film a member named in a film option, and a note to show with it (e.g. TMDB was unreachable)."""

    film: Film
    note: str | None = None


@dataclass(slots=True)
class FilmCard:
    film: Film
    reviews: list[ReviewLink] = field(default_factory=list)
    rating: RatingSummary = field(default_factory=lambda: RatingSummary(None, 0))
    comments: int = 0
    note: str | None = None
    member_rating: float | None = None

    @property
    def discussion_url(self) -> str | None:
        """The newest review's thread in this guild: where "Join the discussion" goes."""
        return next((link.thread_url for link in self.reviews if link.thread_url), None)


class FilmService:
    """Everything the films cog needs, built from the bot's shared database (and TMDB client)."""

    def __init__(self, db: Database, *, tmdb: TmdbClient | None = None, cache_ttl_hours: int = 168) -> None:
        self.films = FilmRepository(db)
        self.catalog = FilmCatalog(self.films, tmdb=tmdb, cache_ttl_hours=cache_ttl_hours)
        self.ratings = RatingRepository(db)
        self.stats = FilmStatsRepository(db)
        self.watchlist = WatchlistRepository(db)
        self.reviews = ReviewRepository(db)
        self.guild_settings = GuildSettingsRepository(db)
        self.review_search = ReviewSearchService(db)

    @property
    def uses_tmdb(self) -> bool:
        """Whether look-ups and cards may call TMDB (and so may take longer than Discord's 3 s)."""
        return self.catalog.tmdb is not None

    async def prepare(self) -> None:
        """Build the typo vocabulary if films predate it (cheap no-op otherwise)."""
        if await self.films.terms_missing():
            await self.films.rebuild_terms()

    async def adopt_review_film(self, review: Review) -> Film | None:
        """Films enter the catalog from reviews: link the review to its film, adding the film if new."""
        if review.film_id is not None or not (review.film_title or "").strip():
            return None
        title = " ".join(review.film_title.split())[:300]
        film = await self.films.find_by_title(title, review.film_year) or (
            await self.films.find_by_title(title) if not review.film_year else None
        )
        if film is None:
            film = await self.films.add(title, year=review.film_year, source="review")
            self.catalog.invalidate()
        await self.stats.link_review(review.id, film.id)
        return film

    async def adopt_review_films(self, limit: int = 500) -> int:
        """Link every stored review that names a film (start-up backfill); returns how many."""
        linked = 0
        for review in await self.stats.reviews_without_film(limit):
            if await self.adopt_review_film(review) is not None:
                linked += 1
        return linked

    # -- film options: choices while typing, then the film submitted ----------------------

    async def film_choices(self, user_id: int, typed: str) -> list[FilmChoice]:
        """Up to 25 catalog films for what the member typed so far (local only: never waits for TMDB)."""
        choices = await self.catalog.autocomplete(typed, AUTOCOMPLETE_CHOICES)
        self.catalog.remember_offer(user_id, choices)
        return choices

    async def watchlist_choices(self, user_id: int, typed: str) -> list[FilmChoice]:
        """The member's own watchlist, filtered by what they typed (for /watchlist remove)."""
        films = await self.watchlist.list(user_id, limit=MAX_WATCHLIST)
        wanted = normalize_title(typed)
        matching = [f for f in films if wanted in normalize_title(f"{f.title} {f.original_title or ''}")]
        choices = [FilmChoice(f.id, choice_name(f), str(f.id)) for f in matching[:AUTOCOMPLETE_CHOICES]]
        self.catalog.remember_offer(user_id, choices)
        return choices

    async def require_film(self, value: str, *, user_id: int | None = None) -> FilmPick:
        """Resolve an option value to a film, or raise a "no film found" with suggestions.

        A picked choice sends the film id; typed text is a title ("1917" finds the film 1917
        unless this member was just offered the film with id 1917).
        """
        lookup = await self.catalog.resolve(value, user_id=user_id)
        if lookup.film is None:
            shown = " ".join((value or "").split())[:80] or "that"
            message = f"No film found for “{shown}”."
            if lookup.suggestions:
                message += " Did you mean: " + ", ".join(f.label for f in lookup.suggestions[:5]) + "?"
            else:
                message += " Try fewer words, or pick one of the suggestions as you type."
            if lookup.note:
                message += f"\n-# {lookup.note}"
            raise NotFoundError(message)
        return FilmPick(lookup.film, lookup.note)

    async def card(self, film: Film, *, guild_id: int | None, user_id: int | None = None) -> FilmCard:
        film, note = await self.catalog.details(film)
        links = await self.review_search.links((await self.reviews.for_film(film.id))[:10], guild_id)
        summary = await self.ratings.summary(film.id, guild_id)
        comments = await self.stats.comment_count(film.id, guild_id)
        mine = None
        if guild_id is not None and user_id is not None:
            mine = await self.ratings.get_rating(guild_id, user_id, film.id)
        return FilmCard(film, links, summary, comments, note, mine)

    async def rate(self, guild_id: int, user_id: int, film: Film, stars: float | str) -> tuple[float, float | None]:
        """Record a /rate (replacing the member's earlier rating); returns (new, previous)."""
        value = parse_stars(stars)
        previous = await self.ratings.get_rating(guild_id, user_id, film.id)
        await self.ratings.set_rating(guild_id, user_id, film.id, value, source="rate")
        return value, previous

    async def top_min_votes(self, guild_id: int) -> int:
        """The fewest ratings a film needs to appear in this guild's /top (3 unless staff changed it)."""
        return (await self.guild_settings.get(guild_id)).top_min_votes

    async def set_top_min_votes(self, guild_id: int, votes: int) -> int:
        """Change this guild's /top minimum (1 to 50 ratings); returns what is stored."""
        if not 1 <= votes <= TOP_MIN_VOTES_MAX:
            raise UserFacingError(f"A film can be required to have 1 to {TOP_MIN_VOTES_MAX} ratings, not {votes}.")
        return (await self.guild_settings.update(guild_id, top_min_votes=votes)).top_min_votes

    async def top(
        self,
        guild_id: int,
        *,
        genre: str | None = None,
        period: str | None = None,
        page: int = 0,
        min_votes: int | None = None,
    ) -> Page[LeaderboardRow]:
        """A page of the leaderboard: films with at least ``min_votes`` ratings (default: the guild's setting)."""
        if min_votes is None:
            min_votes = await self.top_min_votes(guild_id)
        since = period_start(period)
        page = max(0, page)
        rows, total = await self.stats.leaderboard(
            guild_id,
            genre=(genre or "").strip() or None,
            since=since,
            min_votes=min_votes,
            limit=TOP_PAGE_SIZE,
            offset=page * TOP_PAGE_SIZE,
        )
        return Page(rows, page, page_count(total, TOP_PAGE_SIZE), total)

    # -- watchlist ------------------------------------------------------------------------

    async def watchlist_add(self, user_id: int, film: Film) -> bool:
        if await self.watchlist.count(user_id) >= MAX_WATCHLIST:
            raise UserFacingError(f"Your watchlist is full ({MAX_WATCHLIST} films). Remove some first.")
        return await self.watchlist.add(user_id, film.id)

    async def watchlist_remove(self, user_id: int, film: Film) -> bool:
        return await self.watchlist.remove(user_id, film.id)

    async def watchlist_page(self, user_id: int, page: int = 0) -> Page[Film]:
        total = await self.watchlist.count(user_id)
        pages = page_count(total, WATCHLIST_PAGE_SIZE)
        page = min(max(0, page), pages - 1)
        films = await self.watchlist.list(user_id, limit=WATCHLIST_PAGE_SIZE, offset=page * WATCHLIST_PAGE_SIZE)
        return Page(films, page, pages, total)

    async def watchlist_random(self, user_id: int) -> Film:
        film = await self.watchlist.random(user_id)
        if film is None:
            raise UserFacingError("Your watchlist is empty. Add films with `/watchlist add`.")
        return film
