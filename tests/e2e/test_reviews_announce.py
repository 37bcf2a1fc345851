"""Reviews end to end: feeds and Markdown announced once per subscribed guild, restarts, edits, no flood."""

from __future__ import annotations

import pytest

from bot.bot import MatineeBot
from bot.discord_double import DiscordDouble
from bot.storage import ReviewRepository
from tests.doubles.feed_server import FeedServer, atom_feed, rss_feed
from tests.e2e.reviews_support import (
    FAST,
    announcement_sends,
    bot_posts,
    follow_feed,
    forum_posts,
    run_command,
    second_guild,
    set_up_guild,
    settle,
)

pytestmark = pytest.mark.e2e

WP_ITEMS = [
    {
        "title": "Heat: The Coffee Shop Scene",
        "link": "https://blog.example/heat/",
        "guid": "https://blog.example/?p=2",
        "date": "Tue, 07 Jan 2025 10:00:00 +0000",
        "categories": ["Reviews", "Heat"],
        "html": "<p>Two men, one table. <strong>Pacino</strong> and De Niro.</p>",
    },
    {
        "title": "Alien (1979) – In Space No One Can Hear You Scream",
        "link": "https://blog.example/alien/",
        "guid": "https://blog.example/?p=1",
        "date": "Mon, 06 Jan 2025 10:00:00 +0000",
        "html": "<p>The Nostromo hums.</p>",
    },
]
NEW_ITEM = {
    "title": "Chungking Express: A Love Letter to Loneliness",
    "link": "https://blog.example/chungking-express/",
    "guid": "https://blog.example/?p=3",
    "date": "Wed, 08 Jan 2025 10:00:00 +0000",
    "categories": ["Reviews"],
    "creator": "Wong Critic",
    "html": (
        '<p><img src="https://blog.example/wp-content/chungking.jpg" width="800"></p>'
        "<p>Faye Wong dances to <em>California Dreamin'</em> while cleaning a flat that isn't hers.</p>"
        "<script>steal()</script><p>Canned pineapple, expiring May 1st.</p>"
        '<img src="https://pixel.wp.com/g.gif?x=1" width="1" height="1">'
    ),
}


async def set_up_two_guilds(double: DiscordDouble, world, feeds: FeedServer, run_bot, url_path: str):
    other = await second_guild(double, forum=True)
    bot = await run_bot(**FAST)
    for guild_id, channel_id, admin_id in ((world.guild_id, world.text_channel_id, world.admin_id),
                                           (other.guild_id, other.channel_id, other.admin_id)):  # fmt: skip
        await set_up_guild(double, guild_id, channel_id, admin_id)
        await follow_feed(double, guild_id, channel_id, admin_id, feeds.url(url_path))
    return bot, other


async def test_wordpress_feed_announced_once_per_guild_then_restart_edit_and_no_flood(
    double: DiscordDouble, world, run_bot, feeds: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[tuple[str, tuple]] = []
    original = MatineeBot.dispatch

    def record(self, event, *args, **kwargs):
        if event.startswith("review_"):
            events.append((event, args))
        original(self, event, *args, **kwargs)

    monkeypatch.setattr(MatineeBot, "dispatch", record)
    feeds.serve("/feed/", rss_feed(WP_ITEMS))
    bot, other = await set_up_two_guilds(double, world, feeds, run_bot, "/feed/")
    await settle(bot)
    # A new feed doesn't flood: both existing entries were recorded, none announced.
    assert bot_posts(double, world.text_channel_id) == []
    assert forum_posts(double, other.channel_id) == []

    feeds.serve("/feed/", rss_feed([NEW_ITEM, *WP_ITEMS]))
    await double.wait_until(lambda: bot_posts(double, world.text_channel_id) and forum_posts(double, other.channel_id),
                            timeout=15)  # fmt: skip
    await settle(bot)
    text_posts = bot_posts(double, world.text_channel_id)
    forum = forum_posts(double, other.channel_id)
    assert len(text_posts) == 1 and len(forum) == 1
    embed = text_posts[0]["embeds"][0]
    assert embed["title"] == "Chungking Express: A Love Letter to Loneliness"
    assert embed["url"] == "https://blog.example/chungking-express/"
    assert embed["author"]["name"] == "Wong Critic"
    assert embed["image"]["url"] == "https://blog.example/wp-content/chungking.jpg"
    assert "steal" not in embed["description"] and "*California Dreamin'*" in embed["description"]
    assert {"name": "Film", "value": "Chungking Express", "inline": True} in embed["fields"]
    assert "discussion" in embed["footer"]["text"].lower()
    assert embed["timestamp"].startswith("2025-01-08T10:00:00")
    announced = [args for name, args in events if name == "review_announced"]
    assert sorted(a.guild_id for _, a in announced) == sorted([world.guild_id, other.guild_id])
    assert {a.message_id for _, a in announced} == {int(text_posts[0]["id"]), int(forum[0]["id"])}
    assert [a.thread_id for _, a in announced if a.guild_id == other.guild_id] == [int(forum[0]["id"])]
    post = double.find_requests("POST", rf"/channels/{world.text_channel_id}/messages$")[0]
    assert post.json["allowed_mentions"]["parse"] == [] and post.json["nonce"] and post.json["enforce_nonce"]
    # The forum post is a thread named for the film, the embed as starter message.
    thread = double.channels[int(forum[0]["id"])]
    assert thread["name"] == "What did you think of Chungking Express?"
    assert forum[0]["embeds"][0]["title"] == embed["title"]

    # Restart: nothing is posted again.
    await run_bot.stop(bot)
    posts_before = announcement_sends(double, world.text_channel_id, other.channel_id)
    bot = await run_bot(**FAST)
    await settle(bot)
    assert announcement_sends(double, world.text_channel_id, other.channel_id) == posts_before
    assert len(bot_posts(double, world.text_channel_id)) == 1 and len(forum_posts(double, other.channel_id)) == 1

    # An edited entry edits both posts in place (PATCH), never a second post.
    edited = {**NEW_ITEM, "title": "Chungking Express: A Love Letter to Loneliness (updated)"}
    feeds.serve("/feed/", rss_feed([edited, *WP_ITEMS]))
    await double.wait_for_request("PATCH", rf"/channels/{world.text_channel_id}/messages/\d+", timeout=15)
    await double.wait_for_request("PATCH", rf"/channels/{forum[0]['id']}/messages/{forum[0]['id']}", timeout=15)
    await settle(bot)
    assert announcement_sends(double, world.text_channel_id, other.channel_id) == posts_before
    assert bot_posts(double, world.text_channel_id)[0]["embeds"][0]["title"].endswith("(updated)")
    updated = [args[0] for name, args in events if name == "review_updated"]
    assert len(updated) == 1 and updated[0].title.endswith("(updated)")
    patch = double.find_requests("PATCH", rf"/channels/{world.text_channel_id}/messages/\d+")[0]
    assert patch.json["allowed_mentions"]["parse"] == []
    await run_bot.stop(bot)


async def test_atom_feed_and_markdown_review_announced_once_per_guild(
    double: DiscordDouble, world, run_bot, feeds: FeedServer
) -> None:
    feeds.serve("/atom.xml", atom_feed([{"title": "Stalker review", "link": "https://hugo.example/stalker/",
                                         "id": "urn:stalker", "updated": "2025-01-01T00:00:00Z"}]),
                content_type="application/atom+xml")  # fmt: skip
    bot, other = await set_up_two_guilds(double, world, feeds, run_bot, "/atom.xml")
    await settle(bot)
    assert bot_posts(double, world.text_channel_id) == []
    feeds.serve("/atom.xml", atom_feed([
        {"title": "Paris, Texas – Wim Wenders at His Best", "link": "https://hugo.example/paris-texas/",
         "id": "urn:paris", "updated": "2025-02-01T00:00:00Z", "author": "Agnes Atom",
         "html": "<h2>Travis</h2><p>Harry Dean Stanton walks out of the desert.</p>"},
        {"title": "Stalker review", "link": "https://hugo.example/stalker/", "id": "urn:stalker",
         "updated": "2025-01-01T00:00:00Z"},
    ]), content_type="application/atom+xml")  # fmt: skip
    await double.wait_until(lambda: bot_posts(double, world.text_channel_id) and forum_posts(double, other.channel_id),
                            timeout=15)  # fmt: skip
    embed = bot_posts(double, world.text_channel_id)[0]["embeds"][0]
    assert embed["title"] == "Paris, Texas – Wim Wenders at His Best"
    assert {"name": "Film", "value": "Paris, Texas", "inline": True} in embed["fields"]
    assert embed["description"].startswith("**Travis**")

    # A Markdown review dropped into REVIEWS_DIR is picked up without a restart.
    (run_bot.reviews_dir / "in-the-mood.md").write_text(
        "---\ntitle: In the Mood for Love, Slowly\nfilm: In the Mood for Love\nyear: 2000\nrating: 4.5\n"
        "author: Maggie\ndate: 2025-03-01\nurl: https://blog.example/mood/\nspoilers: false\n"
        "tags: [wong kar-wai]\n---\n# Corridors\n\nNoodles, rain and @everyone in slow motion.\n",
        encoding="utf-8",
    )
    await double.wait_until(lambda: len(bot_posts(double, world.text_channel_id)) == 2, timeout=15)
    await double.wait_until(lambda: len(forum_posts(double, other.channel_id)) == 2, timeout=15)
    await settle(bot)
    md_embed = bot_posts(double, world.text_channel_id)[1]["embeds"][0]
    fields = {f["name"]: f["value"] for f in md_embed["fields"]}
    assert fields["Film"] == "In the Mood for Love (2000)"
    assert fields["Rating"].startswith("★★★★½")
    assert "@\u200beveryone" in md_embed["description"]
    assert len(bot_posts(double, world.text_channel_id)) == 2
    assert len(forum_posts(double, other.channel_id)) == 2

    # Editing the file edits both announcements in place.
    path = run_bot.reviews_dir / "in-the-mood.md"
    path.write_text(path.read_text(encoding="utf-8").replace("rating: 4.5", "rating: 5"), encoding="utf-8")
    md_message = bot_posts(double, world.text_channel_id)[1]
    await double.wait_for_request("PATCH", rf"/channels/{world.text_channel_id}/messages/{md_message['id']}",
                                  timeout=15)  # fmt: skip
    forum_md = forum_posts(double, other.channel_id)[1]
    await double.wait_for_request("PATCH", rf"/channels/{forum_md['id']}/messages/{forum_md['id']}", timeout=15)
    fields = {f["name"]: f["value"] for f in bot_posts(double, world.text_channel_id)[1]["embeds"][0]["fields"]}
    assert fields["Rating"] == "★★★★★ (5/5)"
    await settle(bot)
    assert len(bot_posts(double, world.text_channel_id)) == 2 and len(forum_posts(double, other.channel_id)) == 2
    await run_bot.stop(bot)


async def test_a_whole_site_feed_followed_for_one_category_announces_only_its_reviews(
    double: DiscordDouble, world, run_bot, feeds: FeedServer
) -> None:
    news = {"title": "We moved servers", "link": "https://blog.example/news/moved/",
            "guid": "https://blog.example/?p=9", "date": "Thu, 09 Jan 2025 10:00:00 +0000",
            "categories": ["News"], "html": "<p>Housekeeping.</p>"}  # fmt: skip
    feeds.serve("/feed/", rss_feed([news, *WP_ITEMS]))
    bot = await run_bot(**FAST)
    await set_up_guild(double, world.guild_id, world.text_channel_id, world.admin_id)
    answer = await run_command(double, world.guild_id, world.text_channel_id, world.admin_id, "matinee feed add",
                               url=feeds.url("/feed/"), category="reviews")  # fmt: skip
    assert "only entries in category **reviews**" in answer["content"]
    assert "1 existing review(s) recorded" in answer["content"]  # Heat; neither the news nor the uncategorised Alien
    listing = await run_command(double, world.guild_id, world.text_channel_id, world.admin_id, "matinee feed list")
    [field] = listing["embeds"][0]["fields"]
    assert "only entries in category **reviews**" in field["value"]

    later_news = {**news, "title": "Comments are back", "link": "https://blog.example/news/comments/",
                  "guid": "https://blog.example/?p=10", "date": "Fri, 10 Jan 2025 10:00:00 +0000"}  # fmt: skip
    feeds.serve("/feed/", rss_feed([later_news, NEW_ITEM, news, *WP_ITEMS]))
    await double.wait_until(lambda: bot_posts(double, world.text_channel_id), timeout=15)
    await settle(bot)
    assert [p["embeds"][0]["title"] for p in bot_posts(double, world.text_channel_id)] == [NEW_ITEM["title"]]
    reviews = ReviewRepository(bot.db)
    assert await reviews.find("https://blog.example/news/comments/") is None  # not a review: not stored at all
    assert (await reviews.find("https://blog.example/chungking-express/")).slug == "chungking-express"
    await run_bot.stop(bot)
