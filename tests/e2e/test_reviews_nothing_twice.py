"""Nothing twice (issue 17): a post is one review, announced once per server, however feeds list it.

Each test reproduces what an unlucky server did to the bot before the fix: a feed
changing a post's guid, one post in a category feed and the whole-site feed, the
same feed added again with ``?utm_source=…``, and a feed re-added after it was
removed for a while.
"""

from __future__ import annotations

import pytest

from bot.discord_double import DiscordDouble
from tests.doubles.feed_server import FeedServer, rss_feed
from tests.e2e.reviews_support import (
    FAST,
    bot_posts,
    follow_feed,
    forum_posts,
    next_read,
    openings,
    second_guild,
    set_up_guild,
    staff,
    threads_started,
    titles,
)

pytestmark = pytest.mark.e2e

OLD = {"title": "Alien: In Space", "link": "https://blog.example/alien/", "guid": "https://blog.example/?p=1",
       "date": "Mon, 06 Jan 2025 10:00:00 +0000", "html": "<p>The Nostromo hums.</p>"}  # fmt: skip
HEAT = {"title": "Heat: The Coffee Shop Scene", "link": "https://blog.example/heat/",
        "guid": "https://blog.example/?p=412", "date": "Tue, 07 Jan 2025 10:00:00 +0000",
        "html": "<p>Two men, one table.</p>"}  # fmt: skip


async def count_reviews(bot) -> int:
    return int(await bot.db.fetchval("SELECT count(*) FROM reviews"))


async def following_the_blog(double: DiscordDouble, world, run_bot, feeds: FeedServer):
    """The bot running, the world's text channel set up, following /feed/ (which lists OLD)."""
    feeds.serve("/feed/", rss_feed([OLD]))
    bot = await run_bot(**FAST)
    await set_up_guild(double, world.guild_id, world.text_channel_id, world.admin_id)
    await follow_feed(double, world.guild_id, world.text_channel_id, world.admin_id, feeds.url("/feed/"))
    return bot


async def removed(double: DiscordDouble, world, bot, feeds: FeedServer) -> None:
    """``/matinee feed remove`` of /feed/: the server stops reading it (nobody else does)."""
    feed = await bot.get_cog("Reviews").service.feeds.get_by_url(feeds.url("/feed/"))
    answer = await staff(double, world, "matinee feed remove", feed=str(feed.id))
    assert "Stopped following" in answer["content"]


async def test_a_changed_guid_does_not_announce_the_post_again(
    double: DiscordDouble, world, run_bot, feeds: FeedServer
) -> None:
    bot = await following_the_blog(double, world, run_bot, feeds)
    feeds.serve("/feed/", rss_feed([HEAT, OLD]))
    [post] = await double.wait_until(lambda: bot_posts(double, world.text_channel_id), timeout=15)
    await double.wait_until(lambda: openings(double, int(post["id"])), timeout=15)

    # WordPress switches its guids from ?p=412 to permalinks; link and date stay; a typo is fixed too.
    rekeyed = [{**HEAT, "guid": "https://blog.example/heat/", "title": "Heat: The Coffee-Shop Scene"},
               {**OLD, "guid": "https://blog.example/alien/"}]  # fmt: skip
    feeds.serve("/feed/", rss_feed(rekeyed))
    await next_read(double, bot, feeds, "/feed/")
    await next_read(double, bot, feeds, "/feed/")
    assert len(bot_posts(double, world.text_channel_id)) == 1  # no second announcement …
    assert threads_started(double, world.text_channel_id) == 1  # … thread …
    assert len(openings(double, int(post["id"]))) == 1  # … or poll
    # The one announcement was edited in place instead.
    assert double.find_requests("PATCH", rf"^/channels/{world.text_channel_id}/messages/{post['id']}$")
    assert bot_posts(double, world.text_channel_id)[0]["embeds"][0]["title"] == "Heat: The Coffee-Shop Scene"
    assert await count_reviews(bot) == 2
    review = await bot.get_cog("Reviews").service.reviews.find_by_url("https://blog.example/heat/")
    assert review.source_key == "https://blog.example/heat/"  # re-keyed in place
    await run_bot.stop(bot)


async def test_one_post_in_a_category_feed_and_the_site_feed_is_announced_once(
    double: DiscordDouble, world, run_bot, feeds: FeedServer
) -> None:
    feeds.serve("/feed/", rss_feed([OLD]))
    feeds.serve("/category/reviews/feed/", rss_feed([OLD], title="The Film Blog » Reviews"))
    other = await second_guild(double, forum=True)
    bot = await run_bot(**FAST)
    await set_up_guild(double, world.guild_id, world.text_channel_id, world.admin_id)
    await set_up_guild(double, other.guild_id, other.channel_id, other.admin_id)
    for path in ("/feed/", "/category/reviews/feed/"):
        await follow_feed(double, world.guild_id, world.text_channel_id, world.admin_id, feeds.url(path))
    await follow_feed(double, other.guild_id, other.channel_id, other.admin_id, feeds.url("/feed/"))

    feeds.serve("/feed/", rss_feed([HEAT, OLD]))
    feeds.serve("/category/reviews/feed/", rss_feed([{**HEAT, "link": HEAT["link"] + "?utm_source=category"}, OLD]))
    await double.wait_until(lambda: bot_posts(double, world.text_channel_id) and forum_posts(double, other.channel_id),
                            timeout=15)  # fmt: skip
    await next_read(double, bot, feeds, "/feed/")
    await next_read(double, bot, feeds, "/category/reviews/feed/")
    assert titles(double, world.text_channel_id) == [HEAT["title"]]
    assert len(forum_posts(double, other.channel_id)) == 1  # the other server reads one of the two: once too
    assert await count_reviews(bot) == 2
    await double.wait_until(lambda: threads_started(double, world.text_channel_id) == 1, timeout=15)
    await run_bot.stop(bot)


async def test_the_same_feed_added_again_with_tracking_parameters_is_the_same_feed(
    double: DiscordDouble, world, run_bot, feeds: FeedServer
) -> None:
    bot = await following_the_blog(double, world, run_bot, feeds)
    # The same feed again, as a newsletter link spells it: not a new feed.
    tracked = feeds.url("/feed/?utm_source=newsletter&utm_medium=email")
    again = await staff(double, world, "matinee feed add", url=tracked)
    assert "Already following" in again["content"], again
    listing = await staff(double, world, "matinee feed list")
    assert len(listing["embeds"][0]["fields"]) == 1

    feeds.serve("/feed/", rss_feed([HEAT, OLD]))
    await double.wait_until(lambda: bot_posts(double, world.text_channel_id), timeout=15)
    await next_read(double, bot, feeds, "/feed/")
    assert titles(double, world.text_channel_id) == [HEAT["title"]]
    await run_bot.stop(bot)


async def test_readding_a_removed_feed_does_not_announce_the_gap(
    double: DiscordDouble, world, run_bot, feeds: FeedServer
) -> None:
    bot = await following_the_blog(double, world, run_bot, feeds)
    await removed(double, world, bot, feeds)
    gap = [{**HEAT, "guid": f"gap{n}", "link": f"https://blog.example/gap-{n}/", "title": f"Gap {n}: Missed",
            "date": f"Wed, 0{7 + n} Jan 2025 10:00:00 +0000"} for n in (1, 2)]  # fmt: skip
    feeds.serve("/feed/", rss_feed([*reversed(gap), OLD]))  # published while nobody read the feed

    answer = await follow_feed(double, world.guild_id, world.text_channel_id, world.admin_id, feeds.url("/feed/"))
    assert "3 existing review(s) recorded without announcing them" in answer["content"]
    await next_read(double, bot, feeds, "/feed/")
    await next_read(double, bot, feeds, "/feed/")
    assert bot_posts(double, world.text_channel_id) == []  # the gap is history, not news

    fresh = {**HEAT, "guid": "fresh", "link": "https://blog.example/fresh/", "title": "Fresh: After the Return",
             "date": "Mon, 13 Jan 2025 10:00:00 +0000"}  # fmt: skip
    feeds.serve("/feed/", rss_feed([fresh, *reversed(gap), OLD]))
    await double.wait_until(lambda: bot_posts(double, world.text_channel_id), timeout=15)
    await next_read(double, bot, feeds, "/feed/")
    assert titles(double, world.text_channel_id) == [fresh["title"]]
    await run_bot.stop(bot)


async def test_readding_with_backfill_announces_what_it_asks_for(
    double: DiscordDouble, world, run_bot, feeds: FeedServer
) -> None:
    bot = await following_the_blog(double, world, run_bot, feeds)
    await removed(double, world, bot, feeds)
    feeds.serve("/feed/", rss_feed([HEAT, OLD]))
    answer = await staff(double, world, "matinee feed add", url=feeds.url("/feed/"), backfill=1)
    assert "the newest 1 will be announced" in answer["content"]
    await double.wait_until(lambda: bot_posts(double, world.text_channel_id), timeout=15)
    await next_read(double, bot, feeds, "/feed/")
    assert titles(double, world.text_channel_id) == [HEAT["title"]]
    await run_bot.stop(bot)
