"""Feed and TMDB faults: every failure becomes a recorded, readable error; nothing hangs or explodes.

Feeds are fetched from a loopback server with Matinee's own fetcher and parser;
TMDB faults are driven through /film against the TMDB stub.
"""

from __future__ import annotations

import gzip
import logging

import aiohttp
import pytest

from bot.outbound import NetworkPolicy, create_session
from bot.reviews.feeds import FeedParseError, parse_feed
from bot.reviews.fetch import FeedFetcher, FeedFetchError
from bot.settings import Secret
from bot.storage.films import FilmRecord, FilmRepository
from tests.doubles.feed_server import FeedServer, rss_feed
from tests.doubles.tmdb_stub import TmdbStub
from tests.reliability._audit import mention_violations

GOOD = [{"title": "Heat", "link": "https://blog.example/heat/", "guid": "h", "date": "Tue, 07 Jan 2025 10:00:00 +0000",
         "html": "<p>Two men.</p>"}]  # fmt: skip

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<rss version="2.0"><channel><title>&lol9;</title><item><title>&lol9;</title><guid>x</guid></item></channel></rss>"""

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<rss version="2.0"><channel><title>t</title><item><title>&xxe;</title><guid>x</guid></item></channel></rss>"""


@pytest.fixture
async def feeds():
    async with FeedServer() as server:
        yield server


@pytest.fixture
async def session():
    async with create_session(NetworkPolicy(allow_private=True)) as s:  # the feed server is on loopback
        yield s


FETCH_FAULTS = {
    "timeout": (dict(body=rss_feed(GOOD), delay=3.0), "did not answer in time"),
    "404": (dict(body="nope", status=404), "HTTP 404"),
    "410": (dict(body="gone", status=410), "HTTP 410"),
    "500": (dict(body="err", status=500), "HTTP 500"),
    "gzip bomb": (dict(raw_gzip=gzip.compress(b"\0" * (64 * 1024 * 1024))), "larger than"),
    "corrupt gzip": (dict(raw_gzip=b"\x1f\x8b\x08\x00garbage" * 10), "corrupt compressed"),
}


@pytest.mark.parametrize("fault", sorted(FETCH_FAULTS))
async def test_feed_fetch_faults_become_clear_errors(feeds, session, fault: str) -> None:
    options, message = FETCH_FAULTS[fault]
    feeds.serve("/feed", **options)
    fetcher = FeedFetcher(session, timeout=aiohttp.ClientTimeout(total=1.0))
    with pytest.raises(FeedFetchError, match=message):
        await fetcher.fetch(feeds.url("/feed"))


async def test_redirect_loop_is_detected(feeds, session) -> None:
    feeds.serve("/a", redirect_to="/b")
    feeds.serve("/b", redirect_to="/a")
    with pytest.raises(FeedFetchError, match="loop"):
        await FeedFetcher(session).fetch(feeds.url("/a"))
    assert len(feeds.requests) <= 3


async def test_endless_redirect_chain_stops(feeds, session) -> None:
    for i in range(20):
        feeds.serve(f"/r{i}", redirect_to=f"/r{i + 1}")
    with pytest.raises(FeedFetchError, match="too many redirects"):
        await FeedFetcher(session).fetch(feeds.url("/r0"))


async def test_redirect_to_a_non_http_scheme_is_refused(feeds, session) -> None:
    feeds.serve("/feed", redirect_to="file:///etc/passwd")
    with pytest.raises(FeedFetchError):
        await FeedFetcher(session).fetch(feeds.url("/feed"))


@pytest.mark.parametrize("body", [BILLION_LAUGHS, XXE], ids=["billion laughs", "external entity (XXE)"])
def test_entity_expansion_and_external_entities_are_refused(body: bytes) -> None:
    with pytest.raises(FeedParseError, match="entit"):
        parse_feed(body)


@pytest.mark.parametrize(
    "title",
    ["NUL\x00in title", "RTL \u202eevil\u202c title", "bidi \u2066isolate\u2069 title"],
    ids=["NUL byte", "RTL override", "bidi isolate"],
)
def test_control_and_bidi_characters_in_feed_titles_never_reach_discord(title: str) -> None:
    from bot.text import clean_text

    parsed = parse_feed(rss_feed([{**GOOD[0], "title": title}]).encode("utf-8", "surrogatepass"))
    shown = clean_text(parsed.entries[0].title)
    assert "\x00" not in shown and "\u202e" not in shown and "\u2066" not in shown
    assert shown.endswith("title")


def test_invalid_utf8_in_a_feed_is_parsed_leniently() -> None:
    body = rss_feed([{**GOOD[0], "title": "Caf\u00e9 PLACEHOLDER"}]).encode("utf-8")
    body = body.replace(b"PLACEHOLDER", b"\xff\xfe\xc3(")
    parsed = parse_feed(body)
    assert parsed.entries and parsed.entries[0].title.startswith("Caf")
    parsed.entries[0].title.encode("utf-8")  # what reaches Discord is valid UTF-8


# --------------------------------------------------------------------------- TMDB

KEY = "reliability-tmdb-key"


@pytest.fixture
async def tmdb():
    async with TmdbStub(api_key=KEY) as stub:
        yield stub


TMDB_FAULTS = {
    "401 (bad key)": lambda stub: None,  # the bot is given a different key below
    "429": lambda stub: stub.queue_status(429, retry_after="30", times=3),
    "500": lambda stub: stub.queue_status(500, times=3),
    "timeout": lambda stub: stub.queue_hang(10, times=3),
}


@pytest.mark.e2e
@pytest.mark.parametrize(
    "fault", [pytest.param(k, marks=pytest.mark.slow) if k == "timeout" else k for k in sorted(TMDB_FAULTS)]
)
async def test_tmdb_faults_fall_back_to_the_local_catalog(double, world, run_bot, tmdb, caplog, fault) -> None:
    inject = TMDB_FAULTS[fault]
    key = "wrong-key-for-401" if fault.startswith("401") else KEY
    caplog.set_level(logging.DEBUG)
    bot = await run_bot(tmdb_api_key=Secret(key), tmdb_api_base=tmdb.base_url)
    await FilmRepository(bot.db).import_batch([FilmRecord(title="Chungking Express", year=1994)])
    inject(tmdb)
    record = await double.invoke_command(world.guild_id, world.text_channel_id, world.member_id, "film",
                                         {"title": "Chungking Express"})  # fmt: skip
    message = await record.wait_final_message(timeout=20)
    embed = message["embeds"][0]
    assert embed["title"] == "Chungking Express (1994)"
    assert "TMDB is unavailable" in embed["footer"]["text"]
    assert tmdb.requests, "TMDB was never asked; the test proved nothing"
    assert key not in caplog.text
    assert mention_violations(double) == []
    await run_bot.stop(bot)


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/feed",
        "http://192.168.1.1/admin",
        "http://127.0.0.1:8080/feed",
        "http://[::1]/feed",
        "http://[::ffff:10.0.0.1]/feed",
        "http://localhost/feed",
        "http://printer.local/feed",
    ],
    ids=["cloud metadata", "rfc1918 10/8", "rfc1918 192.168/16", "loopback", "ipv6 loopback", "v4-mapped",
         "localhost", "mdns"],
)
def test_feed_urls_pointing_into_private_networks_are_refused(url: str) -> None:
    from bot.reviews.fetch import validate_feed_url

    with pytest.raises(FeedFetchError):
        validate_feed_url(url)


async def test_a_name_resolving_into_a_private_network_is_refused_at_fetch_time(feeds) -> None:
    """The URL looks public, but the name resolves to loopback: refused after DNS, before any request."""
    async with create_session(NetworkPolicy(allow_private=False)) as session:
        fetcher = FeedFetcher(session)
        url = feeds.url("/feed").replace("127.0.0.1", "localhost.example.invalid")
        before = len(feeds.requests) if hasattr(feeds, "requests") else None
        with pytest.raises(FeedFetchError):
            await fetcher.fetch(url)
        with pytest.raises(FeedFetchError, match="private networks"):
            await fetcher.fetch(feeds.url("/feed"))  # 127.0.0.1 itself
        if before is not None:
            assert len(feeds.requests) == before


def test_public_feed_urls_still_pass_validation() -> None:
    from bot.reviews.fetch import validate_feed_url

    assert validate_feed_url("https://blog.example.com/feed/") == "https://blog.example.com/feed/"
    assert validate_feed_url("http://93.184.216.34/feed") == "http://93.184.216.34/feed"
