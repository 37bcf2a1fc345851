"""The one film option: choices while typing, the film (or a clear "No film found") when the command runs.

Exercised here against a real FilmService and a stand-in interaction; the e2e tests
drive the same transformer through discord.py and the Discord double.
"""

from __future__ import annotations

import logging
from types import SimpleNamespace
from unittest.mock import AsyncMock, MagicMock

import discord
import pytest

from bot.errors import NotFoundError, UserFacingError
from bot.films.service import FilmPick, FilmService
from bot.storage import Database
from bot.storage.films import FilmRecord, FilmRepository
from bot.storage.watchlist import WatchlistRepository
from cogs.films.transformers import FILMS_COG, UNAVAILABLE, FilmTransformer, WatchlistFilmTransformer

MEMBER = 7


@pytest.fixture
async def service(db: Database) -> FilmService:
    await FilmRepository(db).import_batch(
        [
            FilmRecord(title="Chungking Express", year=1994, directors=["Wong Kar-wai"], vote_count=90_000),
            FilmRecord(title="1917", year=2019, directors=["Sam Mendes"], vote_count=600_000),
            FilmRecord(title="2046", year=2004, directors=["Wong Kar-wai"], vote_count=60_000),
        ]
        + [FilmRecord(title=f"Express {n}", year=1950 + n, vote_count=n) for n in range(40)]
    )
    return FilmService(db)


def interaction(service: FilmService | None, *, answered: bool = False) -> MagicMock:
    """Just what the transformer touches: the client's cogs, the member, and the response."""
    cogs = {FILMS_COG: SimpleNamespace(service=service)} if service is not None else {}
    fake = MagicMock(spec=discord.Interaction)
    fake.client = SimpleNamespace(get_cog=cogs.get)
    fake.user = SimpleNamespace(id=MEMBER)
    fake.response = MagicMock(spec=discord.InteractionResponse)
    fake.response.is_done.return_value = answered
    fake.response.defer = AsyncMock()
    return fake


async def test_autocomplete_offers_at_most_25_labelled_choices_valued_by_id(service: FilmService) -> None:
    choices = await FilmTransformer().autocomplete(interaction(service), "chung")
    chungking = await service.films.find_by_title("Chungking Express")
    assert (choices[0].name, choices[0].value) == ("Chungking Express (1994) — Wong Kar-wai", str(chungking.id))
    assert len(await FilmTransformer().autocomplete(interaction(service), "express")) == 25
    assert len(await FilmTransformer().autocomplete(interaction(service), "")) == 25


async def test_a_picked_choice_is_that_film_and_typed_digits_are_a_title(service: FilmService) -> None:
    transformer, fake = FilmTransformer(), interaction(service)
    twenty = await service.films.find_by_title("2046")
    # A film whose title is another film's id: the value "N" means either, depending on a pick.
    await service.films.import_batch([FilmRecord(title=str(twenty.id), year=1999)])
    titled = await service.films.find_by_title(str(twenty.id))
    assert (await transformer.transform(fake, str(twenty.id))).film == titled  # typed: the title
    offered = await transformer.autocomplete(fake, "2046")
    assert offered[0].value == str(twenty.id)
    assert await transformer.transform(fake, offered[0].value) == FilmPick(twenty, None)  # picked: the id
    nineteen = await service.films.find_by_title("1917")
    assert (await transformer.transform(fake, "1917")).film == nineteen


async def test_an_unknown_film_is_no_film_found_with_suggestions(service: FilmService) -> None:
    with pytest.raises(NotFoundError) as raised:
        await FilmTransformer().transform(interaction(service), "zzqx wvvy")
    assert raised.value.message.startswith("No film found for “zzqx wvvy”.")


async def test_watchlist_option_offers_the_members_own_list(service: FilmService, db: Database) -> None:
    chungking = await service.films.find_by_title("Chungking Express")
    await WatchlistRepository(db).add(MEMBER, chungking.id)
    fake = interaction(service)
    assert [c.value for c in await WatchlistFilmTransformer().autocomplete(fake, "")] == [str(chungking.id)]
    assert [c.value for c in await WatchlistFilmTransformer().autocomplete(fake, "KING  Exp")] == [
        str(chungking.id)
    ]
    assert await WatchlistFilmTransformer().autocomplete(fake, "1917") == []
    assert (await WatchlistFilmTransformer().transform(fake, str(chungking.id))).film == chungking


async def test_only_the_card_option_defers_and_only_when_tmdb_may_be_called(service: FilmService) -> None:
    for transformer, tmdb, deferred in (
        (FilmTransformer(defer_for_tmdb=True), object(), True),
        (FilmTransformer(defer_for_tmdb=True), None, False),
        (FilmTransformer(), object(), False),
    ):
        service.catalog.tmdb = tmdb  # never called: "2046" is found locally
        fake = interaction(service)
        assert (await transformer.transform(fake, "2046")).film.title == "2046"
        if deferred:
            fake.response.defer.assert_awaited_once_with(thinking=True)
        else:
            fake.response.defer.assert_not_awaited()


async def test_a_blank_optional_filter_means_no_film(service: FilmService) -> None:
    assert await FilmTransformer(blank_is_none=True).transform(interaction(service), "   ") is None
    with pytest.raises(NotFoundError):
        await FilmTransformer().transform(interaction(service), "   ")


async def test_without_the_films_feature_the_option_says_so(service: FilmService) -> None:
    assert await FilmTransformer().autocomplete(interaction(None), "chung") == []
    with pytest.raises(UserFacingError) as raised:
        await FilmTransformer().transform(interaction(None), "2046")
    assert raised.value.message == UNAVAILABLE


async def test_autocomplete_errors_mean_no_choices_and_a_log_line(
    service: FilmService, caplog: pytest.LogCaptureFixture
) -> None:
    service.catalog.autocomplete = AsyncMock(side_effect=RuntimeError("disk on fire"))
    with caplog.at_level(logging.ERROR):
        assert await FilmTransformer().autocomplete(interaction(service), "chung") == []
    assert any("film autocomplete failed" in r.getMessage() and r.exc_info for r in caplog.records)
