"""Films end to end: autocomplete (type 4), /film, /rate, /top, /reviews and /watchlist payloads."""

from __future__ import annotations

import pytest

from bot.discord_double import DiscordDouble
from bot.storage import AnnouncementRepository, RatingRepository, ReviewRepository
from bot.storage.films import FilmRecord, FilmRepository

pytestmark = pytest.mark.e2e

EPHEMERAL = 1 << 6
THREAD_ID = 777000111222333444


async def seed(bot) -> dict[str, int]:
    films = FilmRepository(bot.db)
    await films.import_batch(
        [
            FilmRecord(
                title="Chungking Express",
                original_title="Chung Hing sam lam",
                year=1994,
                directors=["Wong Kar-wai"],
                cast=["Brigitte Lin", "Tony Leung", "Faye Wong"],
                runtime_minutes=102,
                genres=["Drama", "Romance"],
                overview="Two melancholic Hong Kong policemen fall in love.",
                imdb_id="tt0109424",
                vote_count=90_000,
            ),
            FilmRecord(title="1917", year=2019, directors=["Sam Mendes"], genres=["War"], vote_count=600_000),
            FilmRecord(title="2046", year=2004, directors=["Wong Kar-wai"], genres=["Drama"], vote_count=60_000),
            FilmRecord(title="Hamlet", year=1948, directors=["Laurence Olivier"], vote_count=20_000),
            FilmRecord(title="Hamlet", year=1996, directors=["Kenneth Branagh"], vote_count=40_000),
        ]
    )
    ids = {
        "chungking": (await films.by_imdb_id("tt0109424")).id,
        "1917": (await films.find_by_title("1917")).id,
        "2046": (await films.find_by_title("2046")).id,
        "hamlet48": (await films.find_by_title("Hamlet", 1948)).id,
        "hamlet96": (await films.find_by_title("Hamlet", 1996)).id,
    }
    return ids


async def add_review(bot, film_id: int, guild_id: int, channel_id: int) -> int:
    review, _ = await ReviewRepository(bot.db).upsert(
        source="markdown",
        source_key="chungking.md",
        slug="chungking-express",
        title="Chungking Express: A Love Letter to Loneliness",
        url="https://blog.example.com/chungking-express",
        author="Rosa",
        film_title="Chungking Express",
        film_year=1994,
        film_id=film_id,
        excerpt="Wong Kar-wai's Hong Kong, with canned pineapple.",
        body_md="Wong Kar-wai's Hong Kong, with Faye Wong and canned pineapple.",
        content_hash="v1",
    )
    await bot.db.execute(
        "INSERT INTO announcements (review_id, guild_id, channel_id, message_id, thread_id, nonce, state) "
        "VALUES (?, ?, ?, ?, ?, 'n1', 'sent')",
        (review.id, guild_id, channel_id, 1234, THREAD_ID),
    )
    await bot.db.execute(
        "INSERT INTO comments (message_id, review_id, guild_id, thread_id, author_id, author_name, content, "
        "created_at) "
        "VALUES (1, ?, ?, ?, 5, 'Mo', 'Loved the pineapple bit', '2026-01-01T00:00:00Z'),"
        " (2, ?, ?, ?, 6, 'Al', 'California Dreamin forever', '2026-01-01T00:00:01Z')",
        (review.id, guild_id, THREAD_ID, review.id, guild_id, THREAD_ID),
    )
    assert (await AnnouncementRepository(bot.db).get(review.id, guild_id)).thread_id == THREAD_ID
    return review.id


async def choices(double: DiscordDouble, world, command: str, option: str, typed: str, user_id=None) -> list[dict]:
    return await double.autocomplete_choices(
        world.guild_id, world.text_channel_id, user_id or world.member_id, command, {option: typed}, option
    )


async def test_film_autocomplete_returns_labelled_choices_with_ids(double: DiscordDouble, world, run_bot) -> None:
    bot = await run_bot()
    ids = await seed(bot)

    found = await choices(double, world, "film", "title", "chung")
    assert found[0] == {"name": "Chungking Express (1994) — Wong Kar-wai", "value": str(ids["chungking"])}

    # Typos, alternative titles, digit-only titles and same-titled films.
    assert (await choices(double, world, "film", "title", "chunking expres"))[0]["value"] == str(ids["chungking"])
    assert (await choices(double, world, "film", "title", "Chung Hing sam lam"))[0]["value"] == str(ids["chungking"])
    assert (await choices(double, world, "film", "title", "2046"))[0]["value"] == str(ids["2046"])
    hamlets = await choices(double, world, "film", "title", "hamlet")
    assert [c["name"] for c in hamlets] == ["Hamlet (1996) — Kenneth Branagh", "Hamlet (1948) — Laurence Olivier"]

    # Hostile input answers with (possibly no) choices, never an error.
    for typed in ['"NEAR(a b)" AND (x OR -)', "-", "🎬🍿", "שלום עולם", "x" * 200, '*"']:
        result = await choices(double, world, "film", "title", typed)
        assert isinstance(result, list) and len(result) <= 25
    # Empty input offers the most popular films.
    assert (await choices(double, world, "film", "title", ""))[0]["value"] == str(ids["1917"])
    # /rate and /watchlist share the same autocomplete.
    assert (await choices(double, world, "rate", "film", "1917"))[0]["value"] == str(ids["1917"])


async def test_film_card_shows_details_reviews_ratings_and_discussion_link(
    double: DiscordDouble, world, run_bot
) -> None:
    bot = await run_bot()
    ids = await seed(bot)
    await add_review(bot, ids["chungking"], world.guild_id, world.text_channel_id)
    ratings = RatingRepository(bot.db)
    await ratings.set_rating(world.guild_id, 11, ids["chungking"], 4.0)
    await ratings.set_rating(world.guild_id, 12, ids["chungking"], 5.0, source="poll")

    await choices(double, world, "film", "title", "chung")
    record = await double.invoke_command(
        world.guild_id, world.text_channel_id, world.member_id, "film", {"title": str(ids["chungking"])}
    )
    response = await record.wait_response()
    assert response["type"] == 4
    data = response["data"]
    assert data["allowed_mentions"] == {"parse": []}
    embed = data["embeds"][0]
    assert embed["title"] == "Chungking Express (1994)"
    assert "policemen" in embed["description"]
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert fields["Director"] == "Wong Kar-wai"
    assert "Faye Wong" in fields["Cast"]
    assert fields["Runtime"] == "1 h 42 min"
    assert fields["Genres"] == "Drama, Romance"
    assert "4.5 / 5 · 2 ratings · 2 comments" in fields["Community"]
    assert "https://blog.example.com/chungking-express" in fields["Our reviews"]
    thread_url = f"https://discord.com/channels/{world.guild_id}/{THREAD_ID}"
    assert thread_url in fields["Our reviews"]
    buttons = [c for row in data["components"] for c in row["components"]]
    assert (buttons[0]["label"], buttons[0]["url"]) == ("Join the discussion", thread_url)
    assert buttons[1]["url"] == "https://blog.example.com/chungking-express"


async def test_film_with_typed_text_and_unknown_film(double: DiscordDouble, world, run_bot) -> None:
    bot = await run_bot()
    await seed(bot)
    # A digit-only title typed without picking a choice means the title, not a film id.
    record = await double.invoke_command(
        world.guild_id, world.text_channel_id, world.member_id, "film", {"title": "1917"}
    )
    assert (await record.wait_response())["data"]["embeds"][0]["title"] == "1917 (2019)"

    record = await double.invoke_command(
        world.guild_id, world.text_channel_id, world.member_id, "film", {"title": "zzqx wvvy"}
    )
    data = (await record.wait_response())["data"]
    assert data["flags"] & EPHEMERAL
    assert "No film found" in data["content"]


async def test_rate_is_ephemeral_validated_and_updates(double: DiscordDouble, world, run_bot) -> None:
    bot = await run_bot()
    ids = await seed(bot)
    await choices(double, world, "rate", "film", "chung")
    record = await double.invoke_command(
        world.guild_id, world.text_channel_id, world.member_id, "rate", {"film": str(ids["chungking"]), "stars": 4.5}
    )
    data = (await record.wait_response())["data"]
    assert data["flags"] & EPHEMERAL
    assert "You rated **Chungking Express** (1994)" in data["content"] and "4.5/5" in data["content"]

    record = await double.invoke_command(
        world.guild_id, world.text_channel_id, world.member_id, "rate", {"film": str(ids["chungking"]), "stars": 3}
    )
    data = (await record.wait_response())["data"]
    assert "Updated your rating" in data["content"] and "It was 4.5" in data["content"]
    ratings = RatingRepository(bot.db)
    assert await ratings.get_rating(world.guild_id, world.member_id, ids["chungking"]) == 3.0
    assert (await ratings.summary(ids["chungking"], world.guild_id)).votes == 1

    # A value outside the choices (a crafted payload) is refused with a clear message.
    record = await double.invoke_command(
        world.guild_id, world.text_channel_id, world.member_id, "rate", {"film": str(ids["chungking"]), "stars": 4.2}
    )
    data = (await record.wait_response())["data"]
    assert data["flags"] & EPHEMERAL and "half steps" in data["content"]
    assert await ratings.get_rating(world.guild_id, world.member_id, ids["chungking"]) == 3.0


async def test_top_leaderboard_pages_with_buttons(double: DiscordDouble, world, run_bot) -> None:
    bot = await run_bot()
    films = FilmRepository(bot.db)
    await films.import_batch(
        [FilmRecord(title=f"Film {n:02d}", year=2000 + n, genres=["Drama"]) for n in range(12)]
        + [FilmRecord(title="Lonely Film", year=1999, genres=["Drama"])]
    )
    ratings = RatingRepository(bot.db)
    for n in range(12):
        film = await films.find_by_title(f"Film {n:02d}")
        for user in range(3):
            await ratings.set_rating(world.guild_id, 100 + user, film.id, 0.5 + (n % 10) * 0.5)
    lonely = await films.find_by_title("Lonely Film")
    await ratings.set_rating(world.guild_id, 100, lonely.id, 5.0)  # one vote: below the threshold

    genres = await double.autocomplete_choices(
        world.guild_id, world.text_channel_id, world.member_id, "top", {"genre": "dr"}, "genre"
    )
    assert genres == [{"name": "Drama", "value": "Drama"}]

    record = await double.invoke_command(world.guild_id, world.text_channel_id, world.member_id, "top", {})
    data = (await record.wait_response())["data"]
    embed = data["embeds"][0]
    assert "Lonely Film" not in embed["description"]
    assert embed["description"].startswith("**1.** **Film 09** (2009)")
    assert embed["footer"]["text"].startswith("Page 1 of 2")
    buttons = {c["label"]: c for row in data["components"] for c in row["components"]}
    assert buttons["◀ Previous"]["disabled"] is True

    message = await record.wait_final_message()
    # Only the invoking member may turn pages.
    stranger = await double.click_component(message, buttons["Next ▶"]["custom_id"], world.admin_id)
    assert (await stranger.wait_response())["data"]["flags"] & EPHEMERAL
    click = await double.click_component(message, buttons["Next ▶"]["custom_id"], world.member_id)
    page2 = await click.wait_response()
    assert page2["type"] == 7
    assert page2["data"]["embeds"][0]["footer"]["text"].startswith("Page 2 of 2")
    assert "**11.**" in page2["data"]["embeds"][0]["description"]

    # Genre filter with no match explains the threshold and that poll votes count.
    record = await double.invoke_command(
        world.guild_id, world.text_channel_id, world.member_id, "top", {"genre": "Horror", "period": "week"}
    )
    description = (await record.wait_response())["data"]["embeds"][0]["description"]
    assert "No film has 3 or more ratings" in description and "polls count" in description


async def test_staff_set_how_many_ratings_top_needs_per_server(double: DiscordDouble, world, run_bot) -> None:
    bot = await run_bot()
    films = FilmRepository(bot.db)
    await films.import_batch([FilmRecord(title="Lonely Film", year=1999), FilmRecord(title="Pair Film", year=2001)])
    lonely, pair = await films.find_by_title("Lonely Film"), await films.find_by_title("Pair Film")
    ratings = RatingRepository(bot.db)
    await ratings.set_rating(world.guild_id, 100, lonely.id, 5.0)
    for user in (100, 101):
        await ratings.set_rating(world.guild_id, user, pair.id, 4.0)

    async def top() -> dict:
        record = await double.invoke_command(world.guild_id, world.text_channel_id, world.member_id, "top", {})
        return (await record.wait_response())["data"]["embeds"][0]

    async def staff_sets(user_id: int, options: dict) -> dict:
        record = await double.invoke_command(
            world.guild_id, world.text_channel_id, user_id, "matinee top-min-votes", options
        )
        return (await record.wait_response())["data"]

    assert "No film has 3 or more ratings" in (await top())["description"]  # the default
    refused = await staff_sets(world.member_id, {"votes": 1})
    assert refused["flags"] & EPHEMERAL and "permission" in refused["content"]
    for wrong in (0, 51):  # Discord enforces the option's range; a forged interaction gets a clear answer
        assert "1 to 50 ratings" in (await staff_sets(world.admin_id, {"votes": wrong}))["content"]
    shown = await staff_sets(world.admin_id, {})
    assert (
        shown["flags"] & EPHEMERAL and "at least 3 ratings to appear in `/top` here (the default)" in shown["content"]
    )

    assert "now needs at least 1 rating to appear" in (await staff_sets(world.admin_id, {"votes": 1}))["content"]
    embed = await top()
    assert "Pair Film" in embed["description"] and "Lonely Film" in embed["description"]
    assert embed["footer"]["text"].endswith("films with at least 1 rating")

    await staff_sets(world.admin_id, {"votes": 2})
    await run_bot.stop(bot)
    await run_bot()  # the setting is the server's, stored: a restart keeps it
    embed = await top()
    assert "Pair Film" in embed["description"] and "Lonely Film" not in embed["description"]
    assert embed["footer"]["text"].endswith("films with at least 2 ratings")


async def test_reviews_search_links_review_and_thread(double: DiscordDouble, world, run_bot) -> None:
    bot = await run_bot()
    ids = await seed(bot)
    await add_review(bot, ids["chungking"], world.guild_id, world.text_channel_id)
    record = await double.invoke_command(
        world.guild_id, world.text_channel_id, world.member_id, "reviews", {"query": "pineapple"}
    )
    embed = (await record.wait_response())["data"]["embeds"][0]
    field = embed["fields"][0]
    assert field["name"].startswith("Chungking Express: A Love Letter")
    assert "[Read](https://blog.example.com/chungking-express)" in field["value"]
    assert f"https://discord.com/channels/{world.guild_id}/{THREAD_ID}" in field["value"]

    # Film filter: the other film has no reviews; hostile query syntax is harmless.
    record = await double.invoke_command(
        world.guild_id,
        world.text_channel_id,
        world.member_id,
        "reviews",
        {"film": str(ids["2046"]), "query": 'pine* NEAR("x" -'},
    )
    embed = (await record.wait_response())["data"]["embeds"][0]
    assert "No reviews match" in embed["description"]

    # /reviews (in the reviews feature) takes the same film option: choices, a typed title, a miss.
    assert (await choices(double, world, "reviews", "film", "chung"))[0]["value"] == str(ids["chungking"])
    record = await double.invoke_command(
        world.guild_id, world.text_channel_id, world.member_id, "reviews", {"film": "chungking express"}
    )
    embed = (await record.wait_response())["data"]["embeds"][0]
    assert embed["title"] == "Reviews · Chungking Express (1994)" and len(embed["fields"]) == 1
    record = await double.invoke_command(
        world.guild_id, world.text_channel_id, world.member_id, "reviews", {"film": "zzqx wvvy"}
    )
    data = (await record.wait_response())["data"]
    assert data["flags"] & EPHEMERAL and data["content"].startswith("No film found")


async def test_watchlist_add_list_random_remove(double: DiscordDouble, world, run_bot) -> None:
    bot = await run_bot()
    ids = await seed(bot)

    async def run(name: str, options: dict | None = None) -> dict:
        record = await double.invoke_command(world.guild_id, world.text_channel_id, world.member_id, name, options)
        return (await record.wait_response())["data"]

    await choices(double, world, "watchlist add", "film", "chung")
    data = await run("watchlist add", {"film": str(ids["chungking"])})
    assert data["flags"] & EPHEMERAL and "Added **Chungking Express**" in data["content"]
    assert "already" in (await run("watchlist add", {"film": str(ids["chungking"])}))["content"]
    listed = await run("watchlist list")
    assert listed["flags"] & EPHEMERAL
    assert "Chungking Express" in listed["embeds"][0]["description"]
    assert "Chungking Express" in (await run("watchlist random"))["content"]

    remove_choices = await choices(double, world, "watchlist remove", "film", "")
    assert [c["value"] for c in remove_choices] == [str(ids["chungking"])]
    assert "Removed" in (await run("watchlist remove", {"film": str(ids["chungking"])}))["content"]
    data = await run("watchlist random")
    assert data["flags"] & EPHEMERAL and "empty" in data["content"]


async def test_film_hostile_text_and_dm_use(double: DiscordDouble, world, run_bot) -> None:
    bot = await run_bot()
    ids = await seed(bot)
    for typed in ['"NEAR(', "-", "🎬🍿", "x" * 200]:
        record = await double.invoke_command(
            world.guild_id, world.text_channel_id, world.member_id, "film", {"title": typed}
        )
        data = (await record.wait_response())["data"]
        assert data["flags"] & EPHEMERAL and data["content"].startswith("No film found"), typed
        assert "Something went wrong" not in data["content"]
    # /film works in DMs (no server ratings there); /rate is for servers only.
    record = await double.invoke_command(None, None, world.member_id, "film", {"title": str(ids["2046"])})
    embed = (await record.wait_response())["data"]["embeds"][0]
    assert embed["title"] == "2046 (2004)"
