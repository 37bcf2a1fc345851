"""Catalog search: ranking tiers, alternative titles, accents, prefixes, typos and hostile input."""

from __future__ import annotations

import pytest

from bot.storage import Database
from bot.storage.film_search import (
    deletions,
    edit_variants,
    match_with_alternatives,
    normalize_title,
    one_edit_apart,
    search_tokens,
)
from bot.storage.films import TIER_EXACT, TIER_FUZZY, TIER_PREFIX, TIER_WORDS, FilmRecord, FilmRepository

CATALOG = [
    FilmRecord(
        title="Chungking Express",
        original_title="Chung Hing sam lam",
        year=1994,
        directors=["Wong Kar-wai"],
        vote_count=90_000,
        alt_titles=["Chongqing senlin"],
        imdb_id="tt0109424",
    ),
    FilmRecord(title="The Polar Express", year=2004, vote_count=200_000),
    FilmRecord(title="Murder on the Orient Express", year=1974, vote_count=60_000),
    FilmRecord(title="Express", year=1990, vote_count=10),
    FilmRecord(title="Amélie", original_title="Le Fabuleux Destin d'Amélie Poulain", year=2001, vote_count=780_000),
    FilmRecord(title="1917", year=2019, vote_count=650_000),
    FilmRecord(title="2046", year=2004, vote_count=60_000),
    FilmRecord(title="Hamlet", year=1948, vote_count=20_000),
    FilmRecord(title="Hamlet", year=1996, vote_count=40_000),
    FilmRecord(title="The Godfather", year=1972, vote_count=2_000_000),
    FilmRecord(title="Star Wars", year=1977, vote_count=1_400_000),
    FilmRecord(title="Le Samouraï", year=1967, vote_count=50_000),
    FilmRecord(title="Waltz with Bashir", original_title="ואלס עם באשיר", year=2008, vote_count=60_000),
]


@pytest.fixture
async def catalog(films: FilmRepository) -> FilmRepository:
    counts = await films.import_batch(CATALOG)
    assert counts.added == len(CATALOG)
    return films


async def titles(films: FilmRepository, query: str, limit: int = 5) -> list[str]:
    return [f.label for f in await films.search(query, limit=limit)]


def test_tokens_fold_case_and_accents_and_drop_syntax() -> None:
    assert search_tokens('AMÉLIE "NEAR(x)" * - ()') == ["amelie", "near", "x"]
    assert normalize_title("Chungking  Express!") == normalize_title("chungking express")
    assert search_tokens("🎬🍿") == []
    assert "chungking" in edit_variants("chunking")
    assert match_with_alternatives([["a", "b"], ["c"]]) == '("a" OR "b") AND "c"*'


@pytest.mark.parametrize("word", ["chunking", "ab", "abba", "amélie", "七人の侍", "x1917", "aaa"])
def test_one_edit_neighbours_are_exactly_edit_variants_and_share_a_deletion_key(word: str) -> None:
    """The deletion-neighbourhood search (migration 0015) finds what generating every variant found."""
    variants = edit_variants(word)
    others = {"", word, word[::-1], word + "é", "é" + word[1:], word[:-1] + "ж", "zz" + word, word[1:-1]}
    for other in variants | others:
        assert one_edit_apart(word, other) == (other in variants), other
    assert all(deletions(word) & deletions(variant) for variant in variants)


async def test_exact_then_prefix_then_words_then_votes(catalog: FilmRepository) -> None:
    hits = await catalog.search_hits("express", limit=5)
    # The exact title wins despite 10 votes; other matches follow by votes.
    assert [(h.film.label, h.tier) for h in hits] == [
        ("Express (1990)", TIER_EXACT),
        ("The Polar Express (2004)", TIER_WORDS),
        ("Chungking Express (1994)", TIER_WORDS),
        ("Murder on the Orient Express (1974)", TIER_WORDS),
    ]
    prefix = await catalog.search_hits("chung", limit=3)
    assert prefix[0].film.title == "Chungking Express" and prefix[0].tier == TIER_PREFIX


async def test_alternative_and_original_titles(catalog: FilmRepository) -> None:
    assert (await titles(catalog, "Chung Hing sam lam"))[0] == "Chungking Express (1994)"
    assert (await titles(catalog, "chongqing"))[0] == "Chungking Express (1994)"
    assert (await titles(catalog, "fabuleux destin"))[0] == "Amélie (2001)"
    await catalog.add_alt_titles((await catalog.find_by_title("2046")).id, ["Èr líng sì liù"])
    assert (await titles(catalog, "er ling si"))[0] == "2046 (2004)"


async def test_accents_and_case_are_ignored(catalog: FilmRepository) -> None:
    for query in ("amelie", "AMÉLIE", "Amelie"):
        assert (await titles(catalog, query))[0] == "Amélie (2001)"
    assert (await titles(catalog, "samourai"))[0] == "Le Samouraï (1967)"
    assert (await titles(catalog, "באשיר"))[0] == "Waltz with Bashir (2008)"


async def test_typos_fall_back_to_fuzzy_matches(catalog: FilmRepository) -> None:
    hits = await catalog.search_hits("chunking expres")
    assert hits[0].film.title == "Chungking Express" and hits[0].tier == TIER_FUZZY
    assert (await titles(catalog, "godfater"))[0] == "The Godfather (1972)"
    assert (await titles(catalog, "star wors"))[0] == "Star Wars (1977)"
    assert await catalog.search_hits("godfater", fuzzy=False) == []


async def test_digit_titles_and_same_named_films(catalog: FilmRepository) -> None:
    assert await titles(catalog, "1917") == ["1917 (2019)"]
    assert await titles(catalog, "2046") == ["2046 (2004)"]
    assert await titles(catalog, "hamlet") == ["Hamlet (1996)", "Hamlet (1948)"]


@pytest.mark.parametrize(
    "query",
    [
        "",
        "   ",
        "x" * 200,
        "the " * 50,
        '"',
        '"unbalanced',
        "*",
        "chung*",
        "NEAR(chungking express, 2)",
        "chungking AND express",
        "chungking OR -express",
        "(chungking",
        "-",
        "title:chungking",
        "^chung",
        "🎬🍿",
        "שלום",
        "\x00\u202e",
    ],
)
async def test_hostile_input_never_raises(catalog: FilmRepository, query: str) -> None:
    hits = await catalog.search_hits(query, limit=25)
    assert len(hits) <= 25
    assert isinstance(await catalog.suggest(query), list)
    assert len(await catalog.search(query, limit=25)) <= 25


async def test_fts_syntax_words_are_plain_words(catalog: FilmRepository) -> None:
    assert (await titles(catalog, 'NEAR("chungking" express)'))[0] == "Chungking Express (1994)"
    assert (await titles(catalog, "chungking AND express"))[0] == "Chungking Express (1994)"


async def test_index_follows_updates_votes_and_deletes(db: Database, catalog: FilmRepository) -> None:
    film = await catalog.find_by_title("Express", 1990)
    await db.execute("UPDATE films SET title = 'Night Express Train' WHERE id = ?", (film.id,))
    assert await titles(catalog, "night exp") == ["Night Express Train (1990)"]
    # Votes reorder matches (the index rowid encodes them).
    await db.execute("UPDATE films SET vote_count = 9000000 WHERE id = ?", (film.id,))
    hits = await catalog.search_hits("train express", limit=3)
    assert hits[0].film.id == film.id
    assert (await catalog.popular(1))[0].id == film.id
    await db.execute("DELETE FROM films WHERE id = ?", (film.id,))
    assert await titles(catalog, "night") == []
    assert await db.fetchval("SELECT count(*) FROM films_fts") == len(CATALOG) - 1


async def test_search_keeps_the_substring_contract(catalog: FilmRepository) -> None:
    await catalog.add("Express 100%", year=2001)
    assert [f.title for f in await catalog.search("0%")] == ["Express 100%"]
    assert await catalog.search_hits("0%") == []  # autocomplete never scans the table


async def test_suggestions_for_unknown_titles(catalog: FilmRepository) -> None:
    suggestions = [f.title for f in await catalog.suggest("the polar exprss adventure")]
    assert "The Polar Express" in suggestions


async def test_vocabulary_rebuild(catalog: FilmRepository, db: Database) -> None:
    await db.execute("DELETE FROM film_terms")
    assert await catalog.terms_missing()
    assert await catalog.rebuild_terms() > 10
    assert not await catalog.terms_missing()
    assert (await titles(catalog, "godfater"))[0] == "The Godfather (1972)"


async def test_renamed_film_words_join_the_typo_vocabulary(catalog: FilmRepository) -> None:
    counts = await catalog.import_batch([FilmRecord(title="Der Samurai Express", imdb_id="tt0109424")])
    assert counts.updated == 1
    assert (await titles(catalog, "samurae"))[0] == "Der Samurai Express (1994)"
