"""The feed fetcher against a loopback server: conditional GET, caps, redirects, hostile answers."""

from __future__ import annotations

import gzip
import socket
from collections.abc import AsyncIterator

import aiohttp
import pytest

from bot.outbound import NetworkPolicy, create_session
from bot.reviews.fetch import FeedFetcher, FeedFetchError, validate_feed_url
from tests.doubles.feed_server import FeedServer, rss_feed


@pytest.fixture
async def server() -> AsyncIterator[FeedServer]:
    async with FeedServer() as running:
        yield running


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with create_session(NetworkPolicy(allow_private=True)) as s:  # the server is on loopback
        yield s


async def test_conditional_get_uses_etag_and_last_modified(server: FeedServer, session) -> None:
    server.serve("/feed", rss_feed([]))
    fetcher = FeedFetcher(session)
    first = await fetcher.fetch(server.url("/feed"))
    assert first.status == 200 and b"<rss" in first.body and first.etag and first.last_modified
    second = await fetcher.fetch(server.url("/feed"), etag=first.etag, last_modified=first.last_modified)
    assert second.not_modified and second.body == b""
    sent = server.requests_to("/feed")[1].headers
    assert sent["If-None-Match"] == first.etag and sent["If-Modified-Since"] == first.last_modified


@pytest.mark.parametrize("url", ["ftp://example.com/feed", "file:///etc/passwd", "javascript:alert(1)", "gopher://x",
                                 "", "   ", "http://", "not a url"])  # fmt: skip
async def test_non_http_urls_are_refused_before_any_request(url: str, session) -> None:
    with pytest.raises(FeedFetchError):
        await FeedFetcher(session).fetch(url)


def test_url_validation_normalises_and_rejects_credentials() -> None:
    assert validate_feed_url("  https://blog.example/feed/#top ") == "https://blog.example/feed/"
    with pytest.raises(FeedFetchError, match="user name"):
        validate_feed_url("https://user:pw@blog.example/feed")


async def test_redirects_are_followed_but_capped_and_loops_detected(server: FeedServer, session) -> None:
    server.serve("/final", rss_feed([]))
    server.serve("/a", redirect_to="/final")
    result = await FeedFetcher(session).fetch(server.url("/a"))
    assert result.status == 200 and result.url.endswith("/final")

    for i in range(7):
        server.serve(f"/hop{i}", redirect_to=f"/hop{i + 1}")
    with pytest.raises(FeedFetchError, match="too many redirects"):
        await FeedFetcher(session, max_redirects=5).fetch(server.url("/hop0"))

    server.serve("/loop1", redirect_to="/loop2")
    server.serve("/loop2", redirect_to="/loop1")
    with pytest.raises(FeedFetchError, match="loop"):
        await FeedFetcher(session).fetch(server.url("/loop1"))


async def test_redirect_to_a_non_http_scheme_is_refused(server: FeedServer, session) -> None:
    server.serve("/evil", redirect_to="file:///etc/passwd")
    with pytest.raises(FeedFetchError, match="http"):
        await FeedFetcher(session).fetch(server.url("/evil"))


@pytest.mark.parametrize("status", [403, 404, 500, 503])
async def test_http_errors_are_reported_with_their_status(server: FeedServer, session, status: int) -> None:
    server.serve("/feed", "nope", status=status)
    with pytest.raises(FeedFetchError, match=str(status)):
        await FeedFetcher(session).fetch(server.url("/feed"))


async def test_size_cap_applies_to_declared_and_decompressed_size(server: FeedServer, session) -> None:
    fetcher = FeedFetcher(session, max_bytes=64 * 1024)
    server.serve("/big", b"x" * (65 * 1024))
    with pytest.raises(FeedFetchError, match="larger than"):
        await fetcher.fetch(server.url("/big"))
    # A gzip bomb: 10 MB of zeros compress to ~10 KB; the cap holds after decompression.
    bomb = gzip.compress(b"\0" * (10 * 1024 * 1024))
    assert len(bomb) < 64 * 1024
    server.serve("/bomb", raw_gzip=bomb)
    with pytest.raises(FeedFetchError, match="decompression"):
        await fetcher.fetch(server.url("/bomb"))
    # Honest gzip under the cap is decoded.
    server.serve("/gz", rss_feed([]), gzip=True)
    assert (await fetcher.fetch(server.url("/gz"))).body.startswith(b"<?xml")


async def test_timeout_and_unreachable_host_are_feed_errors(server: FeedServer, session) -> None:
    server.serve("/slow", rss_feed([]), delay=2)
    with pytest.raises(FeedFetchError, match="in time"):
        await FeedFetcher(session, timeout=aiohttp.ClientTimeout(total=0.3)).fetch(server.url("/slow"))
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(FeedFetchError, match=r"cannot connect|network error"):
        await FeedFetcher(session).fetch(f"http://127.0.0.1:{port}/feed")
