"""The outbound session factory: which policy each purpose gets, and what the guard checks."""

from __future__ import annotations

import socket

import aiohttp
import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from bot.outbound import (
    GuardedResolver,
    NetworkPolicy,
    OutboundHttp,
    PrivateAddressError,
    Purpose,
    create_session,
    policy_for,
    private_address_refusal,
    session_policy,
)
from bot.reviews.fetch import FeedFetcher
from bot.settings import Settings

REFUSE = NetworkPolicy(allow_private=False)
ALLOW = NetworkPolicy(allow_private=True)


def settings(**overrides) -> Settings:
    return Settings(discord_token=None, **overrides)


class FixedResolver(AbstractResolver):
    def __init__(self, *addresses: str) -> None:
        self.addresses = addresses
        self.closed = False

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET):
        return [
            ResolveResult(hostname=host, host=a, port=port, family=socket.AF_INET, proto=0, flags=0)
            for a in self.addresses
        ]

    async def close(self) -> None:
        self.closed = True


def test_each_purpose_gets_its_policy_from_one_decision() -> None:
    assert policy_for(settings(), Purpose.FEEDS) == REFUSE
    assert policy_for(settings(feed_allow_private_networks=True), Purpose.FEEDS) == ALLOW
    # Operator-configured endpoints (a server admin cannot set them) may be on loopback, as the tests' stubs are.
    assert policy_for(settings(), Purpose.TMDB) == ALLOW
    assert policy_for(settings(), Purpose.LLM) == ALLOW


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "10.0.0.1", "169.254.169.254", "::1", "[::1]", "::ffff:10.0.0.1", "fe80::1%eth0", "224.0.0.1",
     "localhost", "LOCALHOST.", "db.localhost", "printer.local", "metadata.google.internal", "router.home.arpa"],
)  # fmt: skip
def test_private_literals_and_names_are_refused_by_the_url_check(host: str) -> None:
    with pytest.raises(PrivateAddressError, match="is on a private network") as caught:
        REFUSE.check_host(host)
    assert caught.value.host == host and not caught.value.resolved
    ALLOW.check_host(host)  # FEED_ALLOW_PRIVATE_NETWORKS lifts it


@pytest.mark.parametrize("host", ["blog.example.com", "93.184.216.34", "2606:4700::1111", "localhost.example.com"])
def test_public_literals_and_names_pass_the_url_check(host: str) -> None:
    REFUSE.check_host(host)


async def test_the_guard_returns_public_answers_untouched_and_refuses_any_private_one() -> None:
    public = await GuardedResolver(REFUSE, FixedResolver("93.184.216.34", "2606:4700::1111")).resolve("blog.example")
    assert [r["host"] for r in public] == ["93.184.216.34", "2606:4700::1111"]
    for answer in [("93.184.216.34", "10.0.0.1"), ("127.0.0.1",), ("::ffff:192.168.0.1",), ()]:
        with pytest.raises(PrivateAddressError, match=r"blog\.example resolves to a private address") as caught:
            await GuardedResolver(REFUSE, FixedResolver(*answer)).resolve("blog.example")
        assert caught.value.resolved
    allowed = await GuardedResolver(ALLOW, FixedResolver("127.0.0.1")).resolve("blog.example")
    assert [r["host"] for r in allowed] == ["127.0.0.1"]


async def test_a_refusal_is_found_behind_the_connector_error_aiohttp_wraps_it_in() -> None:
    async with create_session(REFUSE, resolver=FixedResolver("10.1.2.3")) as session:
        with pytest.raises(aiohttp.ClientConnectorDNSError) as caught:
            await session.get("http://blog.example/feed")
    refusal = private_address_refusal(caught.value)
    assert refusal is not None and refusal.host == "blog.example" and refusal.resolved
    assert private_address_refusal(aiohttp.ClientConnectionError("reset")) is None


async def test_the_bot_keeps_one_session_per_purpose_and_closes_them_together() -> None:
    outbound = OutboundHttp(settings())
    feeds = outbound.session(Purpose.FEEDS)
    tmdb = outbound.session(Purpose.TMDB)
    assert outbound.session(Purpose.FEEDS) is feeds and tmdb is not feeds
    assert session_policy(feeds) == REFUSE and session_policy(tmdb) == ALLOW
    assert feeds.headers["User-Agent"].startswith("Matinee/")
    await outbound.close()
    assert outbound.closed and feeds.closed and tmdb.closed
    with pytest.raises(RuntimeError):
        outbound.session(Purpose.FEEDS)


async def test_the_feed_fetcher_takes_its_policy_from_the_session_and_refuses_a_hand_made_one() -> None:
    async with create_session(REFUSE) as refusing, create_session(ALLOW) as allowing:
        assert FeedFetcher(refusing).allow_private is False
        assert FeedFetcher(allowing).allow_private is True
    async with aiohttp.ClientSession() as plain:
        assert session_policy(plain) is None
        with pytest.raises(TypeError, match=r"bot\.outbound\.create_session"):
            FeedFetcher(plain)
