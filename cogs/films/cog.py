"""/film, /rate, /top, /reviews and /watchlist: thin adapters over bot.films.FilmService."""

from __future__ import annotations

import logging

import discord
from discord import app_commands
from discord.ext import commands

from bot.bot import MatineeBot
from bot.films.catalog import FilmChoice, choice_name
from bot.films.service import PERIODS, TOP_MIN_VOTES, FilmService, parse_stars
from bot.films.tmdb import TmdbClient
from bot.models import Film, Review
from bot.outbound import Purpose
from bot.storage.film_search import normalize_title
from bot.text import CHOICE_NAME, star_rating, truncate

from .render import (
    NO_MENTIONS,
    PagedView,
    card_embed,
    card_view,
    film_line,
    reviews_embed,
    top_embed,
    watchlist_embed,
)

log = logging.getLogger(__name__)

STAR_CHOICES = [app_commands.Choice(name=f"{star_rating(v / 2)} ({v / 2:g})", value=v / 2) for v in range(10, 0, -1)]
PERIOD_CHOICES = [
    app_commands.Choice(name=name, value=value)
    for name, value in (("This week", "week"), ("This month", "month"), ("This year", "year"), ("All time", "all"))
]
assert set(PERIODS) == {c.value for c in PERIOD_CHOICES}


def _choices(films: list[FilmChoice]) -> list[app_commands.Choice[str]]:
    return [app_commands.Choice(name=c.name, value=c.value) for c in films]


class Films(commands.Cog):
    """Film look-up, member ratings, leaderboards, review search and watchlists."""

    watchlist_group = app_commands.Group(name="watchlist", description="Your personal list of films to watch")

    def __init__(self, bot: MatineeBot) -> None:
        self.bot = bot
        settings = bot.settings
        tmdb = None
        if settings.tmdb_configured and settings.tmdb_api_key is not None:
            tmdb = TmdbClient(
                bot.outbound.session(Purpose.TMDB),
                base_url=settings.tmdb_api_base,
                api_key=settings.tmdb_api_key,
                requests_per_second=settings.tmdb_requests_per_second,
            )
        self.service = FilmService(bot.db, tmdb=tmdb, cache_ttl_hours=settings.tmdb_cache_ttl_hours)

    async def cog_load(self) -> None:
        await self.service.prepare()
        try:
            await self.service.adopt_review_films()
        except Exception:  # a backfill problem must not keep film lookup from loading
            log.exception("could not link stored reviews to catalog films")

    @commands.Cog.listener()
    async def on_review_announced(self, review: Review, announcement: object) -> None:
        await self._adopt(review)

    @commands.Cog.listener()
    async def on_review_updated(self, review: Review) -> None:
        await self._adopt(review)

    async def _adopt(self, review: Review) -> None:
        try:
            await self.service.adopt_review_film(review)
        except Exception:
            log.exception("could not add the film of review %s to the catalog", getattr(review, "id", "?"))

    # -- shared helpers ---------------------------------------------------------------

    async def _film_choices(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        """Autocomplete over the catalog; never raises (an error means no choices, logged)."""
        try:
            choices = await self.service.catalog.autocomplete(current or "", 25)
        except Exception:
            log.exception("film autocomplete failed for %r", (current or "")[:50])
            return []
        self.service.catalog.remember_offer(interaction.user.id, choices)
        return _choices(choices)

    async def _film(self, interaction: discord.Interaction, value: str) -> tuple[Film, str | None]:
        return await self.service.require_film(value, user_id=interaction.user.id)

    @staticmethod
    async def _send(interaction: discord.Interaction, **kwargs) -> None:
        kwargs.setdefault("allowed_mentions", NO_MENTIONS)
        if kwargs.get("view") is None:
            kwargs.pop("view", None)
        if interaction.response.is_done():
            await interaction.followup.send(**kwargs)
        else:
            await interaction.response.send_message(**kwargs)

    # -- /film ---------------------------------------------------------------------------

    @app_commands.command(name="film", description="Look a film up: details, our reviews, ratings and discussion")
    @app_commands.describe(title="Start typing a title and pick the film")
    async def film(self, interaction: discord.Interaction, title: str) -> None:
        if self.service.catalog.tmdb is not None:
            await interaction.response.defer(thinking=True)  # TMDB may take a moment
        film, note = await self._film(interaction, title)
        card = await self.service.card(film, guild_id=interaction.guild_id, user_id=interaction.user.id)
        card.note = card.note or note
        await self._send(interaction, embed=card_embed(card), view=card_view(card))

    @film.autocomplete("title")
    async def film_title_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await self._film_choices(interaction, current)

    # -- /rate ---------------------------------------------------------------------------

    @app_commands.command(name="rate", description="Rate a film from half a star to five stars")
    @app_commands.describe(film="Start typing a title and pick the film", stars="Your rating, 0.5 to 5 stars")
    @app_commands.choices(stars=STAR_CHOICES)
    @app_commands.guild_only()
    async def rate(self, interaction: discord.Interaction, film: str, stars: float) -> None:
        assert interaction.guild_id is not None
        value = parse_stars(stars)
        chosen, _ = await self._film(interaction, film)
        new, previous = await self.service.rate(interaction.guild_id, interaction.user.id, chosen, value)
        summary = await self.service.ratings.summary(chosen.id, interaction.guild_id)
        verb = "Updated your rating of" if previous is not None else "You rated"
        text = f"{verb} {film_line(chosen)}: {star_rating(new)} ({new:g}/5)."
        if previous is not None and previous != new:
            text += f" It was {previous:g}."
        if summary.votes:
            text += f"\nCommunity average: {summary.average:.1f} from {summary.votes} rating"
            text += "s." if summary.votes != 1 else "."
        await self._send(interaction, content=truncate(text, 2000), ephemeral=True)

    @rate.autocomplete("film")
    async def rate_film_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await self._film_choices(interaction, current)

    # -- /top ----------------------------------------------------------------------------

    @app_commands.command(name="top", description="The community's best-rated films")
    @app_commands.describe(genre="Only films of this genre", period="Only ratings from this period")
    @app_commands.choices(period=PERIOD_CHOICES)
    @app_commands.guild_only()
    async def top(self, interaction: discord.Interaction, genre: str | None = None, period: str | None = None) -> None:
        assert interaction.guild_id is not None
        guild_id = interaction.guild_id

        async def render(page: int) -> tuple[discord.Embed, int, int]:
            result = await self.service.top(guild_id, genre=genre, period=period, page=page)
            embed = top_embed(result, genre=genre, period=period, min_votes=TOP_MIN_VOTES)
            return embed, result.page, result.pages

        await self._paged(interaction, render, ephemeral=False)

    @top.autocomplete("genre")
    async def top_genre_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        if interaction.guild_id is None:
            return []
        try:
            genres = await self.service.stats.rated_genres(interaction.guild_id, (current or "").strip()[:50])
        except Exception:
            log.exception("genre autocomplete failed")
            return []
        return [app_commands.Choice(name=truncate(g, CHOICE_NAME), value=g[:100]) for g in genres]

    async def _paged(self, interaction: discord.Interaction, render, *, ephemeral: bool) -> None:
        embed, page, pages = await render(0)
        view = PagedView(interaction.user.id, render, page=page, pages=pages) if pages > 1 else None
        await self._send(interaction, embed=embed, view=view, ephemeral=ephemeral)
        if view is not None:
            try:
                view.message = await interaction.original_response()
            except discord.HTTPException:
                log.debug("could not fetch the paged message", exc_info=True)

    # -- /reviews ------------------------------------------------------------------------

    @app_commands.command(name="reviews", description="Search the blog's reviews by title, film and text")
    @app_commands.describe(film="Only reviews of this film", query="Words to look for")
    async def reviews(
        self, interaction: discord.Interaction, film: str | None = None, query: str | None = None
    ) -> None:
        chosen = (await self._film(interaction, film))[0] if film and film.strip() else None
        guild_id = interaction.guild_id

        async def render(page: int) -> tuple[discord.Embed, int, int]:
            result = await self.service.search_reviews(query, film=chosen, page=page, guild_id=guild_id)
            return reviews_embed(result, query=query, film=chosen), result.page, result.pages

        await self._paged(interaction, render, ephemeral=False)

    @reviews.autocomplete("film")
    async def reviews_film_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await self._film_choices(interaction, current)

    # -- /watchlist ----------------------------------------------------------------------

    @watchlist_group.command(name="add", description="Add a film to your watchlist")
    @app_commands.describe(film="Start typing a title and pick the film")
    async def watchlist_add(self, interaction: discord.Interaction, film: str) -> None:
        chosen, _ = await self._film(interaction, film)
        added = await self.service.watchlist_add(interaction.user.id, chosen)
        text = f"Added {film_line(chosen)} to your watchlist." if added else f"{film_line(chosen)} is already on it."
        await self._send(interaction, content=text, ephemeral=True)

    @watchlist_group.command(name="remove", description="Remove a film from your watchlist")
    @app_commands.describe(film="A film on your watchlist")
    async def watchlist_remove(self, interaction: discord.Interaction, film: str) -> None:
        chosen, _ = await self._film(interaction, film)
        removed = await self.service.watchlist_remove(interaction.user.id, chosen)
        text = f"Removed {film_line(chosen)}." if removed else f"{film_line(chosen)} wasn't on your watchlist."
        await self._send(interaction, content=text, ephemeral=True)

    @watchlist_group.command(name="list", description="Show your watchlist")
    async def watchlist_list(self, interaction: discord.Interaction) -> None:
        user_id, owner = interaction.user.id, interaction.user.display_name

        async def render(page: int) -> tuple[discord.Embed, int, int]:
            result = await self.service.watchlist_page(user_id, page)
            return watchlist_embed(result, owner=owner), result.page, result.pages

        await self._paged(interaction, render, ephemeral=True)

    @watchlist_group.command(name="random", description="Pick a random film from your watchlist")
    async def watchlist_random(self, interaction: discord.Interaction) -> None:
        film = await self.service.watchlist_random(interaction.user.id)
        await self._send(interaction, content=f"🎲 Tonight's pick from your watchlist: {film_line(film)}")

    @watchlist_add.autocomplete("film")
    async def watchlist_add_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await self._film_choices(interaction, current)

    @watchlist_remove.autocomplete("film")
    async def watchlist_remove_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        """The member's own list, filtered by what they typed."""
        try:
            films = await self.service.watchlist.list(interaction.user.id, limit=500)
        except Exception:
            log.exception("watchlist autocomplete failed")
            return []
        wanted = normalize_title(current or "")
        matching = [f for f in films if wanted in normalize_title(f"{f.title} {f.original_title or ''}")][:25]
        choices = [FilmChoice(f.id, choice_name(f), str(f.id)) for f in matching]
        self.service.catalog.remember_offer(interaction.user.id, choices)
        return _choices(choices)
