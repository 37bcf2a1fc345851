"""The shared repositories: reviews (with FTS), announcements, films, guild settings."""

from __future__ import annotations

import pytest

from bot.storage import (
    AnnouncementRepository,
    Database,
    FilmRepository,
    GuildSettingsRepository,
    ReviewRepository,
    fts_prefix_query,
)


def review_fields(**overrides):
    fields = {
        "source": "markdown",
        "source_key": "chungking.md",
        "slug": "chungking-express",
        "title": "Chungking Express: A Love Letter to Loneliness",
        "film_title": "Chungking Express",
        "film_year": 1994,
        "body_md": "Wong Kar-wai's Hong Kong, with Faye Wong and canned pineapple.",
        "tags": ["romance"],
        "content_hash": "v1",
    }
    fields.update(overrides)
    return fields


async def test_upsert_inserts_then_updates_only_on_change(db: Database) -> None:
    reviews = ReviewRepository(db)
    review, changed = await reviews.upsert(**review_fields())
    assert changed and review.id and review.tags == ("romance",)
    same, changed = await reviews.upsert(**review_fields())
    assert not changed and same.id == review.id
    edited, changed = await reviews.upsert(**review_fields(body_md="Now about Amélie too.", content_hash="v2"))
    assert changed and edited.id == review.id and edited.body_md == "Now about Amélie too."
    assert await reviews.count() == 1
    assert (await reviews.find("chungking-express")).id == review.id
    assert (await reviews.find(str(review.id))).id == review.id


async def test_review_search_follows_edits_and_ignores_accents(db: Database) -> None:
    reviews = ReviewRepository(db)
    await reviews.upsert(**review_fields())
    assert [r.slug for r in await reviews.search("pineapp")] == ["chungking-express"]
    await reviews.upsert(**review_fields(body_md="Now about Amélie too.", content_hash="v2"))
    assert await reviews.search("pineapple") == []
    assert [r.slug for r in await reviews.search("amelie")] == ["chungking-express"]


@pytest.mark.parametrize("query", ['"', "*", "NEAR(", "a AND", ") OR (", "-", "'; DROP TABLE reviews; --", "🎬"])
async def test_review_search_survives_fts_syntax(db: Database, query: str) -> None:
    reviews = ReviewRepository(db)
    await reviews.upsert(**review_fields())
    results = await reviews.search(query)
    assert isinstance(results, list)
    assert await reviews.count() == 1


def test_fts_prefix_query_quotes_every_token() -> None:
    assert fts_prefix_query('chung "express') == '"chung" "express"*'
    assert fts_prefix_query("  -  ") is None


async def test_announcements_map_threads_to_reviews(db: Database) -> None:
    review, _ = await ReviewRepository(db).upsert(**review_fields())
    await db.execute(
        "INSERT INTO announcements (review_id, guild_id, channel_id, nonce) VALUES (?, ?, ?, ?)",
        (review.id, 10, 20, "n1"),
    )
    announcements = AnnouncementRepository(db)
    await announcements.set_thread(review.id, 10, 30)
    found = await announcements.by_thread(30)
    assert found is not None and found.review_id == review.id and found.channel_id == 20
    assert await announcements.by_thread(31) is None


async def test_films_search_and_exact_match(db: Database) -> None:
    films = FilmRepository(db)
    await films.add("Chungking Express", year=1994, directors=["Wong Kar-wai"])
    await films.add("Express 100%", year=2001)
    assert (await films.search("express"))[0].title == "Express 100%"
    match = await films.find_by_title("chungking express", 1994)
    assert match is not None and match.directors == ("Wong Kar-wai",) and match.label == "Chungking Express (1994)"
    assert [f.title for f in await films.search("0%")] == ["Express 100%"]


async def test_guild_settings_defaults_and_update(db: Database) -> None:
    guilds = GuildSettingsRepository(db)
    assert (await guilds.get(1)).announce_channel_id is None
    updated = await guilds.update(1, announce_channel_id=5, ping_role_id=6)
    assert (updated.announce_channel_id, updated.ping_role_id, updated.auto_archive_minutes) == (5, 6, 10080)
    assert [g.guild_id for g in await guilds.configured()] == [1]
    with pytest.raises(ValueError):
        await guilds.update(1, nonsense=2)


async def test_ratings_poll_never_overrides_explicit_rate(db: Database) -> None:
    from bot.storage import RatingRepository

    film = await FilmRepository(db).add("2046", year=2004)
    ratings = RatingRepository(db)
    await ratings.set_rating(1, 7, film.id, 4.5, source="rate")
    await ratings.set_rating(1, 7, film.id, 2.0, source="poll")
    assert await ratings.get_rating(1, 7, film.id) == 4.5
    await ratings.set_rating(1, 8, film.id, 3.0, source="poll")
    summary = await ratings.summary(film.id, guild_id=1)
    assert summary.votes == 2 and summary.average == pytest.approx(3.75)
    await ratings.clear_rating(1, 7, film.id, source="poll")
    assert await ratings.get_rating(1, 7, film.id) == 4.5
