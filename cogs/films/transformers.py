"""The film option of /film, /rate, /reviews and /watchlist: one ``app_commands.Transformer``.

Discord sends a film option as a string: the film id when the member picked one of
our choices, or whatever they typed. :meth:`FilmTransformer.transform` hands it to
:meth:`bot.films.service.FilmService.require_film`, which knows the difference (a
"1917" typed without picking is the film *titled* 1917) and raises "No film found"
with suggestions; the command receives a :class:`~bot.films.service.FilmPick`.
:meth:`FilmTransformer.autocomplete` offers up to 25 choices "Title (Year) — Director"
from the local catalog only, so it never waits for TMDB (Discord allows 3 s).

The service is the films cog's (one catalog, one TMDB client and one memory of
what each member was offered, whichever command asks), found by the cog's name.
"""

from __future__ import annotations

import logging

import discord
from discord import app_commands

from bot.errors import UserFacingError
from bot.films.catalog import FilmChoice
from bot.films.service import FilmPick, FilmService

__all__ = [
    "FILMS_COG",
    "FilmCardOption",
    "FilmFilterOption",
    "FilmOption",
    "FilmTransformer",
    "WatchlistFilmOption",
    "WatchlistFilmTransformer",
]

log = logging.getLogger(__name__)

FILMS_COG = "Films"
UNAVAILABLE = "Film look-up isn't available right now; try again in a moment."


def film_service(interaction: discord.Interaction) -> FilmService | None:
    """The films cog's service, or None while the films feature is not loaded."""
    get_cog = getattr(interaction.client, "get_cog", None)
    service = getattr(get_cog(FILMS_COG), "service", None) if get_cog is not None else None
    return service if isinstance(service, FilmService) else None


class FilmTransformer(app_commands.Transformer):
    """A film option: choices while the member types, the chosen film when the command runs.

    ``defer_for_tmdb``: defer (publicly, "thinking") before resolving when TMDB is
    configured, because the look-up and what the command does next may call it
    and take longer than Discord's 3 s (``/film``). ``blank_is_none``: a blank
    value means "no film" instead of "No film found" (an optional filter, ``/reviews``).
    """

    def __init__(self, *, defer_for_tmdb: bool = False, blank_is_none: bool = False) -> None:
        self.defer_for_tmdb = defer_for_tmdb
        self.blank_is_none = blank_is_none

    async def transform(self, interaction: discord.Interaction, value: str, /) -> FilmPick | None:
        if self.blank_is_none and not str(value).strip():
            return None
        service = film_service(interaction)
        if service is None:
            raise UserFacingError(UNAVAILABLE)
        if self.defer_for_tmdb and service.uses_tmdb and not interaction.response.is_done():
            await interaction.response.defer(thinking=True)
        return await service.require_film(str(value), user_id=interaction.user.id)

    async def autocomplete(
        self, interaction: discord.Interaction, value: int | float | str, /
    ) -> list[app_commands.Choice[str]]:
        """Never raises: an error means no choices (logged), never a failed interaction."""
        typed = str(value or "")
        service = film_service(interaction)
        if service is None:
            return []
        try:
            offered = await self.offer(service, interaction.user.id, typed)
        except Exception:
            log.exception("film autocomplete failed for %r", typed[:50])
            return []
        return [app_commands.Choice(name=c.name, value=c.value) for c in offered]

    async def offer(self, service: FilmService, user_id: int, typed: str) -> list[FilmChoice]:
        return await service.film_choices(user_id, typed)


class WatchlistFilmTransformer(FilmTransformer):
    """A film on the member's own watchlist: the choices come from that list (``/watchlist remove``)."""

    async def offer(self, service: FilmService, user_id: int, typed: str) -> list[FilmChoice]:
        return await service.watchlist_choices(user_id, typed)


# The annotations commands use. Discord sees a string option with autocomplete;
# the callback receives a FilmPick (``.film``, ``.note``).
FilmOption = app_commands.Transform[FilmPick, FilmTransformer]
FilmCardOption = app_commands.Transform[FilmPick, FilmTransformer(defer_for_tmdb=True)]
FilmFilterOption = app_commands.Transform[FilmPick | None, FilmTransformer(blank_is_none=True)]
WatchlistFilmOption = app_commands.Transform[FilmPick, WatchlistFilmTransformer]
