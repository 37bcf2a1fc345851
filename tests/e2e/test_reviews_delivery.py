"""Reviews end to end: exactly-once across a crash, fan-out, role pings, Discord-authored reviews."""

from __future__ import annotations

import asyncio

import pytest

from bot.bot import MatineeBot
from bot.discord_double import DiscordDouble
from bot.reviews.delivery import DEFAULT_CONCURRENCY
from bot.storage import GuildSettingsRepository, OutboxRepository
from tests.doubles.feed_server import FeedServer, rss_feed
from tests.e2e.reviews_support import (
    FAST,
    announcement_sends,
    bot_posts,
    forum_posts,
    pending_count,
    run_command,
    second_guild,
    set_up_guild,
    settle,
)

pytestmark = pytest.mark.e2e

ITEMS = [
    {"title": "Vertigo: Falling for Madeleine", "link": "https://blog.example/vertigo/", "guid": "v",
     "date": "Tue, 07 Jan 2025 10:00:00 +0000", "html": "<p>San Francisco, spiralling.</p>"},
    {"title": "Rear Window: Neighbours", "link": "https://blog.example/rear-window/", "guid": "r",
     "date": "Mon, 06 Jan 2025 10:00:00 +0000", "html": "<p>A courtyard of stories.</p>"},
]  # fmt: skip


@pytest.mark.parametrize("strip_nonce", [False, True], ids=["by-nonce", "by-embed-url"])
async def test_killed_between_send_and_record_posts_exactly_once_after_restart(
    double: DiscordDouble, world, run_bot, feeds: FeedServer, monkeypatch: pytest.MonkeyPatch, strip_nonce: bool
) -> None:
    feeds.serve("/feed/", rss_feed(ITEMS[1:]))
    other = await second_guild(double, forum=True)
    bot = await run_bot(review_feeds=(feeds.url("/feed/"),), **FAST)
    await set_up_guild(double, world.guild_id, world.text_channel_id, world.admin_id)
    await set_up_guild(double, other.guild_id, other.channel_id, other.admin_id)
    await settle(bot)  # the first read records the existing entry without announcing it

    # The crash point: Discord has the post, our database doesn't know yet. The process "dies" there.
    crashed = asyncio.Event()

    async def die_before_recording(self, *args, **kwargs):
        crashed.set()
        await asyncio.Event().wait()  # never returns: the process is gone

    monkeypatch.setattr(OutboxRepository, "mark_sent", die_before_recording)
    feeds.serve("/feed/", rss_feed(ITEMS))
    await asyncio.wait_for(crashed.wait(), 15)
    await double.wait_until(lambda: bot_posts(double, world.text_channel_id) and forum_posts(double, other.channel_id),
                            timeout=15)  # fmt: skip
    await run_bot.stop(bot)
    monkeypatch.undo()
    pending = await pending_count(run_bot.database_path)
    assert pending == 2  # both intents survived the crash as pending
    if strip_nonce:  # real Discord doesn't return nonces in history: the embed URL must be enough
        for msgs in double.messages.values():
            for msg in msgs:
                msg.pop("nonce", None)
    sends_before = announcement_sends(double, world.text_channel_id, other.channel_id)

    announced: list[tuple[int, int]] = []
    original = MatineeBot.dispatch

    def record_dispatch(self, event, *args, **kwargs) -> None:
        if event == "review_announced":
            announced.append((args[0].id, args[1].guild_id))
        original(self, event, *args, **kwargs)

    # Patched on the class before start: the extension's modules are re-imported on every load.
    monkeypatch.setattr(MatineeBot, "dispatch", record_dispatch)
    bot = await run_bot(review_feeds=(feeds.url("/feed/"),), **FAST)
    await settle(bot)
    assert await pending_count(run_bot.database_path) == 0
    assert (
        announcement_sends(double, world.text_channel_id, other.channel_id) == sends_before
    )  # reconciled, not re-sent
    assert len(bot_posts(double, world.text_channel_id)) == 1
    assert len(forum_posts(double, other.channel_id)) == 1
    assert bot_posts(double, world.text_channel_id)[0]["embeds"][0]["title"] == "Vertigo: Falling for Madeleine"
    assert sorted(g for _, g in announced) == sorted([world.guild_id, other.guild_id])
    # The forum post's thread is recorded, so the discussions feature can find it.
    assert any(a.thread_id == int(forum_posts(double, other.channel_id)[0]["id"]) for a in await _all_sent(bot))
    await run_bot.stop(bot)


async def _all_sent(bot):
    cog = bot.get_cog("Reviews")
    out = []
    for review in await cog.service.reviews.recent(50):
        out.extend(await cog.service.outbox.sent_for_review(review.id))
    return out


async def test_fan_out_to_many_guilds_runs_concurrently_within_the_global_rate_limit(
    double: DiscordDouble, world, run_bot, feeds: FeedServer
) -> None:
    feeds.serve("/feed/", rss_feed(ITEMS[1:]))
    guilds = [await second_guild(double, forum=False) for _ in range(60)]
    # Only the announcer: other features react to announcements with requests of their own.
    bot = await run_bot(review_feeds=(feeds.url("/feed/"),), extensions=["cogs.reviews"], **FAST)
    settings = GuildSettingsRepository(bot.db)
    for g in guilds:
        await settings.update(g.guild_id, announce_channel_id=g.channel_id)
    await settle(bot)  # first read of the builtin feed: recorded, not announced
    assert not any(bot_posts(double, g.channel_id) for g in guilds)

    # Measure how many sends Discord sees in flight at once.
    in_flight, peak = 0, 0
    route = next(r for r in double._routes if r.handler.__name__ == "_r_post_message")
    original = route.handler

    async def counting(*args):
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        try:
            await asyncio.sleep(0.02)
            return await original(*args)
        finally:
            in_flight -= 1

    route.handler = counting
    double.clear_requests()
    double.enforce_global_rate_limit(50)  # Discord's global limit: more than 50 requests in a second get 429s
    feeds.serve("/feed/", rss_feed(ITEMS))
    await double.wait_until(lambda: all(bot_posts(double, g.channel_id) for g in guilds), timeout=30)
    await settle(bot)
    route.handler = original
    assert all(len(bot_posts(double, g.channel_id)) == 1 for g in guilds)
    assert len(double.find_requests("POST", r"/channels/\d+/messages$")) == len(guilds)  # one send per guild
    assert 1 < peak <= DEFAULT_CONCURRENCY  # concurrent, not one guild after another; and bounded
    assert [r for r in double.requests if r.status == 429] == []  # the token bucket kept us under the limit
    await run_bot.stop(bot)


async def test_role_ping_is_allowed_for_that_role_only(double: DiscordDouble, world, run_bot, feeds) -> None:
    role = await double.add_role(world.guild_id, "Reviews", mentionable=True)
    feeds.serve("/feed/", rss_feed(ITEMS[1:]))
    bot = await run_bot(**FAST)
    await set_up_guild(double, world.guild_id, world.text_channel_id, world.admin_id, ping_role=int(role["id"]))
    await run_command(double, world.guild_id, world.text_channel_id, world.admin_id, "matinee feed add",
                      url=feeds.url("/feed/"))  # fmt: skip
    feeds.serve("/feed/", rss_feed([{**ITEMS[0], "title": "@everyone Vertigo <@&1>"}, ITEMS[1]]))
    await double.wait_until(lambda: bot_posts(double, world.text_channel_id), timeout=15)
    post = double.find_requests("POST", rf"/channels/{world.text_channel_id}/messages$")[0]
    assert post.json["content"] == f"<@&{role['id']}>"
    allowed = post.json["allowed_mentions"]
    assert allowed["parse"] == [] and [str(r) for r in allowed["roles"]] == [str(role["id"])]
    assert "@\u200beveryone" in post.json["embeds"][0]["title"]
    message = bot_posts(double, world.text_channel_id)[0]
    assert message["mention_roles"] == [str(role["id"])] and not message["mention_everyone"]
    await run_bot.stop(bot)


async def test_review_written_in_discord_is_stored_and_announced(double: DiscordDouble, world, run_bot) -> None:
    bot = await run_bot(**FAST)
    await set_up_guild(double, world.guild_id, world.forum_channel_id, world.admin_id)
    # Members without Manage Messages are refused at run time.
    refused = await run_command(double, world.guild_id, world.text_channel_id, world.member_id, "matinee review post")
    assert "Manage Messages" in refused["content"]
    record = await double.invoke_command(world.guild_id, world.text_channel_id, world.admin_id, "matinee review post")
    await record.wait_response()
    assert record.modal is not None
    submitted = await double.submit_modal(
        record.modal["custom_id"],
        {"review:film": "Chungking Express (1994)", "review:title": "", "review:rating": "4/5",
         "review:body": "Midnight Express, a snack bar, and two cops in love. @everyone should see it."},
        world.admin_id,
    )  # fmt: skip
    await submitted.wait_response()
    followup = await submitted.wait_followup(timeout=10)
    assert "announcing" in followup["content"]
    await double.wait_until(lambda: forum_posts(double, world.forum_channel_id), timeout=15)
    starter = forum_posts(double, world.forum_channel_id)[0]
    embed = starter["embeds"][0]
    assert embed["title"] == "Review: Chungking Express"
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert fields == {"Film": "Chungking Express (1994)", "Rating": "★★★★ (4/5)"}
    assert embed["author"]["name"] == "Ada Admin"
    assert "@\u200beveryone" in embed["description"]
    await run_bot.stop(bot)


async def test_bad_rating_in_the_modal_gets_a_clear_message(double: DiscordDouble, world, run_bot) -> None:
    bot = await run_bot(**FAST)
    await set_up_guild(double, world.guild_id, world.text_channel_id, world.admin_id)
    record = await double.invoke_command(world.guild_id, world.text_channel_id, world.admin_id, "matinee review post")
    await record.wait_response()
    submitted = await double.submit_modal(
        record.modal["custom_id"],
        {"review:film": "Heat", "review:title": "x", "review:rating": "eleven", "review:body": "Great."},
        world.admin_id,
    )
    await submitted.wait_response()
    followup = await submitted.wait_followup(timeout=10)
    assert "rating should be 0–5" in followup["content"]
    await settle(bot)
    assert bot_posts(double, world.text_channel_id) == []
    await run_bot.stop(bot)


async def test_feed_commands_autocomplete_remove_list_and_permissions(
    double: DiscordDouble, world, run_bot, feeds: FeedServer
) -> None:
    feeds.serve("/feed/", rss_feed(ITEMS))
    bot = await run_bot(**FAST)
    await set_up_guild(double, world.guild_id, world.text_channel_id, world.admin_id)
    # Manage Server is checked at run time.
    refused = await run_command(double, world.guild_id, world.text_channel_id, world.member_id, "matinee feed add",
                                url=feeds.url("/feed/"))  # fmt: skip
    assert "Manage Server" in refused["content"]
    answer = await run_command(double, world.guild_id, world.text_channel_id, world.admin_id, "matinee feed add",
                               url=feeds.url("/feed/"), channel=world.forum_channel_id)  # fmt: skip
    assert "2 existing review(s) recorded" in answer["content"]
    choices = await double.autocomplete_choices(world.guild_id, world.text_channel_id, world.admin_id,
                                                "matinee feed remove", {"feed": "film"}, "feed")  # fmt: skip
    assert [c["name"] for c in choices] == [f"The Film Blog — {feeds.url('/feed/')}"]
    listing = await run_command(double, world.guild_id, world.text_channel_id, world.admin_id, "matinee feed list")
    [field] = listing["embeds"][0]["fields"]
    assert "2 entries" in field["value"] and f"<#{world.forum_channel_id}>" in field["value"]
    assert "Last fetch <t:" in field["value"] and "next poll <t:" in field["value"]
    removed = await run_command(double, world.guild_id, world.text_channel_id, world.admin_id, "matinee feed remove",
                                feed=choices[0]["value"])  # fmt: skip
    assert "Stopped following" in removed["content"]
    again = await run_command(double, world.guild_id, world.text_channel_id, world.admin_id, "matinee feed remove",
                              feed=choices[0]["value"])  # fmt: skip
    assert "doesn't follow" in again["content"]
    listing = await run_command(double, world.guild_id, world.text_channel_id, world.admin_id, "matinee feed list")
    assert "follows no feeds" in listing["content"]
    await run_bot.stop(bot)


async def test_forum_posts_get_the_configured_tag_or_the_first_when_one_is_required(
    double: DiscordDouble, world, run_bot
) -> None:
    strict = await double.add_forum_channel(world.guild_id, "strict-forum", tags=["Reviews", "Other"],
                                            require_tag=True)  # fmt: skip
    bot = await run_bot(**FAST)
    for forum_id in (int(strict["id"]), world.forum_channel_id):
        await set_up_guild(double, world.guild_id, forum_id, world.admin_id)
        if forum_id == world.forum_channel_id:
            await GuildSettingsRepository(bot.db).update(world.guild_id, forum_tag_id=world.forum_tag_id)
        record = await double.invoke_command(world.guild_id, world.text_channel_id, world.admin_id,
                                             "matinee review post")  # fmt: skip
        await record.wait_response()
        submitted = await double.submit_modal(record.modal["custom_id"], {
            "review:film": f"Film {forum_id}", "review:title": "", "review:rating": "", "review:body": "Text."},
            world.admin_id)  # fmt: skip
        await submitted.wait_followup(timeout=10)
        await double.wait_until(lambda fid=forum_id: forum_posts(double, fid), timeout=15)
    strict_thread = double.channels[int(forum_posts(double, int(strict["id"]))[0]["id"])]
    assert strict_thread["applied_tags"] == [strict["available_tags"][0]["id"]]
    tagged = double.channels[int(forum_posts(double, world.forum_channel_id)[0]["id"])]
    assert tagged["applied_tags"] == [str(world.forum_tag_id)]
    await run_bot.stop(bot)
