"""/film, /rate, /top and /watchlist: thin adapters over bot.films.FilmService.

Every film option is resolved by :mod:`cogs.films.transformers`; /reviews lives in
the reviews feature (``cogs/reviews/search.py``) and uses the same film option.
"""

from __future__ import annotations

import logging

import discord
from discord import app_commands
from discord.ext import commands

from bot.admin import admin_command
from bot.bot import MatineeBot
from bot.errors import UserFacingError
from bot.films.service import PERIODS, TOP_MIN_VOTES, TOP_MIN_VOTES_MAX, FilmService, parse_stars
from bot.films.tmdb import TmdbClient
from bot.models import Review
from bot.outbound import Purpose
from bot.text import CHOICE_NAME, star_rating, truncate
from cogs._ui import reply, send_paged

from .render import card_embed, card_view, film_line, ratings_phrase, top_embed, watchlist_embed
from .transformers import FILMS_COG, FilmCardOption, FilmOption, WatchlistFilmOption

log = logging.getLogger(__name__)

STAR_CHOICES = [app_commands.Choice(name=f"{star_rating(v / 2)} ({v / 2:g})", value=v / 2) for v in range(10, 0, -1)]
PERIOD_CHOICES = [
    app_commands.Choice(name=name, value=value)
    for name, value in (("This week", "week"), ("This month", "month"), ("This year", "year"), ("All time", "all"))
]
assert set(PERIODS) == {c.value for c in PERIOD_CHOICES}


class Films(commands.Cog, name=FILMS_COG):
    """Film look-up, member ratings, leaderboards and watchlists; owns the film service every film option uses."""

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

    # -- /film ---------------------------------------------------------------------------

    @app_commands.command(name="film", description="Look a film up: details, our reviews, ratings and discussion")
    @app_commands.describe(title="Start typing a title and pick the film")
    async def film(self, interaction: discord.Interaction, title: FilmCardOption) -> None:
        card = await self.service.card(title.film, guild_id=interaction.guild_id, user_id=interaction.user.id)
        card.note = card.note or title.note
        await reply(interaction, embed=card_embed(card), view=card_view(card))

    # -- /rate ---------------------------------------------------------------------------

    @app_commands.command(name="rate", description="Rate a film from half a star to five stars")
    @app_commands.describe(film="Start typing a title and pick the film", stars="Your rating, 0.5 to 5 stars")
    @app_commands.choices(stars=STAR_CHOICES)
    @app_commands.guild_only()
    async def rate(self, interaction: discord.Interaction, film: FilmOption, stars: float) -> None:
        assert interaction.guild_id is not None
        value = parse_stars(stars)
        chosen = film.film
        new, previous = await self.service.rate(interaction.guild_id, interaction.user.id, chosen, value)
        summary = await self.service.ratings.summary(chosen.id, interaction.guild_id)
        verb = "Updated your rating of" if previous is not None else "You rated"
        text = f"{verb} {film_line(chosen)}: {star_rating(new)} ({new:g}/5)."
        if previous is not None and previous != new:
            text += f" It was {previous:g}."
        if summary.votes:
            text += f"\nCommunity average: {summary.average:.1f} from {summary.votes} rating"
            text += "s." if summary.votes != 1 else "."
        await reply(interaction, content=truncate(text, 2000), ephemeral=True)

    # -- /top ----------------------------------------------------------------------------

    @app_commands.command(name="top", description="The community's best-rated films")
    @app_commands.describe(genre="Only films of this genre", period="Only ratings from this period")
    @app_commands.choices(period=PERIOD_CHOICES)
    @app_commands.guild_only()
    async def top(self, interaction: discord.Interaction, genre: str | None = None, period: str | None = None) -> None:
        assert interaction.guild_id is not None
        guild_id = interaction.guild_id
        min_votes = await self.service.top_min_votes(guild_id)  # read once: every page uses the same bar

        async def render(page: int) -> tuple[discord.Embed, int, int]:
            result = await self.service.top(guild_id, genre=genre, period=period, page=page, min_votes=min_votes)
            embed = top_embed(result, genre=genre, period=period, min_votes=min_votes)
            return embed, result.page, result.pages

        await send_paged(interaction, render, ephemeral=False)

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

    # -- /matinee top-min-votes ------------------------------------------------------------

    @admin_command(name="top-min-votes", description="How many ratings a film needs to appear in /top in this server")
    @app_commands.describe(
        votes=f"Ratings a film needs to appear in /top (1 to {TOP_MIN_VOTES_MAX}); leave out to see the current number"
    )
    @app_commands.checks.has_permissions(manage_guild=True)
    async def top_min_votes(
        self, interaction: discord.Interaction, votes: app_commands.Range[int, 1, TOP_MIN_VOTES_MAX] | None = None
    ) -> None:
        if interaction.guild_id is None:
            raise UserFacingError("The /top minimum is set per server; run this inside one.")
        if votes is None:
            current = await self.service.top_min_votes(interaction.guild_id)
            default = " (the default)" if current == TOP_MIN_VOTES else ""
            text = (
                f"A film needs at least {ratings_phrase(current)} to appear in `/top` here{default}. "
                "Change it with `/matinee top-min-votes votes:`."
            )
        else:
            stored = await self.service.set_top_min_votes(interaction.guild_id, votes)
            text = f"A film now needs at least {ratings_phrase(stored)} to appear in `/top` here."
        await reply(interaction, content=text, ephemeral=True)

    # -- /watchlist ----------------------------------------------------------------------

    @watchlist_group.command(name="add", description="Add a film to your watchlist")
    @app_commands.describe(film="Start typing a title and pick the film")
    async def watchlist_add(self, interaction: discord.Interaction, film: FilmOption) -> None:
        chosen = film.film
        added = await self.service.watchlist_add(interaction.user.id, chosen)
        text = f"Added {film_line(chosen)} to your watchlist." if added else f"{film_line(chosen)} is already on it."
        await reply(interaction, content=text, ephemeral=True)

    @watchlist_group.command(name="remove", description="Remove a film from your watchlist")
    @app_commands.describe(film="A film on your watchlist")
    async def watchlist_remove(self, interaction: discord.Interaction, film: WatchlistFilmOption) -> None:
        chosen = film.film
        removed = await self.service.watchlist_remove(interaction.user.id, chosen)
        text = f"Removed {film_line(chosen)}." if removed else f"{film_line(chosen)} wasn't on your watchlist."
        await reply(interaction, content=text, ephemeral=True)

    @watchlist_group.command(name="list", description="Show your watchlist")
    async def watchlist_list(self, interaction: discord.Interaction) -> None:
        user_id, owner = interaction.user.id, interaction.user.display_name

        async def render(page: int) -> tuple[discord.Embed, int, int]:
            result = await self.service.watchlist_page(user_id, page)
            return watchlist_embed(result, owner=owner), result.page, result.pages

        await send_paged(interaction, render, ephemeral=True)

    @watchlist_group.command(name="random", description="Pick a random film from your watchlist")
    async def watchlist_random(self, interaction: discord.Interaction) -> None:
        film = await self.service.watchlist_random(interaction.user.id)
        await reply(interaction, content=f"🎲 Tonight's pick from your watchlist: {film_line(film)}")
