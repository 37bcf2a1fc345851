"""/reviews: search the blog's reviews by words and film, each linked to its discussion here.

Its own cog beside the announcement pipeline (``cog.py``): a read-only member
command with nothing to share with the feed loop, so neither has to know the other.
The film filter is the films feature's film option (:mod:`cogs.films.transformers`).
"""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.bot import MatineeBot
from bot.reviews.search import ReviewSearchService
from cogs._ui import send_paged
from cogs.films.transformers import FilmFilterOption

from .embeds import search_results_embed

__all__ = ["ReviewSearch"]


class ReviewSearch(commands.Cog):
    """``/reviews``: a thin adapter over :class:`bot.reviews.search.ReviewSearchService`."""

    def __init__(self, bot: MatineeBot) -> None:
        self.bot = bot
        self.service = ReviewSearchService(bot.db)

    @app_commands.command(name="reviews", description="Search the blog's reviews by title, film and text")
    @app_commands.describe(film="Only reviews of this film", query="Words to look for")
    async def reviews(
        self, interaction: discord.Interaction, film: FilmFilterOption = None, query: str | None = None
    ) -> None:
        chosen = film.film if film is not None else None
        guild_id = interaction.guild_id

        async def render(page: int) -> tuple[discord.Embed, int, int]:
            result = await self.service.search(
                query, film_id=chosen.id if chosen else None, page=page, guild_id=guild_id
            )
            return search_results_embed(result, query=query, film=chosen), result.page, result.pages

        await send_paged(interaction, render, ephemeral=False)
