"""The sandbox as a whole: the seeded world, the feed path, the bot's settings and a clean stop."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import aiohttp
import pytest

from bot.discord_double.protocol import FLAG_EPHEMERAL
from bot.reviews.feeds import parse_feed
from bot.sandbox import Sandbox
from bot.sandbox.runner import SAMPLE_REVIEWS
from bot.settings import Secret
from tests.sandbox.conftest import announcements, fresh_settings, opening, seeded, start_sandbox, threads

pytestmark = pytest.mark.e2e


async def test_starts_with_the_sample_reviews_announced_with_threads_and_polls(sandbox: Sandbox) -> None:
    assert sandbox.double is not None and sandbox.world is not None and sandbox.blog is not None
    guild = sandbox.double.guilds[sandbox.world.guild_id]
    assert guild["name"] == "Film Club"
    assert str(sandbox.world.owner_id) == guild["owner_id"]
    assert len(sandbox.world.member_ids) == 2

    sample_titles = {p.read_text(encoding="utf-8").split("title:", 1)[1].splitlines()[0].strip().strip('"')
                     for p in SAMPLE_REVIEWS.glob("*.md")}  # fmt: skip
    posted = announcements(sandbox)
    assert {m["embeds"][0]["title"] for m in posted} == sample_titles
    # Each announcement links to its page on the sample blog and opened a thread with a star poll.
    for message in posted:
        assert message["embeds"][0]["url"].startswith(sandbox.blog.url() + "reviews/")
        assert message["thread"]["id"] == message["id"]
    for thread in threads(sandbox):
        poll = opening(sandbox, thread)["poll"]
        assert len(poll["answers"]) == 5


async def test_matinee_is_set_up_by_the_owners_own_commands(sandbox: Sandbox) -> None:
    assert sandbox.view is not None and sandbox.world is not None and sandbox.double is not None
    world = sandbox.world
    used = [r for r in sandbox.double.interactions.values() if r.user_id == world.owner_id]
    names = [sandbox.view.message(r.original)["sandbox"]["command"] for r in used]
    assert names == ["/matinee setup", "/matinee web", "/matinee feed add"]
    # The answers were private to the owner, as on Discord; the page shows them to the owner only.
    assert all(r.original["flags"] & FLAG_EPHEMERAL for r in used)
    for_owner = sandbox.view.messages(world.general_channel_id, for_user=world.owner_id)
    assert any("Reviews will be announced in" in m["content"] for m in for_owner)
    assert any("Following **The Matinee Sample Blog**" in m["content"] for m in for_owner)
    assert any("**Publishing is on**" in m["content"] for m in for_owner)
    assert sandbox.view.messages(world.general_channel_id, for_user=world.member_ids[0]) == []


async def test_the_blogs_new_review_is_polled_announced_once_and_discussed() -> None:
    sandbox = await start_sandbox()
    try:
        assert sandbox.blog is not None and sandbox.blog.upcoming is not None
        await seeded(sandbox, 3)
        title = sandbox.blog.upcoming.title
        sandbox.blog.publish_now()
        await seeded(sandbox, 4)
        reads = sandbox.blog.feed_reads
        # Later polls find the same entry again (the feed is read at least twice more): still one announcement.
        await sandbox.double.wait_until(lambda: sandbox.blog.feed_reads >= reads + 2, timeout=30)
        assert [m["embeds"][0]["title"] for m in announcements(sandbox)].count(title) == 1
        assert len(threads(sandbox)) == 4
        assert any("In the Mood for Love" in t["name"] for t in threads(sandbox))
    finally:
        await sandbox.close()


async def test_the_blogs_pages_carry_the_widget_and_matinee_publishes_the_threads_replies(sandbox: Sandbox) -> None:
    assert sandbox.blog is not None and sandbox.double is not None and sandbox.world is not None
    post = sandbox.blog.post("chungking-express")
    assert post is not None
    page_url = sandbox.blog.url(post)
    thread = next(t for t in threads(sandbox) if "Chungking" in t["name"])
    comment = "Best use of The Mamas & the Papas"
    await sandbox.double.post_message(int(thread["id"]), sandbox.world.member_ids[0], comment)
    async with aiohttp.ClientSession() as session:
        async with session.get(page_url) as response:
            html = await response.text()
            policy = response.headers["Content-Security-Policy"]
        assert f'<link rel="canonical" href="{page_url}">' in html
        assert '<div class="matinee-comments"></div>' in html
        assert f'<script src="{sandbox.web_url}/embed.js" crossorigin="anonymous" async></script>' in html
        assert f"script-src {sandbox.web_url}" in policy and f"connect-src {sandbox.web_url}" in policy

        async def published() -> list[str]:
            async with session.get(f"{sandbox.web_url}/v1/comments", params={"url": page_url},
                                   headers={"Origin": sandbox.url}) as answer:  # fmt: skip
                assert answer.headers["Access-Control-Allow-Origin"] == sandbox.url
                body = await answer.json()
                return [c["content"] for c in body.get("comments", [])] if answer.status == 200 else []

        async def until_published() -> None:  # the comment is stored, then served
            while "Best use of The Mamas & the Papas" not in " ".join(await published()):
                await asyncio.sleep(0.05)

        await asyncio.wait_for(until_published(), 20)


async def test_the_feed_reads_like_a_blog_feed_to_matinee(sandbox: Sandbox) -> None:
    assert sandbox.blog is not None
    parsed = parse_feed(sandbox.blog.feed_xml().encode(), url=sandbox.blog.feed_url)
    by_film = {e.film_title: e for e in parsed.entries}
    assert set(by_film) == {"Chungking Express", "Paris, Texas", "Stalker"}
    stalker = by_film["Stalker"]
    assert (stalker.film_year, stalker.rating, stalker.spoilers) == (1979, 5.0, True)
    assert stalker.url == sandbox.blog.url() + "reviews/stalker/"
    assert stalker.image_url == sandbox.blog.poster_url(sandbox.blog.post("stalker"))
    async with aiohttp.ClientSession() as session:
        async with session.get(sandbox.blog.feed_url) as first:
            etag = first.headers["ETag"]
        async with session.get(sandbox.blog.feed_url, headers={"If-None-Match": etag}) as again:
            assert again.status == 304  # conditional GETs, as Matinee sends them


async def test_the_bot_runs_with_the_users_settings_pointed_at_the_sandbox(tmp_path: Path) -> None:
    real = "MTIz.real-token-that-must-never-leave"
    settings = fresh_settings(discord_token=Secret(real), database_path=tmp_path / "production.db",
                              review_feeds=("https://blog.example/feed/",), openai_model="my-model")  # fmt: skip
    sandbox = await start_sandbox(settings=settings)
    try:
        assert sandbox.bot is not None and sandbox.double is not None
        bot_settings = sandbox.bot.settings
        assert bot_settings.discord_api_base == sandbox.double.api_base
        assert bot_settings.discord_gateway_url == sandbox.double.gateway_url
        assert bot_settings.feed_allow_private_networks is True
        assert bot_settings.review_feeds == ()
        assert bot_settings.openai_model == "my-model"  # the user's own settings still apply
        assert bot_settings.database_path != settings.database_path
        assert not (tmp_path / "production.db").exists()
        assert bot_settings.discord_token is not None and bot_settings.discord_token.reveal() != real
        identify = next(f for f in sandbox.double.gateway_received if f.get("op") == 2)
        assert real not in str(identify) and real not in str([r.headers for r in sandbox.double.requests])
    finally:
        await sandbox.close()


async def test_close_stops_every_part_and_deletes_the_temporary_database() -> None:
    sandbox = await start_sandbox()
    assert sandbox.database_path is not None and sandbox.double is not None
    database = sandbox.database_path
    port, double_port = int(sandbox.url.rsplit(":", 1)[1]), sandbox.double.port
    assert database.exists()
    await sandbox.close()
    assert not database.exists() and not database.parent.exists()
    for closed in (port, double_port):
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", closed)) != 0
    await sandbox.close()  # twice is harmless


async def test_a_named_database_is_kept_and_can_be_started_again(tmp_path: Path) -> None:
    database = tmp_path / "keep" / "sandbox.db"
    for _ in range(2):  # the second start meets a database that has seen all of it before
        sandbox = await start_sandbox(database=database)
        try:
            assert sandbox.double is not None
            await seeded(sandbox, 3)
            assert {c["name"] for c in sandbox.double.global_commands} >= {"film", "ask", "matinee"}
        finally:
            await sandbox.close()
        assert database.exists()
