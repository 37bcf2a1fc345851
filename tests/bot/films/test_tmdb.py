"""The TMDB provider against the loopback stub: success, caching with a TTL, 429, timeout, 401, 5xx."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import aiohttp
import pytest

from bot.films.catalog import TMDB_UNAVAILABLE_NOTE, FilmCatalog
from bot.films.tmdb import POSTER_BASE, TmdbClient, TmdbUnavailable
from bot.settings import Secret
from bot.storage import Database
from bot.storage.films import FilmRecord, FilmRepository
from tests.doubles.tmdb_stub import TmdbStub, tmdb_movie

KEY = "s3cret-tmdb-key-123"

CHUNGKING = tmdb_movie(
    11104,
    "Chungking Express",
    release_date="1994-07-14",
    original_title="重慶森林",
    directors=("Wong Kar-wai",),
    cast=("Brigitte Lin", "Tony Leung Chiu-wai", "Faye Wong"),
    runtime=102,
    genres=("Drama", "Romance"),
    overview="Two melancholic Hong Kong policemen fall in love.",
    poster_path="/chungking.jpg",
    imdb_id="tt0109424",
    popularity=25.0,
    vote_count=2500,
    alternative_titles=("Chung Hing sam lam",),
)


@pytest.fixture
async def stub() -> AsyncIterator[TmdbStub]:
    async with TmdbStub(api_key=KEY) as running:
        running.add_movie(CHUNGKING)
        yield running


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


def client(session: aiohttp.ClientSession, stub: TmdbStub, *, key: str = KEY, **kwargs) -> TmdbClient:
    return TmdbClient(session, base_url=stub.base_url, api_key=Secret(key), requests_per_second=50, **kwargs)


async def test_search_and_details_are_parsed(session, stub: TmdbStub) -> None:
    tmdb = client(session, stub)
    results = await tmdb.search("chungking")
    assert [(r.tmdb_id, r.title, r.year) for r in results] == [(11104, "Chungking Express", 1994)]
    record = await tmdb.details(11104)
    assert record.directors == ["Wong Kar-wai"] and record.cast[:2] == ["Brigitte Lin", "Tony Leung Chiu-wai"]
    assert record.runtime_minutes == 102 and record.genres == ["Drama", "Romance"]
    assert record.poster_url == f"{POSTER_BASE}/chungking.jpg" and record.imdb_id == "tt0109424"
    assert record.alt_titles == ["Chung Hing sam lam"] and record.fetched_at
    assert await tmdb.details(999) is None
    assert stub.requests[0].query["api_key"] == KEY


async def test_v4_tokens_go_in_the_authorization_header(session, stub: TmdbStub) -> None:
    stub.api_key = "eyJhbGciOiJIUzI1NiJ9.token"
    tmdb = client(session, stub, key=stub.api_key)
    assert await tmdb.search("chungking")
    assert "api_key" not in stub.requests[-1].query
    assert stub.requests[-1].headers["Authorization"] == f"Bearer {stub.api_key}"


async def test_catalog_caches_tmdb_results_and_respects_the_ttl(db: Database, session, stub: TmdbStub) -> None:
    films = FilmRepository(db)
    catalog = FilmCatalog(films, tmdb=client(session, stub), cache_ttl_hours=24)
    lookup = await catalog.resolve("Chungking Express")
    assert lookup.note is None and lookup.film is not None
    film = lookup.film
    assert film.tmdb_id == 11104 and film.cast[0] == "Brigitte Lin" and film.poster_url
    assert (await films.search("chung hing"))[0].id == film.id  # alternative titles are indexed
    sent = len(stub.requests)

    # Now local: no TMDB request for the look-up or for fresh details.
    again = await catalog.resolve("Chungking Express")
    assert again.film.id == film.id
    same, note = await catalog.details(film)
    assert note is None and same.id == film.id and len(stub.requests) == sent

    # After the TTL the details are fetched again.
    await db.execute("UPDATE films SET fetched_at = '2000-01-01T00:00:00.000Z' WHERE id = ?", (film.id,))
    stub.add_movie({**CHUNGKING, "overview": "Updated overview."})
    refreshed, note = await catalog.details(film)
    assert note is None and refreshed.overview == "Updated overview." and len(stub.requests) == sent + 1


async def test_local_film_is_enriched_and_linked(db: Database, session, stub: TmdbStub) -> None:
    films = FilmRepository(db)
    local = await films.add("Chungking Express", year=1994)
    catalog = FilmCatalog(films, tmdb=client(session, stub))
    enriched, note = await catalog.details(local)
    assert note is None and enriched.id == local.id
    assert enriched.tmdb_id == 11104 and enriched.directors == ("Wong Kar-wai",) and enriched.runtime_minutes == 102
    assert await films.count() == 1


@pytest.mark.parametrize(
    ("fault", "reason"),
    [("429", "rate_limited"), ("timeout", "timeout"), ("401", "auth"), ("503", "server")],
)
async def test_failures_fall_back_to_the_local_catalog_with_a_note(
    db: Database, session, stub: TmdbStub, caplog: pytest.LogCaptureFixture, fault: str, reason: str
) -> None:
    caplog.set_level(logging.DEBUG)
    films = FilmRepository(db)
    await films.import_batch([FilmRecord(title="Chungking Express", year=1994), FilmRecord(title="Hamlet")])
    tmdb = client(session, stub, timeout=0.3)
    if fault == "timeout":
        stub.queue_hang(5)
    else:
        stub.queue_status(int(fault), retry_after="30")
    with pytest.raises(TmdbUnavailable) as raised:
        await tmdb.search("chungking")
    assert raised.value.reason == reason

    stub.queue_hang(5) if fault == "timeout" else stub.queue_status(int(fault))
    catalog = FilmCatalog(films, tmdb=client(session, stub, timeout=0.3))
    lookup = await catalog.resolve("chunking expres")  # not exact: would ask TMDB
    assert lookup.note == TMDB_UNAVAILABLE_NOTE
    assert lookup.film is not None and lookup.film.title == "Chungking Express"
    film, _note = await catalog.details(lookup.film)
    assert film.id == lookup.film.id
    assert KEY not in caplog.text  # the key is never logged


async def test_rate_limit_and_auth_errors_pause_further_calls(session, stub: TmdbStub) -> None:
    tmdb = client(session, stub)
    stub.queue_status(429, retry_after="30")
    with pytest.raises(TmdbUnavailable):
        await tmdb.search("chungking")
    sent = len(stub.requests)
    with pytest.raises(TmdbUnavailable) as raised:
        await tmdb.search("chungking")
    assert raised.value.reason == "rate_limited" and len(stub.requests) == sent  # no request while paused

    wrong = client(session, stub, key="wrong-key")
    with pytest.raises(TmdbUnavailable) as raised:
        await wrong.details(11104)
    assert raised.value.reason == "auth" and wrong.paused


async def test_requests_go_through_a_token_bucket_at_the_configured_rate(session, stub: TmdbStub) -> None:
    now = [100.0]
    tmdb = TmdbClient(session, base_url=stub.base_url, api_key=Secret(KEY), requests_per_second=2, clock=lambda: now[0])
    bucket = tmdb._bucket
    assert bucket.rate == 2
    assert bucket.try_acquire() and bucket.try_acquire()
    assert not bucket.try_acquire()
    now[0] += 0.5
    assert bucket.try_acquire() and not bucket.try_acquire()
    now[0] += 10
    assert bucket.try_acquire() and bucket.try_acquire() and not bucket.try_acquire()


async def test_no_key_means_local_only(db: Database) -> None:
    films = FilmRepository(db)
    catalog = FilmCatalog(films)
    lookup = await catalog.resolve("Nothing Like This")
    assert lookup.film is None and lookup.note is None
    film = await films.add("Local Film", year=2020)
    assert await catalog.details(film) == (film, None)
