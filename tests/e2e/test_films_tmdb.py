"""/film with TMDB configured: enrichment through the stub, then local answers with a note when TMDB fails."""

from __future__ import annotations

import pytest

from bot.discord_double import DiscordDouble
from bot.settings import Secret
from bot.storage.films import FilmRecord, FilmRepository
from tests.doubles.tmdb_stub import TmdbStub, tmdb_movie

pytestmark = pytest.mark.e2e

KEY = "e2e-tmdb-key"


@pytest.fixture
async def tmdb() -> TmdbStub:
    async with TmdbStub(api_key=KEY) as stub:
        stub.add_movie(
            tmdb_movie(
                843,
                "In the Mood for Love",
                release_date="2000-09-29",
                original_title="花樣年華",
                directors=("Wong Kar-wai",),
                cast=("Maggie Cheung", "Tony Leung Chiu-wai"),
                runtime=98,
                genres=("Drama", "Romance"),
                overview="Two neighbours discover their spouses are having an affair.",
                poster_path="/mood.jpg",
                imdb_id="tt0118694",
            )
        )
        yield stub


async def film_card(double: DiscordDouble, world, title: str) -> dict:
    record = await double.invoke_command(
        world.guild_id, world.text_channel_id, world.member_id, "film", {"title": title}
    )
    response = await record.wait_response()
    assert response["type"] == 5  # deferred: TMDB may take a moment
    return await record.wait_final_message()


async def test_film_uses_tmdb_then_falls_back_with_a_note(
    double: DiscordDouble, world, run_bot, tmdb: TmdbStub, caplog: pytest.LogCaptureFixture
) -> None:
    bot = await run_bot(tmdb_api_key=Secret(KEY), tmdb_api_base=tmdb.base_url)
    await FilmRepository(bot.db).import_batch([FilmRecord(title="Chungking Express", year=1994)])

    message = await film_card(double, world, "In the Mood for Love")
    embed = message["embeds"][0]
    assert embed["title"] == "In the Mood for Love (2000)"
    assert embed["thumbnail"]["url"] == "https://image.tmdb.org/t/p/w500/mood.jpg"
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert fields["Director"] == "Wong Kar-wai" and "Maggie Cheung" in fields["Cast"]
    followup = double.find_requests("POST", r"/webhooks/\d+/[^/]+$")[-1]
    assert followup.json["allowed_mentions"] == {"parse": []}
    stored = await FilmRepository(bot.db).by_tmdb_id(843)
    assert stored is not None and stored.imdb_id == "tt0118694"
    # It is in the catalog now: autocomplete finds it without TMDB.
    sent = len(tmdb.requests)
    found = await double.autocomplete_choices(
        world.guild_id, world.text_channel_id, world.member_id, "film", {"title": "mood for"}, "title"
    )
    assert found[0]["value"] == str(stored.id) and len(tmdb.requests) == sent

    # TMDB rate-limits us: the local film is shown with the note.
    tmdb.queue_status(429, retry_after="30")
    message = await film_card(double, world, "Chungking Express")
    embed = message["embeds"][0]
    assert embed["title"] == "Chungking Express (1994)"
    assert embed["footer"]["text"] == "TMDB is unavailable right now; showing local results."
    assert KEY not in caplog.text
