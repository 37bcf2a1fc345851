"""One back-off formula: ``capped`` doubles from ``first`` up to ``cap``, on seconds or timedeltas alike."""

from __future__ import annotations

import datetime as dt
import random

from bot.backoff import Backoff, capped


def test_capped_doubles_up_to_the_cap_in_seconds() -> None:
    assert [capped(30.0, n, 1000.0) for n in range(7)] == [30.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1000.0]


def test_capped_works_on_timedeltas_and_never_overflows_them() -> None:
    first, cap = dt.timedelta(seconds=30), dt.timedelta(hours=1)
    assert capped(first, 2, cap) == dt.timedelta(seconds=120)
    assert capped(first, 10_000, cap) == cap  # 30 s * 2**10000 would overflow a timedelta


def test_a_first_step_above_the_cap_is_the_cap() -> None:
    assert capped(dt.timedelta(hours=2), 0, dt.timedelta(hours=1)) == dt.timedelta(hours=1)


def test_backoff_draws_each_delay_from_the_upper_part_of_its_capped_step() -> None:
    backoff = Backoff(first=5.0, cap=40.0, jitter=0.25, rng=random.Random(7))
    delays = [backoff.next_delay() for _ in range(6)]
    for attempt, delay in enumerate(delays):
        step = capped(5.0, attempt, 40.0)
        assert 0.75 * step <= delay <= step
    backoff.reset()
    assert backoff.attempts == 0 and backoff.next_delay() <= 5.0
