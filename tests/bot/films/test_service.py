"""FilmService: star validation, ratings (poll votes included), leaderboards, film cards, watchlists."""

from __future__ import annotations

import pytest

from bot.errors import NotFoundError, UserFacingError
from bot.films.catalog import FilmCatalog, FilmChoice, choice_name
from bot.films.service import TOP_MIN_VOTES, TOP_MIN_VOTES_MAX, FilmService, parse_stars, period_start
from bot.models import Film
from bot.storage import Database, RatingRepository, ReviewRepository
from bot.storage.films import FilmRecord, FilmRepository

GUILD = 42


@pytest.fixture
async def service(db: Database) -> FilmService:
    films = FilmRepository(db)
    await films.import_batch(
        [
            FilmRecord(title="Chungking Express", year=1994, directors=["Wong Kar-wai"], genres=["Drama", "Romance"]),
            FilmRecord(title="1917", year=2019, directors=["Sam Mendes"], genres=["War"], vote_count=600_000),
            FilmRecord(title="Alien", year=1979, genres=["Horror"], vote_count=900_000),
            FilmRecord(title="Heat", year=1995, genres=["Crime"]),
        ]
    )
    return FilmService(db)


async def film(service: FilmService, title: str) -> Film:
    found = await service.films.find_by_title(title)
    assert found is not None
    return found


@pytest.mark.parametrize(("value", "expected"), [(0.5, 0.5), ("3.5", 3.5), (5, 5.0), ("4,5", 4.5), ("2★", 2.0)])
def test_parse_stars_accepts_half_steps(value, expected) -> None:
    assert parse_stars(value) == expected


@pytest.mark.parametrize("value", [0, 0.25, 4.2, 5.5, -1, "nan", "inf", "five", "", "1e9"])
def test_parse_stars_rejects_everything_else(value) -> None:
    with pytest.raises(UserFacingError, match=r"0\.5 to 5"):
        parse_stars(value)


def test_choice_names_fit_discord_limits() -> None:
    long = Film(id=1, title="A" * 300, year=2001, directors=("D" * 200,))
    name = choice_name(long)
    assert len(name) <= 100 and "… (2001) — DDD" in name and name.endswith("…")
    assert choice_name(Film(id=2, title="Heat", year=1995, directors=("Michael Mann",))) == "Heat (1995) — Michael Mann"
    assert choice_name(Film(id=3, title="Untitled Project")) == "Untitled Project"


async def test_rate_updates_and_poll_votes_count_as_ratings(service: FilmService) -> None:
    chungking = await film(service, "Chungking Express")
    assert await service.rate(GUILD, 1, chungking, 4) == (4.0, None)
    assert await service.rate(GUILD, 1, chungking, "2.5") == (2.5, 4.0)
    # A discussion-thread poll vote by another member is a rating too.
    await service.ratings.set_rating(GUILD, 2, chungking.id, 5.0, source="poll")
    summary = await service.ratings.summary(chungking.id, GUILD)
    assert (summary.votes, summary.average) == (2, 3.75)
    with pytest.raises(UserFacingError):
        await service.rate(GUILD, 1, chungking, 7)
    assert await service.ratings.get_rating(GUILD, 1, chungking.id) == 2.5


async def test_top_applies_threshold_genre_period_and_pages(service: FilmService, db: Database) -> None:
    ratings = RatingRepository(db)
    alien, heat, chungking = [await film(service, t) for t in ("Alien", "Heat", "Chungking Express")]
    for user in range(TOP_MIN_VOTES):
        await ratings.set_rating(GUILD, user, alien.id, 4.0)
        await ratings.set_rating(GUILD, user, heat.id, 5.0)
        await ratings.set_rating(GUILD + 1, user, chungking.id, 5.0)  # another guild
    await ratings.set_rating(GUILD, 99, chungking.id, 5.0)  # below the threshold here
    page = await service.top(GUILD)
    assert [(r.film.title, r.votes) for r in page.items] == [("Heat", 3), ("Alien", 3)]
    assert (page.page, page.pages, page.total) == (0, 1, 2)
    assert [r.film.title for r in (await service.top(GUILD, genre="horror")).items] == ["Alien"]
    await db.execute("UPDATE film_ratings SET updated_at = '2001-01-01T00:00:00.000Z' WHERE film_id = ?", (heat.id,))
    assert [r.film.title for r in (await service.top(GUILD, period="week")).items] == ["Alien"]
    assert period_start("all") is None and period_start("month") < period_start("week")
    assert await service.stats.rated_genres(GUILD, "ho") == ["Horror"]


async def test_each_server_sets_its_own_top_minimum(service: FilmService, db: Database) -> None:
    ratings = RatingRepository(db)
    heat, alien = await film(service, "Heat"), await film(service, "Alien")
    await ratings.set_rating(GUILD, 1, heat.id, 5.0)  # one rating each: below the default of 3
    await ratings.set_rating(GUILD + 1, 1, alien.id, 4.0)
    assert await service.top_min_votes(GUILD) == TOP_MIN_VOTES == 3
    assert (await service.top(GUILD)).items == []

    assert await service.set_top_min_votes(GUILD, 1) == 1
    assert [r.film.title for r in (await service.top(GUILD)).items] == ["Heat"]
    assert (await service.top(GUILD + 1)).items == []  # another server keeps the default
    assert [r.film.title for r in (await service.top(GUILD + 1, min_votes=1)).items] == ["Alien"]
    assert (await service.guild_settings.get(GUILD)).persona is None  # nothing else of the server's settings

    for wrong in (0, -1, TOP_MIN_VOTES_MAX + 1):
        with pytest.raises(UserFacingError, match="1 to 50"):
            await service.set_top_min_votes(GUILD, wrong)
    assert await service.top_min_votes(GUILD) == 1


async def test_film_comment_count_and_card_reviews(service: FilmService, db: Database) -> None:
    chungking, heat = await film(service, "Chungking Express"), await film(service, "Heat")
    reviews = ReviewRepository(db)
    for slug, film_id, body in (("a", chungking.id, "canned pineapple"), ("b", heat.id, "pineapple heist")):
        await reviews.upsert(
            source="markdown", source_key=slug, slug=slug, title=f"Review {slug}", film_id=film_id, body_md=body
        )
    review = await reviews.get_by_slug("a")
    await db.execute(
        "INSERT INTO comments (message_id, review_id, guild_id, thread_id, author_id, author_name, content, created_at,"
        " deleted) VALUES (1, ?, ?, 9, 5, 'Mo', 'yes', 'x', 0), (2, ?, ?, 9, 5, 'Mo', 'gone', 'x', 1)",
        (review.id, GUILD, review.id, GUILD),
    )
    assert await service.stats.comment_count(chungking.id) == 1
    assert await service.stats.comment_count(chungking.id, GUILD + 1) == 0
    card = await service.card(chungking, guild_id=GUILD)
    assert card.comments == 1 and [link.review.slug for link in card.reviews] == ["a"] and card.discussion_url is None


async def test_watchlist(service: FilmService) -> None:
    heat, alien = await film(service, "Heat"), await film(service, "Alien")
    assert await service.watchlist_add(7, heat) and not await service.watchlist_add(7, heat)
    await service.watchlist_add(7, alien)
    page = await service.watchlist_page(7)
    assert {f.title for f in page.items} == {"Heat", "Alien"} and page.total == 2
    assert (await service.watchlist_random(7)).title in {"Heat", "Alien"}
    assert await service.watchlist_remove(7, heat) and not await service.watchlist_remove(7, heat)
    assert (await service.watchlist_page(8)).items == []
    with pytest.raises(UserFacingError, match="empty"):
        await service.watchlist_random(8)


async def test_require_film_resolves_picks_digit_titles_and_reports_misses(service: FilmService) -> None:
    nineteen = await film(service, "1917")
    chungking = await film(service, "Chungking Express")
    # Typed "1917" (no pick) is the title; a picked id is the id.
    assert (await service.require_film("1917"))[0].id == nineteen.id
    catalog: FilmCatalog = service.catalog
    catalog.remember_offer(5, [FilmChoice(chungking.id, "x", str(chungking.id))])
    assert (await service.require_film(str(chungking.id), user_id=5))[0].id == chungking.id
    assert (await service.require_film(str(chungking.id)))[0].id == chungking.id  # no title "N": the id
    # A typo'd title finds the film; words no single film has give suggestions.
    assert (await service.require_film("Chungkong Expres"))[0].id == chungking.id
    with pytest.raises(NotFoundError) as raised:
        await service.require_film("heat alien")
    assert "No film found" in raised.value.message
    assert "Heat (1995)" in raised.value.message and "Alien (1979)" in raised.value.message
    for odd in ("🎬", "²", "١٢", "-0", "9" * 40):
        with pytest.raises(NotFoundError):
            await service.require_film(odd)


async def test_autocomplete_caches_and_invalidates(service: FilmService, db: Database) -> None:
    catalog = service.catalog
    first = await catalog.autocomplete("ali")
    assert [c.name for c in first] == ["Alien (1979)"] and first[0].value == str(first[0].film_id)
    await db.execute("UPDATE films SET title = 'Aliens' WHERE title = 'Alien'")
    assert await catalog.autocomplete("ali") == first  # cached for a few seconds
    catalog.invalidate()
    assert [c.name for c in await catalog.autocomplete("ali")] == ["Aliens (1979)"]
    assert len(await catalog.autocomplete("", 25)) == 4
    assert await catalog.autocomplete("🎬") == []


async def test_films_enter_the_catalog_from_reviews(service: FilmService, db: Database) -> None:
    reviews = ReviewRepository(db)
    known, _ = await reviews.upsert(
        source="markdown", source_key="h", slug="heat", title="Heat, revisited", film_title="heat", film_year=1995
    )
    new, _ = await reviews.upsert(
        source="markdown", source_key="s", slug="stalker", title="The Zone", film_title="Stalker", film_year=1979
    )
    await reviews.upsert(source="markdown", source_key="n", slug="none", title="A list of favourites")
    before = await service.films.count()
    assert await service.adopt_review_films() == 2
    assert (await reviews.get(known.id)).film_id == (await film(service, "Heat")).id
    stalker = await service.films.find_by_title("Stalker", 1979)
    assert stalker is not None and (await reviews.get(new.id)).film_id == stalker.id
    assert await service.films.count() == before + 1
    assert (await service.catalog.autocomplete("stalk"))[0].film_id == stalker.id
    assert await service.adopt_review_films() == 0  # idempotent
    card = await service.card(stalker, guild_id=GUILD)
    assert [link.review.slug for link in card.reviews] == ["stalker"]
