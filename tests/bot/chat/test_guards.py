"""The per-member sliding-window limit (stored, so a restart keeps it) and the per-guild daily token budget."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from bot.chat.guards import DM_GUILD_ID, SlidingWindowLimiter, TokenBudget
from bot.storage import Database
from bot.storage.conversations import ChatRequestRepository, UsageRepository


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


MO, ADA = 7, 8
GUILD = 1


def limiter_for(db: Database, limit: int, clock: Clock) -> SlidingWindowLimiter:
    return SlidingWindowLimiter(ChatRequestRepository(db), limit, 60.0, clock=clock)


async def test_sliding_window_allows_limit_then_says_when_to_retry(db: Database) -> None:
    clock = Clock()
    limiter = limiter_for(db, 3, clock)
    assert [await limiter.hit(GUILD, MO) for _ in range(3)] == [None, None, None]
    clock.now += 10
    assert await limiter.hit(GUILD, MO) == pytest.approx(50.0)
    assert await limiter.hit(GUILD, ADA) is None  # per member
    clock.now += 50.01  # the first three hits slid out of the window
    assert [await limiter.hit(GUILD, MO) for _ in range(3)] == [None, None, None]
    assert await limiter.hit(GUILD, MO) is not None


async def test_window_is_sliding_not_fixed(db: Database) -> None:
    clock = Clock()
    limiter = limiter_for(db, 2, clock)
    assert await limiter.hit(GUILD, MO) is None
    clock.now += 59
    assert await limiter.hit(GUILD, MO) is None
    clock.now += 2  # 61 s after the first, 2 s after the second
    assert await limiter.hit(GUILD, MO) is None
    assert await limiter.hit(GUILD, MO) == pytest.approx(58.0)  # when the hit at +59 s leaves the window


async def test_refused_requests_do_not_extend_the_wait(db: Database) -> None:
    clock = Clock()
    limiter = limiter_for(db, 1, clock)
    await limiter.hit(GUILD, MO)
    for _ in range(5):
        clock.now += 1
        await limiter.hit(GUILD, MO)
    clock.now += 55
    assert await limiter.hit(GUILD, MO) is None


async def test_the_window_survives_a_new_limiter_and_a_reopened_database(tmp_path) -> None:
    """What a restart does: a new process, a new connection, a new limiter; the allowance is not reset."""
    clock = Clock()
    db = await Database.open(tmp_path / "limits.db")
    await db.migrate()
    limiter = limiter_for(db, 2, clock)
    assert [await limiter.hit(GUILD, MO), await limiter.hit(GUILD, MO)] == [None, None]
    await db.close()

    clock.now += 20
    db = await Database.open(tmp_path / "limits.db")
    try:
        again = limiter_for(db, 2, clock)
        assert await again.hit(GUILD, MO) == pytest.approx(40.0)
        clock.now += 40.01
        assert await again.hit(GUILD, MO) is None
    finally:
        await db.close()


async def test_servers_and_direct_messages_are_separate_windows(db: Database) -> None:
    clock = Clock()
    limiter = limiter_for(db, 1, clock)
    assert await limiter.hit(GUILD, MO) is None
    assert await limiter.hit(2, MO) is None
    assert await limiter.hit(None, MO) is None  # a direct message
    assert await limiter.hit(None, MO) is not None
    assert await limiter.hit(GUILD, MO) is not None


async def test_concurrent_requests_of_one_member_cannot_both_slip_under_the_limit(db: Database) -> None:
    limiter = limiter_for(db, 3, Clock())
    results = await asyncio.gather(*(limiter.hit(GUILD, MO) for _ in range(10)))
    assert sum(r is None for r in results) == 3


async def test_a_lowered_limit_counts_the_requests_already_made(db: Database) -> None:
    clock = Clock()
    generous = limiter_for(db, 5, clock)
    for _ in range(4):
        await generous.hit(GUILD, MO)
        clock.now += 10  # hits at +0, +10, +20, +30; now +40
    strict = limiter_for(db, 2, clock)  # CHAT_REQUESTS_PER_MINUTE lowered across a restart
    # Allowed again once only one request is left in the window: when the one at +20 leaves it.
    assert await strict.hit(GUILD, MO) == pytest.approx(40.0)


async def test_old_requests_are_pruned_and_a_clock_set_back_never_asks_for_more_than_a_window(
    db: Database,
) -> None:
    clock = Clock()
    limiter = limiter_for(db, 1, clock)
    for member in range(100, 110):
        await limiter.hit(GUILD, member)
    assert await db.fetchval("SELECT count(*) FROM chat_requests") == 10
    clock.now += 61
    await limiter.hit(GUILD, MO)  # the first hit after a window prunes everything outside it
    assert await db.fetchval("SELECT count(*) FROM chat_requests") == 1
    clock.now -= 3600  # the wall clock jumped back an hour
    assert await limiter.hit(GUILD, MO) == pytest.approx(60.0)


async def test_the_check_is_one_indexed_lookup(db: Database) -> None:
    plan = await db.fetchall(
        "EXPLAIN QUERY PLAN SELECT at FROM chat_requests WHERE user_id = ? AND guild_id IS ? AND at > ? "
        "ORDER BY at DESC LIMIT 1",
        (MO, GUILD, 0.0),
    )
    detail = " ".join(row["detail"] for row in plan)
    assert "USING COVERING INDEX chat_requests_member (user_id=? AND guild_id=? AND at>?)" in detail, detail
    assert "TEMP B-TREE" not in detail


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
