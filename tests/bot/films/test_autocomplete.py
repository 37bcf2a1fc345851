"""The autocomplete fast path: same choices as ranked search, one read on the reader connection."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bot.films.catalog import FilmCatalog, choice_name
from bot.storage import Database
from bot.storage.films import FilmRecord, FilmRepository

from .test_search import CATALOG

QUERIES = [
    "express",
    "Express",
    "chung",
    "Chung Hing sam lam",
    "chongqing",
    "amelie",
    "AMÉLIE",
    "le fab",
    "1917",
    "2046",
    "hamlet",
    "the",
    "t",
    "chunking expres",
    "godfathr",
    "star wrs",
    'NEAR("chungking" express)',
    "-",
    "( * )",
    "x" * 200,
    "ואלס",
]


@pytest.fixture
async def catalog(films: FilmRepository) -> FilmRepository:
    await films.import_batch(CATALOG)
    return films


@pytest.mark.parametrize("query", QUERIES)
async def test_same_choices_as_ranked_search(catalog: FilmRepository, query: str) -> None:
    expected = [h.film.id for h in await catalog.search_hits(query, limit=25, bm25=False)]
    assert [s.id for s in await catalog.autocomplete(query, 25)] == expected


async def test_blank_gets_most_voted_and_emoji_gets_nothing(catalog: FilmRepository) -> None:
    assert [s.id for s in await catalog.autocomplete("", 5)] == [f.id for f in await catalog.popular(5)]
    assert await catalog.autocomplete("🎬🍿", 25) == []


async def test_exact_titles_are_ranked_before_the_cut(films: FilmRepository) -> None:
    # 14 films called "White"; the exact-title look-up (LIMIT limit + 10) sees the earliest years
    # first, so the most-voted one (the latest) only arrives through the prefix tier and must
    # still be promoted to exact and come first.
    await films.import_batch(
        [FilmRecord(title="White", year=1900 + i, vote_count=10 + i, imdb_id=f"tt{i:07d}") for i in range(13)]
        + [FilmRecord(title="White", year=2020, vote_count=99_000, imdb_id="tt9999999")]
        + [FilmRecord(title="White Heat", year=1949, vote_count=50_000)]
    )
    found = await films.autocomplete("white", 3)
    assert [(s.title, s.year) for s in found] == [("White", 2020), ("White", 1912), ("White", 1911)]


async def test_choice_labels_match_choice_name(catalog: FilmRepository) -> None:
    service = FilmCatalog(catalog)
    choices = await service.autocomplete("chungking", 25)
    film = await catalog.get(choices[0].film_id)
    assert film is not None and film.directors == ("Wong Kar-wai",)
    assert choices[0].name == choice_name(film) == "Chungking Express (1994) — Wong Kar-wai"
    assert choices[0].value == str(film.id)


async def test_reader_is_a_separate_read_only_connection(db: Database, films: FilmRepository) -> None:
    await films.import_batch([FilmRecord(title="Stalker", year=1979, vote_count=5)])
    async with db.transaction() as conn:
        await conn.execute("INSERT INTO films (title, year) VALUES ('Solaris', 1972)")
        # Invisible to the reader: it is another connection (the main one sees its own writes),
        # and it answers while the write transaction is still open.
        assert [s.title for s in await films.autocomplete("s", 25)] == ["Stalker"]
    assert sorted(s.title for s in await films.autocomplete("s", 25)) == ["Solaris", "Stalker"]
    with pytest.raises(sqlite3.OperationalError):
        await db.read(lambda c: c.execute("DELETE FROM films"))
    assert await db.fetchval("SELECT count(*) FROM films") == 2


async def test_reader_closes_with_the_database(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "x.db")
    await db.migrate()
    assert await db.read(lambda c: c.execute("SELECT count(*) FROM films").fetchone()[0]) == 0
    await db.close()
    with pytest.raises(sqlite3.ProgrammingError):
        await db.read(lambda c: 1)


async def test_in_memory_database_reads_on_its_own_connection() -> None:
    db = await Database.open(":memory:")
    try:
        await db.migrate()
        films = FilmRepository(db)
        await films.import_batch([FilmRecord(title="Stalker", year=1979)])
        assert [s.title for s in await films.autocomplete("stal", 25)] == ["Stalker"]
    finally:
        await db.close()
