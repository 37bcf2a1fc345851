"""The per-member sliding-window limit and the per-guild daily token budget."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.chat.guards import DM_GUILD_ID, SlidingWindowLimiter, TokenBudget
from bot.storage import Database
from bot.storage.conversations import UsageRepository


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_sliding_window_allows_limit_then_says_when_to_retry() -> None:
    clock = Clock()
    limiter = SlidingWindowLimiter(3, 60.0, clock=clock)
    assert [limiter.hit("mo") for _ in range(3)] == [None, None, None]
    clock.now += 10
    assert limiter.hit("mo") == pytest.approx(50.0)
    assert limiter.hit("ada") is None  # per member
    clock.now += 50.01  # the first three hits slid out of the window
    assert [limiter.hit("mo") for _ in range(3)] == [None, None, None]
    assert limiter.hit("mo") is not None


def test_window_is_sliding_not_fixed() -> None:
    clock = Clock()
    limiter = SlidingWindowLimiter(2, 60.0, clock=clock)
    assert limiter.hit("mo") is None
    clock.now += 59
    assert limiter.hit("mo") is None
    clock.now += 2  # 61 s after the first, 2 s after the second
    assert limiter.hit("mo") is None
    assert limiter.hit("mo") == pytest.approx(58.0)  # when the hit at +59 s leaves the window


def test_refused_requests_do_not_extend_the_wait() -> None:
    clock = Clock()
    limiter = SlidingWindowLimiter(1, 60.0, clock=clock)
    limiter.hit("mo")
    for _ in range(5):
        clock.now += 1
        limiter.hit("mo")
    clock.now += 55
    assert limiter.hit("mo") is None


async def test_budget_is_per_guild_per_utc_day_and_survives_a_new_instance(db: Database) -> None:
    moment = datetime(2026, 3, 1, 22, 30, tzinfo=UTC)
    budget = TokenBudget(UsageRepository(db), 1000, now=lambda: moment)
    assert await budget.exhausted_until(1) is None
    await budget.spend(1, 600)
    await budget.spend(1, 400)
    await budget.spend(2, 10)
    again = TokenBudget(UsageRepository(db), 1000, now=lambda: moment)  # e.g. after a restart
    assert await again.exhausted_until(1) == datetime(2026, 3, 2, tzinfo=UTC)
    assert await again.exhausted_until(2) is None
    tomorrow = TokenBudget(UsageRepository(db), 1000, now=lambda: datetime(2026, 3, 2, 0, 1, tzinfo=UTC))
    assert await tomorrow.exhausted_until(1) is None


async def test_dms_share_one_bucket(db: Database) -> None:
    budget = TokenBudget(UsageRepository(db), 50)
    await budget.spend(None, 60)
    assert await budget.exhausted_until(None) is not None
    assert await UsageRepository(db).tokens_on(DM_GUILD_ID, datetime.now(UTC).strftime("%Y-%m-%d")) == 60
