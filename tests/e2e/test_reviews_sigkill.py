"""The outbox against a real crash: the bot runs in a subprocess and is SIGKILLed mid-delivery.

Discord (the double) creates the posts but its answers are held back, so the bot
process dies after the send reached Discord and before it could record it. The
restarted bot must find the posts instead of posting again: exactly one
announcement per guild, and no second send.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from bot.discord_double import DiscordDouble
from tests.doubles.feed_server import FeedServer, rss_feed
from tests.e2e.conftest import TEST_TOKEN
from tests.e2e.reviews_support import (
    FAST,
    announcement_sends,
    bot_posts,
    forum_posts,
    pending_count,
    run_command,
    second_guild,
    settle,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
OLD = {"title": "Rear Window: Neighbours", "link": "https://blog.example/rear-window/", "guid": "r",
       "date": "Mon, 06 Jan 2025 10:00:00 +0000"}  # fmt: skip
NEW = {"title": "Vertigo: Falling for Madeleine", "link": "https://blog.example/vertigo/", "guid": "v",
       "date": "Tue, 07 Jan 2025 10:00:00 +0000"}  # fmt: skip


def hold_responses(double: DiscordDouble, release: asyncio.Event) -> list:
    """Let the double create messages/forum posts, then never answer (until ``release``)."""
    patched = []
    for route in double._routes:
        if route.handler.__name__ in ("_r_post_message", "_r_thread_without_message"):
            original = route.handler

            async def held(*args, _original=original):
                result = await _original(*args)
                await release.wait()
                return result

            patched.append((route, original))
            route.handler = held
    return patched


async def start_bot_process(double: DiscordDouble, run_bot, url: str, tmp_path: Path):
    """``matinee run`` in a child process on the test's database, reviews folder and feed."""
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DISCORD_TOKEN": TEST_TOKEN,
        "DISCORD_API_BASE": double.api_base,
        "DISCORD_GATEWAY_URL": double.gateway_url,
        "DATABASE_PATH": str(run_bot.database_path),
        "REVIEWS_DIR": str(run_bot.reviews_dir),
        "REVIEW_FEEDS": url,
        "FEED_POLL_SECONDS": "10",
        "FEED_ALLOW_PRIVATE_NETWORKS": "true",
        "LOG_LEVEL": "INFO",
        "WEB_PORT": "0",
    }
    log_file = (tmp_path / "bot.log").open("wb")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "--env-file", str(tmp_path / "none.env"), "run",
        cwd=tmp_path, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=log_file,
    )  # fmt: skip
    return process, log_file


async def kill_when(double: DiscordDouble, run_bot, url: str, tmp_path: Path, condition, release: asyncio.Event,
                    patched: list) -> int:  # fmt: skip
    """Run the bot process until ``condition`` holds, SIGKILL it, then let Discord answer again; its exit code."""
    process, log_file = await start_bot_process(double, run_bot, url, tmp_path)
    try:
        await double.wait_until(condition, timeout=60)
    finally:
        process.send_signal(signal.SIGKILL)
        await process.wait()
        log_file.close()
        release.set()
        for route, original in patched:
            route.handler = original
    return process.returncode


async def test_sigkill_between_send_and_record_then_restart_posts_exactly_once(
    double: DiscordDouble, world, run_bot, feeds: FeedServer, tmp_path: Path
) -> None:
    feeds.serve("/feed.xml", rss_feed([OLD]))
    other = await second_guild(double, forum=True)
    url = feeds.url("/feed.xml")
    bot = await run_bot(review_feeds=(url,), **FAST)
    for gid, cid, admin in ((world.guild_id, world.text_channel_id, world.admin_id),
                            (other.guild_id, other.channel_id, other.admin_id)):  # fmt: skip
        await run_command(double, gid, cid, admin, "matinee setup", channel=cid)
    await settle(bot)  # the feed's first read: recorded silently
    await run_bot.stop(bot)

    feeds.serve("/feed.xml", rss_feed([NEW, OLD]))
    release = asyncio.Event()
    patched = hold_responses(double, release)
    posted = lambda: bot_posts(double, world.text_channel_id) and forum_posts(double, other.channel_id)  # noqa: E731
    code = await kill_when(double, run_bot, url, tmp_path, posted, release, patched)
    assert code == -signal.SIGKILL
    assert await pending_count(run_bot.database_path) == 2  # Discord has both posts; we recorded neither
    sends_before = announcement_sends(double, world.text_channel_id, other.channel_id)

    bot = await run_bot(review_feeds=(url,), **FAST)
    await settle(bot)
    assert await pending_count(run_bot.database_path) == 0
    assert announcement_sends(double, world.text_channel_id, other.channel_id) == sends_before  # adopted, not re-sent
    assert [p["embeds"][0]["title"] for p in bot_posts(double, world.text_channel_id)] == [NEW["title"]]
    assert [p["embeds"][0]["title"] for p in forum_posts(double, other.channel_id)] == [NEW["title"]]
    await run_bot.stop(bot)


def hold_route(double: DiscordDouble, handler_name: str, release: asyncio.Event) -> list:
    """Requests to this route are received (and recorded), then wait for ``release`` before being handled."""
    patched = []
    for route in double._routes:
        if route.handler.__name__ == handler_name:
            original = route.handler

            async def held(*args, _original=original):
                await release.wait()
                return await _original(*args)

            patched.append((route, original))
            route.handler = held
    return patched


async def test_sigkill_after_a_lost_answer_to_a_forum_post_then_restart_posts_it_once(
    double: DiscordDouble, world, run_bot, feeds: FeedServer, tmp_path: Path
) -> None:
    """Discord makes the forum post and answers 502; the bot dies while it looks for the post; one post."""
    feeds.serve("/feed.xml", rss_feed([OLD]))
    url = feeds.url("/feed.xml")
    forum = world.forum_channel_id
    bot = await run_bot(review_feeds=(url,), **FAST)
    await run_command(double, world.guild_id, forum, world.admin_id, "matinee setup", channel=forum)
    await settle(bot)  # the feed's first read: recorded silently
    await run_bot.stop(bot)

    feeds.serve("/feed.xml", rss_feed([NEW, OLD]))
    lost = double.lose_response("POST", rf"^/channels/{forum}/threads$", 502)
    release = asyncio.Event()
    patched = hold_route(double, "_r_active_threads", release)  # the look for the post never answers
    looking = rf"^/guilds/{world.guild_id}/threads/active$"
    code = await kill_when(double, run_bot, url, tmp_path, lambda: double.find_requests("GET", looking), release,
                           patched)  # fmt: skip
    assert code == -signal.SIGKILL
    assert lost.hits == 1 and len(forum_posts(double, forum)) == 1  # Discord has the post ...
    assert await pending_count(run_bot.database_path) == 1  # ... and the bot recorded nothing
    sends_before = announcement_sends(double, forum)
    assert sends_before == 1  # the 502 was not retried

    bot = await run_bot(review_feeds=(url,), **FAST)
    await settle(bot)
    assert await pending_count(run_bot.database_path) == 0
    assert announcement_sends(double, forum) == sends_before  # adopted, not re-sent
    [post] = forum_posts(double, forum)
    assert post["embeds"][0]["title"] == NEW["title"]
    rows = await bot.db.fetchall("SELECT thread_id FROM announcements WHERE state = 'sent'")
    assert [r[0] for r in rows] == [int(post["id"])]
    await run_bot.stop(bot)
