"""Never silent (issue 17): what Discord refuses or removes is something staff can see, and it is retried.

Each test reproduces what an unlucky server did to the bot before the fix: a feed's
own channel deleted after ``/matinee setup`` moved announcements elsewhere (online,
and while the bot was away), a 403 on the announcement, a 403 on the discussion
thread, and permissions missing in a configured channel.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable

import discord
import pytest

import bot.problems as problems_module
from bot.discord_double import DiscordDouble
from bot.permissions import REQUIRED_PERMISSIONS
from bot.problems import RetryPolicy
from tests.doubles.feed_server import FeedServer, rss_feed
from tests.e2e.reviews_support import (
    FAST,
    bot_posts,
    follow_feed,
    next_read,
    openings,
    set_up_guild,
    settle,
    staff,
    threads_started,
    titles,
)

pytestmark = pytest.mark.e2e

OLD = {"title": "Alien: In Space", "link": "https://blog.example/alien/", "guid": "alien",
       "date": "Mon, 06 Jan 2025 10:00:00 +0000", "html": "<p>The Nostromo hums.</p>"}  # fmt: skip
HEAT = {"title": "Heat: The Coffee Shop Scene", "link": "https://blog.example/heat/", "guid": "heat",
        "date": "Tue, 07 Jan 2025 10:00:00 +0000", "html": "<p>Two men, one table.</p>"}  # fmt: skip
MISSING_PERMISSIONS = {"message": "Missing Permissions", "code": 50013}
# Test time instead of "one minute, doubling to an hour, for a day".
QUICK = RetryPolicy(first=dt.timedelta(milliseconds=200), cap=dt.timedelta(milliseconds=400))


async def eventually(check: Callable[[], Awaitable[object]], *, timeout: float = 15) -> object:
    """Await ``check()`` until it is truthy (what the bot does happens in its own loop)."""

    async def loop() -> object:
        while not (value := await check()):
            await asyncio.sleep(0.05)
        return value

    return await asyncio.wait_for(loop(), timeout)


def fields_of(answer: dict) -> dict[str, str]:
    """An embed's fields by name (continued sections joined)."""
    out: dict[str, str] = {}
    for field in answer["embeds"][0]["fields"]:
        name = field["name"].removesuffix(" (continued)")
        out[name] = f"{out[name]}\n{field['value']}" if name in out else field["value"]
    return out


async def test_a_deleted_feed_channel_falls_back_to_the_announcement_channel_and_staff_see_it(
    double: DiscordDouble, world, run_bot, feeds: FeedServer
) -> None:
    old_home = int((await double.add_text_channel(world.guild_id, "reviews-old"))["id"])
    new_home = int((await double.add_text_channel(world.guild_id, "reviews-new"))["id"])
    feeds.serve("/feed/", rss_feed([OLD]))
    bot = await run_bot(**FAST)
    await set_up_guild(double, world.guild_id, world.text_channel_id, world.admin_id)
    answer = await staff(double, world, "matinee feed add", url=feeds.url("/feed/"), channel=old_home)
    assert "Following" in answer["content"]
    await set_up_guild(double, world.guild_id, new_home, world.admin_id)  # announcements move; no log channel
    await double.delete_channel(old_home)

    feeds.serve("/feed/", rss_feed([HEAT, OLD]))
    await double.wait_until(lambda: bot_posts(double, new_home), timeout=15)
    await next_read(double, bot, feeds, "/feed/")
    assert titles(double, new_home) == [HEAT["title"]]
    # Staff see what happened: the feed now posts to the announcement channel, and why.
    listing = fields_of(await staff(double, world, "matinee feed list"))
    attention = listing["⚠ Needs attention"]
    assert f"The channel <#{old_home}> of the feed **The Film Blog** was deleted" in attention
    assert "now go to the announcement channel" in attention
    assert "posts to the announcement channel" in listing["The Film Blog"]
    await run_bot.stop(bot)


async def test_a_feed_channel_deleted_while_the_bot_was_away_falls_back_and_the_log_channel_is_told(
    double: DiscordDouble, world, run_bot, feeds: FeedServer
) -> None:
    old_home = int((await double.add_text_channel(world.guild_id, "reviews-old"))["id"])
    log_channel = int((await double.add_text_channel(world.guild_id, "bot-log"))["id"])
    feeds.serve("/feed/", rss_feed([OLD]))
    bot = await run_bot(**FAST)
    await set_up_guild(double, world.guild_id, world.text_channel_id, world.admin_id, log_channel=log_channel)
    await staff(double, world, "matinee feed add", url=feeds.url("/feed/"), channel=old_home)
    await run_bot.stop(bot)
    await double.delete_channel(old_home)  # nobody is connected to see the event
    feeds.serve("/feed/", rss_feed([HEAT, OLD]))

    bot = await run_bot(**FAST)
    await double.wait_until(lambda: bot_posts(double, world.text_channel_id), timeout=15)
    await double.wait_until(lambda: bot_posts(double, log_channel), timeout=15)
    await next_read(double, bot, feeds, "/feed/")
    assert titles(double, world.text_channel_id) == [HEAT["title"]]
    [notice] = bot_posts(double, log_channel)
    assert f"<#{old_home}>" in notice["content"] and "was deleted" in notice["content"]
    about = fields_of(await staff(double, world, "matinee about"))
    assert f"<#{old_home}>" in about["Problems"]
    await run_bot.stop(bot)


async def test_a_forbidden_announcement_is_visible_and_goes_out_once_discord_answers_again(
    double: DiscordDouble, world, run_bot, feeds: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(problems_module, "DEFAULT_RETRY", QUICK)
    log_channel = int((await double.add_text_channel(world.guild_id, "bot-log"))["id"])
    feeds.serve("/feed/", rss_feed([OLD]))
    bot = await run_bot(**FAST)
    await set_up_guild(double, world.guild_id, world.text_channel_id, world.admin_id, log_channel=log_channel)
    await follow_feed(double, world.guild_id, world.text_channel_id, world.admin_id, feeds.url("/feed/"))
    refused = double.inject_fault("POST", rf"^/channels/{world.text_channel_id}/messages$", 403, times=None,
                                  body=MISSING_PERMISSIONS)  # fmt: skip
    feeds.serve("/feed/", rss_feed([HEAT, OLD]))

    [notice] = await double.wait_until(lambda: bot_posts(double, log_channel), timeout=15)
    assert HEAT["title"] in notice["content"] and "403" in notice["content"]
    assert "Missing Permissions" in notice["content"]
    assert notice["mention_everyone"] is False
    attention = fields_of(await staff(double, world, "matinee feed list"))["⚠ Needs attention"]
    assert f"Announcing **{HEAT['title']}** in <#{world.text_channel_id}> failed" in attention
    assert "Retrying" in attention
    assert HEAT["title"] in fields_of(await staff(double, world, "matinee about"))["Problems"]
    await double.wait_until(lambda: refused.hits >= 3, timeout=15)  # retried, at a bounded pace
    assert bot_posts(double, world.text_channel_id) == []

    refused.times = refused.hits  # staff grant the permission: Discord answers again
    await double.wait_until(lambda: bot_posts(double, world.text_channel_id), timeout=15)
    await double.wait_until(lambda: len(bot_posts(double, log_channel)) == 2, timeout=15)
    await settle(bot)
    assert titles(double, world.text_channel_id) == [HEAT["title"]]
    assert "worked on a retry" in bot_posts(double, log_channel)[1]["content"]
    listing = fields_of(await staff(double, world, "matinee feed list"))
    assert "⚠ Needs attention" not in listing and "worked on a retry" in listing["Resolved recently"]
    assert "✅ None" in fields_of(await staff(double, world, "matinee about"))["Problems"]
    await double.wait_until(lambda: threads_started(double, world.text_channel_id) == 1, timeout=15)
    await run_bot.stop(bot)


async def test_after_a_day_of_refusals_the_problem_waits_for_staff_to_retry(
    double: DiscordDouble, world, run_bot, feeds: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(problems_module, "DEFAULT_RETRY", RetryPolicy(
        first=dt.timedelta(milliseconds=50), cap=dt.timedelta(milliseconds=50), window=dt.timedelta(milliseconds=300)))
    feeds.serve("/feed/", rss_feed([OLD]))
    bot = await run_bot(**FAST)
    await set_up_guild(double, world.guild_id, world.text_channel_id, world.admin_id)
    await follow_feed(double, world.guild_id, world.text_channel_id, world.admin_id, feeds.url("/feed/"))
    refused = double.inject_fault("POST", rf"^/channels/{world.text_channel_id}/messages$", 403, times=None,
                                  body=MISSING_PERMISSIONS)  # fmt: skip
    feeds.serve("/feed/", rss_feed([HEAT, OLD]))
    service = bot.get_cog("Reviews").service

    async def gave_up() -> bool:
        open_problems = await service.problems.open_for_guild(world.guild_id)
        return bool(open_problems) and open_problems[0].gave_up_at is not None

    await eventually(gave_up)
    refused.times = refused.hits  # fixed, but nobody told Matinee: it does not hammer Discord on its own
    tries = refused.hits
    await settle(bot)
    assert refused.hits == tries and bot_posts(double, world.text_channel_id) == []
    attention = fields_of(await staff(double, world, "matinee feed list"))["⚠ Needs attention"]
    assert "`/matinee feed retry`" in attention

    answer = await staff(double, world, "matinee feed retry")
    assert "Retrying 1" in answer["content"]
    await double.wait_until(lambda: bot_posts(double, world.text_channel_id), timeout=15)
    await settle(bot)  # the send is recorded once Discord's answer is back
    listing = fields_of(await staff(double, world, "matinee feed list"))
    assert "⚠ Needs attention" not in listing and HEAT["title"] in listing["Resolved recently"]
    await run_bot.stop(bot)


async def test_a_forbidden_thread_is_visible_and_opened_once_discord_answers_again(
    double: DiscordDouble, world, run_bot, feeds: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(problems_module, "DEFAULT_RETRY", QUICK)
    feeds.serve("/feed/", rss_feed([OLD]))
    bot = await run_bot(**FAST)
    await set_up_guild(double, world.guild_id, world.text_channel_id, world.admin_id)
    await follow_feed(double, world.guild_id, world.text_channel_id, world.admin_id, feeds.url("/feed/"))
    refused = double.inject_fault("POST", rf"^/channels/{world.text_channel_id}/messages/\d+/threads$", 403,
                                  times=None, body=MISSING_PERMISSIONS)  # fmt: skip
    feeds.serve("/feed/", rss_feed([HEAT, OLD]))
    [post] = await double.wait_until(lambda: bot_posts(double, world.text_channel_id), timeout=15)

    async def attention() -> str:
        return fields_of(await staff(double, world, "matinee feed list")).get("⚠ Needs attention", "")

    text = await eventually(lambda: _containing(attention(), "discussion thread"))
    assert f"The discussion thread of **{HEAT['title']}** in <#{world.text_channel_id}> failed" in text
    assert "Missing Permissions" in text
    await double.wait_until(lambda: refused.hits >= 2, timeout=15)  # retried
    assert int(post["id"]) not in double.channels  # still no thread

    refused.times = refused.hits  # the permission is back
    await double.wait_until(lambda: openings(double, int(post["id"])), timeout=15)
    problems = bot.get_cog("Reviews").service.problems
    await eventually(lambda: _none(problems.open_for_guild(world.guild_id)))  # recorded after the opening is sent
    await settle(bot)
    assert len(openings(double, int(post["id"]))) == 1 and len(bot_posts(double, world.text_channel_id)) == 1
    listing = fields_of(await staff(double, world, "matinee feed list"))
    assert "⚠ Needs attention" not in listing and "discussion thread" in listing["Resolved recently"]
    await run_bot.stop(bot)


async def test_about_lists_the_permissions_missing_in_each_configured_channel(
    double: DiscordDouble, world, run_bot, feeds: FeedServer
) -> None:
    everything = discord.Permissions(**{p.flag: True for p in REQUIRED_PERMISSIONS})
    await double.add_member(world.guild_id, user_id=double.bot_user_id, permissions=everything.value)
    denied = discord.Permissions(embed_links=True, send_polls=True)
    locked = int((await double.add_text_channel(world.guild_id, "locked-reviews", permission_overwrites=[
        {"id": str(double.bot_user_id), "type": 1, "allow": "0", "deny": str(denied.value)}]))["id"])  # fmt: skip
    log_channel = int((await double.add_text_channel(world.guild_id, "bot-log", permission_overwrites=[
        {"id": str(double.bot_user_id), "type": 1, "allow": "0", "deny": str(discord.Permissions(
            send_messages=True, embed_links=True).value)}]))["id"])  # fmt: skip
    feeds.serve("/feed/", rss_feed([OLD]))
    bot = await run_bot(**FAST)
    await set_up_guild(double, world.guild_id, world.text_channel_id, world.admin_id, log_channel=log_channel)
    await staff(double, world, "matinee feed add", url=feeds.url("/feed/"), channel=locked)
    about = fields_of(await staff(double, world, "matinee about"))
    lines = about["Permissions"].split("\n")
    assert lines == [
        f"<#{log_channel}> (log): missing Send Messages",  # a log channel needs no embeds
        f"<#{locked}> (feed The Film Blog): missing Embed Links, Create Polls",
    ]  # the announcement channel lacks nothing, so it is not listed
    await run_bot.stop(bot)


async def _containing(text: Awaitable[str], part: str) -> str:
    value = await text
    return value if part in value else ""


async def _none(items: Awaitable[list]) -> bool:
    return not await items
