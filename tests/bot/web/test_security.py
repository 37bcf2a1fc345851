"""Client address behind proxies, the per-address rate limiter, stream caps, CORS, and the consent text."""

from __future__ import annotations

from bot.storage.web import WebGuild
from bot.web.consent import BLOG_NOTICE_MARK, blog_notice, is_published, with_blog_notice
from bot.web.security import KeyedRateLimiter, StreamLimiter, allowed_origin, client_address, parse_networks

PROXIES = parse_networks(["10.0.0.0/8", "127.0.0.1"])


def test_forwarded_for_is_believed_only_from_trusted_proxies() -> None:
    assert client_address("203.0.113.9", ["1.2.3.4"], PROXIES) == "203.0.113.9"
    assert client_address("10.0.0.2", ["1.2.3.4"], PROXIES) == "1.2.3.4"
    # The client can write anything left of the last untrusted hop: it proves nothing.
    assert client_address("10.0.0.2", ["6.6.6.6, 1.2.3.4, 10.0.0.7"], PROXIES) == "1.2.3.4"
    assert client_address("10.0.0.2", ["garbage, 1.2.3.4"], PROXIES) == "1.2.3.4"
    assert client_address("10.0.0.2", ["1.2.3.4, garbage"], PROXIES) == "10.0.0.2"
    assert client_address("10.0.0.2", [], PROXIES) == "10.0.0.2"
    assert client_address("127.0.0.1", ["[2001:db8::1]:443"], PROXIES) == "2001:db8::1"
    assert client_address("10.0.0.2", ["1.2.3.4"], ()) == "10.0.0.2"
    # Hops are remembered only when short enough to be an address; padding is not length.
    assert client_address("10.0.0.2", [" " * 200 + "1.2.3.4" + " " * 200], PROXIES) == "1.2.3.4"
    assert client_address("10.0.0.2", ["1.2.3.4, " + "9" * 5000], PROXIES) == "10.0.0.2"
    assert client_address("10.0.0.2", ["1.2.3.4"], PROXIES) == "1.2.3.4"  # asked again: the same answer


def test_rate_limiter_is_per_address_and_forgets_old_addresses() -> None:
    now = [0.0]
    limiter = KeyedRateLimiter(rate=1.0, burst=3, max_keys=2, clock=lambda: now[0])
    assert [limiter.try_acquire("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.try_acquire("a") == 1.0
    assert limiter.try_acquire("b") == 0.0
    now[0] = 1.0
    assert limiter.try_acquire("a") == 0.0
    limiter.try_acquire("c")
    assert "b" not in limiter._buckets and len(limiter._buckets) == 2


def test_stream_limiter_counts_per_address_and_in_total() -> None:
    limiter = StreamLimiter(per_address=1, total=2)
    with limiter.hold("a"):
        assert limiter.refusal("a") is not None and limiter.refusal("b") is None
        with limiter.hold("b"):
            assert "as many live connections" in limiter.refusal("c")
    assert limiter.open == 0 and limiter.refusal("a") is None


def test_cors_origin_decision() -> None:
    assert allowed_origin("https://blog.example", ("https://blog.example",)) == "https://blog.example"
    assert allowed_origin("https://blog.example/", ("https://blog.example",)) == "https://blog.example/"
    assert allowed_origin("https://evil.example", ("https://blog.example",)) is None
    assert allowed_origin("https://any.example", ("*",)) == "*"
    assert allowed_origin(None, ("*",)) is None
    assert allowed_origin("https://blog.example", ()) is None


def test_the_blog_notice_is_added_replaced_and_removed_in_an_opening_message() -> None:
    opening = "**What did you think of Heat?**\nA few questions:\n• One?\nVote in the poll below, and reply here."
    with_notice = with_blog_notice(opening, blog_notice("notice"))
    lines = with_notice.split("\n")
    assert lines[-2].startswith(BLOG_NOTICE_MARK) and "/privacy blog hide" in lines[-2]
    switched = with_blog_notice(with_notice, blog_notice("opt-in"))
    assert switched.count(BLOG_NOTICE_MARK) == 1 and "/privacy blog show" in switched
    assert with_blog_notice(switched, None) == opening


def test_who_is_published_mirrors_the_view() -> None:
    notice, opt_in, off = WebGuild(1, True, "notice"), WebGuild(1, True, "opt-in"), WebGuild(1, False, "notice")
    assert [is_published(notice, p) for p in (None, True, False)] == [True, True, False]
    assert [is_published(opt_in, p) for p in (None, True, False)] == [False, True, False]
    assert [is_published(off, p) for p in (None, True, False)] == [False, False, False]
