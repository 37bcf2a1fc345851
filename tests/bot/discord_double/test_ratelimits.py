"""The double's rate-limit buckets keep the promise their headers make, like Discord's."""

from __future__ import annotations

from bot.discord_double.ratelimits import RateLimits

ROUTE = "POST /channels/{id}/messages"


def test_a_client_that_waits_the_advertised_reset_is_never_refused() -> None:
    now = [100.0]
    limits = RateLimits(bucket_limit=2, bucket_window=0.2, enforce_bucket_limits=True, clock=lambda: now[0])
    limits.take(ROUTE, "1")
    now[0] += 0.005
    headers = limits.take(ROUTE, "1")
    assert headers["X-RateLimit-Remaining"] == "0"
    limits.take(ROUTE, "1")
    assert limits.overflowed(ROUTE, "1")  # a third request within the window is refused

    now[0] += float(headers["X-RateLimit-Reset-After"])  # the client waits what it was told, then sends two
    for remaining in ("1", "0"):
        assert limits.take(ROUTE, "1")["X-RateLimit-Remaining"] == remaining
        assert not limits.overflowed(ROUTE, "1")


def test_buckets_are_per_major_parameter_and_a_refused_request_is_not_counted() -> None:
    now = [0.0]
    limits = RateLimits(bucket_limit=1, bucket_window=1.0, clock=lambda: now[0])
    assert limits.take(ROUTE, "1")["X-RateLimit-Remaining"] == "0"
    assert limits.take(ROUTE, "2")["X-RateLimit-Remaining"] == "0"  # another channel, another bucket
    limits.take(ROUTE, "1")
    assert limits.overflowed(ROUTE, "1")
    now[0] += 0.5
    headers = limits.take(ROUTE, "1")
    assert limits.overflowed(ROUTE, "1")
    assert headers["X-RateLimit-Reset-After"] == "0.500"  # the window still opened at 0, not at the refusals
