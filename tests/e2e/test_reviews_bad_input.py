"""Reviews end to end with hostile feeds: each is recorded as that feed's error or sanitised; nothing crashes."""

from __future__ import annotations

import socket

import pytest

from bot.discord_double import DiscordDouble
from tests.doubles.feed_server import FeedServer, rss_feed
from tests.e2e.reviews_support import FAST, bot_posts, run_command, set_up_guild, settle

pytestmark = pytest.mark.e2e

BASE = {"title": "Baseline: Old Post", "guid": "base", "link": "https://blog.example/base/",
        "date": "Mon, 06 Jan 2025 10:00:00 +0000"}  # fmt: skip
HOSTILE_ITEMS = [
    {"title": "Scripts: Everywhere", "guid": "s", "link": "https://blog.example/s/",
     "date": "Tue, 07 Jan 2025 10:00:00 +0000",
     "html": "<script>alert('x')</script><p onload='x()'>Clean <a href='javascript:evil()'>words</a>.</p>"
             "<iframe src='https://evil.example/'></iframe><style>body{display:none}</style>"},
    {"title": "Huge: A Very Long Review", "guid": "huge", "link": "https://blog.example/huge/",
     "date": "Wed, 08 Jan 2025 10:00:00 +0000", "html": "<p>" + "Long sentence about cinema. " * 40_000 + "</p>"},
    {"title": None, "guid": "untitled", "link": "https://blog.example/untitled/", "date": None,
     "html": "<p>Nameless thoughts on Tarkovsky and water.</p>"},
    {"title": "Future: Back to It", "guid": "future", "link": "https://blog.example/future/",
     "date": "Fri, 01 Jan 2100 00:00:00 +0000"},
    {"title": "Twin A: Same Guid", "guid": "dup", "link": "https://blog.example/twin-a/",
     "date": "Thu, 09 Jan 2025 10:00:00 +0000"},
    {"title": "Twin B: Same Guid", "guid": "dup", "link": "https://blog.example/twin-b/",
     "date": "Thu, 09 Jan 2025 11:00:00 +0000"},
]  # fmt: skip
LATIN1 = (
    '<?xml version="1.0" encoding="ISO-8859-1"?><rss version="2.0"><channel><title>Caf\xe9 Cin\xe9ma</title>'
    "{items}</channel></rss>"
)
ENTITY_BOMB = (
    '<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
    '<rss version="2.0"><channel><title>&b;</title></channel></rss>'
)


def latin1_feed(*titles: str) -> bytes:
    items = "".join(f"<item><title>{t}</title><guid>{t}</guid><link>https://caf.example/{i}</link></item>"
                    for i, t in enumerate(titles))  # fmt: skip
    return LATIN1.format(items=items).encode("latin-1")


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_hostile_and_broken_feeds_are_contained(double: DiscordDouble, world, run_bot, feeds: FeedServer) -> None:
    feeds.serve("/hostile.xml", rss_feed([BASE]))
    feeds.serve("/latin1.xml", latin1_feed("Am\xe9lie"))
    feeds.serve("/html", "<html><body><h1>Welcome to my blog</h1></body></html>", content_type="text/html")
    feeds.serve("/empty", "")
    feeds.serve("/bomb", ENTITY_BOMB)
    feeds.serve("/loop1", redirect_to="/loop2")
    feeds.serve("/loop2", redirect_to="/loop1")
    feeds.serve("/huge", b"<rss>" + b" " * (6 * 1024 * 1024) + b"</rss>")
    broken = {
        "/html": "not", "/empty": "empty", "/bomb": "entities", "/missing": "404", "/loop1": "loop",
        "/huge": "larger than 5 MB",
    }  # fmt: skip
    unreachable = f"http://127.0.0.1:{closed_port()}/feed"
    builtin = (feeds.url("/hostile.xml"), feeds.url("/latin1.xml"), *(feeds.url(p) for p in broken), unreachable,
               "ftp://blog.example/feed")  # fmt: skip
    bot = await run_bot(review_feeds=builtin, **FAST)
    await set_up_guild(double, world.guild_id, world.text_channel_id, world.admin_id)
    await settle(bot)
    assert bot_posts(double, world.text_channel_id) == []  # first reads: recorded, not announced

    feeds.serve("/hostile.xml", rss_feed([*reversed(HOSTILE_ITEMS), BASE]))
    feeds.serve("/latin1.xml", latin1_feed("Caf\xe9 Society", "Am\xe9lie"))
    await double.wait_until(lambda: len(bot_posts(double, world.text_channel_id)) >= len(HOSTILE_ITEMS) + 1,
                            timeout=30)  # fmt: skip
    await settle(bot)
    posts = bot_posts(double, world.text_channel_id)
    titles = [p["embeds"][0]["title"] for p in posts]
    assert len(posts) == len(HOSTILE_ITEMS) + 1 and len(set(titles)) == len(titles)  # each once
    assert {"Scripts: Everywhere", "Huge: A Very Long Review", "Future: Back to It", "Twin A: Same Guid",
            "Twin B: Same Guid", "Café Society"} <= set(titles)  # fmt: skip
    assert any(t.startswith("Nameless thoughts") for t in titles)  # a missing title gets one from the text
    by_title = {p["embeds"][0]["title"]: p["embeds"][0] for p in posts}
    scripts = by_title["Scripts: Everywhere"]
    assert scripts["description"] == "Clean words." and "evil" not in str(scripts)
    huge = by_title["Huge: A Very Long Review"]
    assert len(huge["description"]) <= 300
    future = by_title["Future: Back to It"]
    assert not future["timestamp"].startswith("2100")
    for embed in by_title.values():
        total = len(embed["title"]) + len(embed.get("description", "")) + len(embed["footer"]["text"]) + sum(
            len(f["name"]) + len(f["value"]) for f in embed.get("fields", []))  # fmt: skip
        assert total <= 6000

    # Every broken feed has its own error recorded; the admin sees them in /matinee feed list.
    listing = await run_command(double, world.guild_id, world.text_channel_id, world.admin_id, "matinee feed list")
    fields = {f["value"].split("\n")[0].strip("<>"): f["value"] for f in listing["embeds"][0]["fields"]}
    for path, reason in broken.items():
        assert "Last error" in fields[feeds.url(path)] and reason in fields[feeds.url(path)], (path, fields)
    assert "cannot connect" in fields[unreachable]
    assert not any("ftp://" in key for key in fields)  # refused, never fetched
    assert "Last error" not in fields[feeds.url("/hostile.xml")]
    assert bot.is_ready() and not bot.is_closed()

    # Bad URLs typed by an admin get a clear message and nothing is stored.
    for url, expected in (("ftp://blog.example/feed", "http"), (feeds.url("/html"), "couldn't read"),
                          ("javascript:alert(1)", "http")):  # fmt: skip
        answer = await run_command(double, world.guild_id, world.text_channel_id, world.admin_id, "matinee feed add",
                                   url=url)  # fmt: skip
        assert expected in answer["content"], answer
    await run_bot.stop(bot)


async def test_a_feed_failing_for_long_is_disabled_and_the_log_channel_told(
    double: DiscordDouble, world, run_bot, feeds: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import datetime as dt

    import bot.reviews.service as service_module

    # Compress "10 failures over a day" into test time: no minimum span, backoff capped at 50 ms.
    monkeypatch.setattr(service_module, "DISABLE_AFTER", dt.timedelta(0))
    monkeypatch.setattr(service_module, "MAX_BACKOFF", dt.timedelta(milliseconds=50))
    log_channel = await double.add_text_channel(world.guild_id, "bot-log")
    feeds.serve("/flaky.xml", rss_feed([BASE], title="Flaky Blog"))
    feeds.serve("/steady.xml", rss_feed([BASE], title="Steady Blog"))
    bot = await run_bot(**FAST)
    await run_command(double, world.guild_id, world.text_channel_id, world.admin_id, "matinee setup",
                      channel=world.text_channel_id, log_channel=int(log_channel["id"]))  # fmt: skip
    for path in ("/flaky.xml", "/steady.xml"):
        answer = await run_command(double, world.guild_id, world.text_channel_id, world.admin_id, "matinee feed add",
                                   url=feeds.url(path))  # fmt: skip
        assert "Following" in answer["content"]
    feeds.serve("/flaky.xml", "upstream exploded", status=500)
    await double.wait_until(lambda: bot_posts(double, int(log_channel["id"])), timeout=30)
    [notice] = bot_posts(double, int(log_channel["id"]))
    assert "Flaky Blog" in notice["content"] and "HTTP 500" in notice["content"]
    assert "/matinee feed add" in notice["content"] and notice["mention_everyone"] is False

    # The steady feed keeps going.
    feeds.serve("/steady.xml", rss_feed([{**BASE, "title": "Steady: New Post", "guid": "new",
                                          "date": "Tue, 07 Jan 2025 10:00:00 +0000"}, BASE]))  # fmt: skip
    await double.wait_until(lambda: bot_posts(double, world.text_channel_id), timeout=15)
    assert bot_posts(double, world.text_channel_id)[0]["embeds"][0]["title"] == "Steady: New Post"
    listing = await run_command(double, world.guild_id, world.text_channel_id, world.admin_id, "matinee feed list")
    flaky = next(f["value"] for f in listing["embeds"][0]["fields"] if "flaky" in f["value"])
    assert "disabled" in flaky
    # Exactly one notice, however long the bot keeps running.
    await settle(bot)
    assert len(bot_posts(double, int(log_channel["id"]))) == 1
    await run_bot.stop(bot)


async def test_discord_errors_on_send_neither_lose_nor_duplicate_and_forbidden_is_reported(
    double: DiscordDouble, world, run_bot, feeds: FeedServer
) -> None:
    other_channel = await double.add_text_channel(world.guild_id, "no-access")
    log_channel = await double.add_text_channel(world.guild_id, "bot-log")
    feeds.serve("/a.xml", rss_feed([BASE]))
    feeds.serve("/b.xml", rss_feed([BASE]))
    bot = await run_bot(**FAST)
    await run_command(double, world.guild_id, world.text_channel_id, world.admin_id, "matinee setup",
                      channel=world.text_channel_id, log_channel=int(log_channel["id"]))  # fmt: skip
    await run_command(double, world.guild_id, world.text_channel_id, world.admin_id, "matinee feed add",
                      url=feeds.url("/a.xml"))  # fmt: skip
    await run_command(double, world.guild_id, world.text_channel_id, world.admin_id, "matinee feed add",
                      url=feeds.url("/b.xml"), channel=int(other_channel["id"]))  # fmt: skip
    # Discord says 429 once and 500 once for the announcement channel, and 403 forever for the other one.
    double.inject_fault("POST", rf"^/channels/{world.text_channel_id}/messages$", 429, times=1, retry_after=0.05)
    double.inject_fault("POST", rf"^/channels/{world.text_channel_id}/messages$", 500, times=1)
    double.inject_fault("POST", rf"^/channels/{other_channel['id']}/messages$", 403, times=None)
    new = {**BASE, "title": "Heat: Pacino and De Niro", "guid": "heat", "date": "Tue, 07 Jan 2025 10:00:00 +0000"}
    feeds.serve("/a.xml", rss_feed([new, BASE]))
    feeds.serve("/b.xml", rss_feed([{**new, "title": "Alien: The Nostromo"}, BASE]))
    await double.wait_until(lambda: bot_posts(double, world.text_channel_id), timeout=15)
    await double.wait_until(lambda: bot_posts(double, int(log_channel["id"])), timeout=15)
    await settle(bot)
    assert [p["embeds"][0]["title"] for p in bot_posts(double, world.text_channel_id)] == ["Heat: Pacino and De Niro"]
    [notice] = bot_posts(double, int(log_channel["id"]))
    assert "Alien: The Nostromo" in notice["content"] and "403" in notice["content"]
    assert bot_posts(double, int(other_channel["id"])) == []
    assert bot.is_ready() and not bot.is_closed()
    await run_bot.stop(bot)
