"""Delivery problems: the retry pace, the log-channel reporting states, and what staff read."""

from __future__ import annotations

import datetime as dt

from bot.problems import ANNOUNCEMENT, CHANNEL, THREAD, ProblemLog, RetryPolicy, describe_problem
from bot.storage import Database, ReviewRepository

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> dt.datetime:
        return self.now


def test_the_retry_pace_doubles_is_capped_and_stops_after_the_window() -> None:
    policy = RetryPolicy()
    minute = dt.timedelta(minutes=1)
    assert [policy.next_retry(T0, n, T0) - T0 for n in (1, 2, 3, 7, 8, 20)] == [
        minute, 2 * minute, 4 * minute, 60 * minute, 60 * minute, 60 * minute
    ]  # fmt: skip
    late = T0 + dt.timedelta(hours=23, minutes=30)
    assert policy.next_retry(T0, 30, late) == T0 + dt.timedelta(days=1)  # the last try lands on the deadline
    assert policy.next_retry(T0, 31, T0 + dt.timedelta(days=1)) is None


async def test_reporting_tells_each_state_once_and_a_self_healed_problem_not_at_all(db: Database) -> None:
    clock = Clock()
    log = ProblemLog(db, clock=clock, policy=RetryPolicy(window=dt.timedelta(minutes=10)))
    review, _ = await ReviewRepository(db).upsert(source="s", source_key="k", slug="heat", title="Heat",
                                                  content_hash="h")  # fmt: skip
    opened = await log.failed(1, ANNOUNCEMENT, review_id=review.id, channel_id=5, error="403", status=403)
    assert [p.state for p in await log.unreported()] == ["open"]
    await log.mark_reported(opened)
    assert await log.unreported() == []
    clock.now += dt.timedelta(minutes=1)
    await log.failed(1, ANNOUNCEMENT, review_id=review.id, channel_id=5, error="403", status=403)
    assert await log.unreported() == []  # still the same open problem
    clock.now += dt.timedelta(minutes=10)
    gave_up = await log.failed(1, ANNOUNCEMENT, review_id=review.id, channel_id=5, error="403", status=403)
    assert gave_up.gave_up_at and not gave_up.retrying
    [told] = await log.unreported()
    assert told.state == "gave_up"
    await log.mark_reported(told)
    await log.succeeded(1, ANNOUNCEMENT, review_id=review.id)
    [resolved] = await log.unreported()
    assert resolved.state == "resolved" and resolved.resolution == "retried"
    await log.mark_reported(resolved)
    # A problem that heals before any report was made is never reported.
    await log.failed(2, THREAD, review_id=review.id, channel_id=6, error="503")
    await log.succeeded(2, THREAD, review_id=review.id)
    assert await log.unreported() == []


async def test_due_retries_are_claimed_once_per_slot(db: Database) -> None:
    clock = Clock()
    log = ProblemLog(db, clock=clock)
    review, _ = await ReviewRepository(db).upsert(source="s", source_key="k", slug="heat", title="Heat",
                                                  content_hash="h")  # fmt: skip
    await log.failed(1, THREAD, review_id=review.id, channel_id=5, error="403", status=403)
    assert await log.claim_due(THREAD) == []
    clock.now += dt.timedelta(minutes=1)
    assert [p.review_id for p in await log.claim_due(THREAD)] == [review.id]
    assert await log.claim_due(THREAD) == []  # pushed to its next slot until someone reports back
    clock.now += dt.timedelta(days=2)
    await log.claim_due(THREAD)
    [problem] = await log.open_for_guild(1)
    assert problem.gave_up_at is not None and not problem.retrying  # nobody answered for a day: staff's turn


async def test_staff_read_what_failed_why_and_what_happens_next(db: Database) -> None:
    clock = Clock()
    log = ProblemLog(db, clock=clock)
    review, _ = await ReviewRepository(db).upsert(source="s", source_key="k", slug="heat", title="Heat *1995*",
                                                  content_hash="h")  # fmt: skip
    retrying = await log.failed(1, ANNOUNCEMENT, review_id=review.id, channel_id=5, error="Missing Permissions")
    text = describe_problem(retrying, escape=lambda s: s.replace("*", "\\*"))
    assert text.startswith("⚠ Announcing **Heat \\*1995\\*** in <#5> failed: Missing Permissions. Retrying <t:")
    waiting = await log.failed(1, THREAD, review_id=review.id, channel_id=5, error="refused", retry=False)
    assert "`/matinee feed retry`" in describe_problem(waiting) and "thread" in describe_problem(waiting)
    gone = await log.failed(1, CHANNEL, channel_id=5, error="the announcement channel was deleted", retry=False)
    assert "`/matinee setup`" in describe_problem(gone)
    await log.resolve(1, CHANNEL, resolution="replaced")
    [*_, settled] = await log.for_guild(1)
    assert describe_problem(settled).startswith("✅ The announcement channel <#5> was deleted: replaced by staff")
