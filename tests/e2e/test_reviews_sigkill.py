"""The outbox against a real crash: the bot runs in a subprocess and is SIGKILLed mid-delivery.

Discord (the double) creates the posts but its answers are held back, so the bot
process dies after the send reached Discord and before it could record it. The
restarted bot must find the posts instead of posting again: exactly one
announcement per guild, and no second send.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from bot.discord_double import DiscordDouble
from tests.doubles.feed_server import FeedServer, rss_feed
from tests.e2e._sigkill import Held, kill_when
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

OLD = {"title": "Rear Window: Neighbours", "link": "https://blog.example/rear-window/", "guid": "r",
       "date": "Mon, 06 Jan 2025 10:00:00 +0000"}  # fmt: skip
NEW = {"title": "Vertigo: Falling for Madeleine", "link": "https://blog.example/vertigo/", "guid": "v",
       "date": "Tue, 07 Jan 2025 10:00:00 +0000"}  # fmt: skip


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
    held = Held(double, "_r_post_message", "_r_thread_without_message")  # made, then never answered
    posted = lambda: bot_posts(double, world.text_channel_id) and forum_posts(double, other.channel_id)  # noqa: E731
    code = await kill_when(double, run_bot, tmp_path, posted, held, REVIEW_FEEDS=url)
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
    held = Held(double, "_r_active_threads", done_first=False)  # the look for the post never answers
    looking = rf"^/guilds/{world.guild_id}/threads/active$"
    code = await kill_when(double, run_bot, tmp_path, lambda: double.find_requests("GET", looking), held,
                           REVIEW_FEEDS=url)  # fmt: skip
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
