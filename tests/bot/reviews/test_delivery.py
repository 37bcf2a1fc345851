"""The outbox worker with a fake transport: reconcile-before-resend, ordering, failures, concurrency."""

from __future__ import annotations

import asyncio
import datetime as dt

from bot.models import Announcement, Review
from bot.problems import ProblemLog
from bot.ratelimit import TokenBucket
from bot.reviews.delivery import MAX_ATTEMPTS, Delivered, DeliveryError, DeliveryService, Failure
from bot.storage import OutboxRepository, ReviewRepository, Target
from bot.timestamps import parse_utc_iso
from tests.bot.reviews.feeds_support import Clock, FakeTransport

FORBIDDEN = DeliveryError("I'm missing a permission there (Discord 403: Missing Permissions)",
                          failure=Failure.FORBIDDEN, status=403)  # fmt: skip


async def record(outbox: OutboxRepository, n: int, guilds: list[int]) -> Review:
    return await outbox.record_review(
        {"source": "markdown", "source_key": f"{n}.md", "slug": f"r{n}", "title": f"R{n}", "content_hash": "h",
         "published_at": f"2025-01-{n:02d}T00:00:00.000Z"},
        [Target(g, g * 10) for g in guilds],
    )  # fmt: skip


async def test_intents_are_written_with_the_review_and_delivered_once(db) -> None:
    outbox, transport = OutboxRepository(db), FakeTransport()
    sent_events = []
    service = DeliveryService(outbox, ReviewRepository(db), transport, on_sent=lambda r, a: sent_events.append(a))
    review = await record(outbox, 1, [1, 2, 3])
    assert len(await outbox.pending()) == 3
    report = await service.deliver_pending()
    assert report.sent == 3 and sorted(g for _, g in transport.sent) == [1, 2, 3]
    assert transport.lookups == []  # fresh intents are not looked up first
    assert await outbox.pending() == []
    assert {a.message_id for a in sent_events} == {1001, 1002, 1003} and all(a.state == "sent" for a in sent_events)
    assert (await service.deliver_pending()).sent == 0
    assert await service.propagate_edit(review) == 3 and len(transport.edited) == 3


async def test_attempted_intents_are_reconciled_before_resending(db) -> None:
    outbox, transport = OutboxRepository(db), FakeTransport()
    service = DeliveryService(outbox, ReviewRepository(db), transport)
    review = await record(outbox, 1, [1, 2])
    # A previous process bumped attempts and sent to guild 1, then died before recording it.
    await outbox.begin_attempt(review.id, 1)
    await outbox.begin_attempt(review.id, 2)
    transport.existing[(review.id, 1)] = Delivered(10, 555, None)
    report = await service.deliver_pending()
    assert (report.adopted, report.sent) == (1, 1)
    assert transport.sent == [(review.id, 2)]  # guild 1 was not posted again
    assert sorted(transport.lookups) == [(review.id, 1), (review.id, 2)]
    assert {a.guild_id: a.message_id for a in await outbox.sent_for_review(review.id)}[1] == 555


async def test_transient_failure_keeps_the_guilds_order_and_other_guilds_go_on(db) -> None:
    outbox, transport = OutboxRepository(db), FakeTransport()
    service = DeliveryService(outbox, ReviewRepository(db), transport)
    first = await record(outbox, 1, [1, 2])
    second = await record(outbox, 2, [1, 2])
    transport.fail[1] = DeliveryError("Discord error 503")
    report = await service.deliver_pending()
    assert report.failed == 1 and sorted(transport.sent) == [(first.id, 2), (second.id, 2)]
    # Guild 1's second review waited behind the first (order is kept), both still pending.
    assert [p.announcement.review_id for p in await outbox.pending()] == [first.id, second.id]
    del transport.fail[1]
    await service.deliver_pending()
    assert [r for r, g in transport.sent if g == 1] == [first.id, second.id]


class LosingTransport(FakeTransport):
    """Discord makes the post, then the answer is lost (a 502): the forum post case."""

    def __init__(self) -> None:
        super().__init__()
        self.lose: set[int] = set()  # guilds whose next send is made and then lost
        self.lookup_error: DeliveryError | None = None

    async def send(self, review: Review, ann: Announcement) -> Delivered:
        delivered = await super().send(review, ann)
        if ann.guild_id in self.lose:
            self.lose.discard(ann.guild_id)
            self.existing[(review.id, ann.guild_id)] = delivered
            raise DeliveryError("Discord's answer was lost (Discord 502); the post may have been made", status=502)
        return delivered

    async def find_existing(self, review: Review, ann: Announcement) -> Delivered | None:
        if self.lookup_error is not None:
            self.lookups.append((review.id, ann.guild_id))
            raise self.lookup_error
        return await super().find_existing(review, ann)


async def test_a_send_whose_answer_was_lost_is_looked_for_at_once_and_adopted(db) -> None:
    outbox, transport = OutboxRepository(db), LosingTransport()
    service = DeliveryService(outbox, ReviewRepository(db), transport)
    review = await record(outbox, 1, [1, 2])
    later = await record(outbox, 2, [1])
    transport.lose.add(1)
    report = await service.deliver_pending()
    assert (report.sent, report.adopted, report.failed) == (2, 1, 0)
    assert transport.tries[1] == 2  # the lost one and the next review: nothing sent twice
    assert transport.lookups == [(review.id, 1)]  # looked once, right after the failure
    sent = {a.guild_id: a.message_id for a in await outbox.sent_for_review(review.id)}
    assert sent[1] == transport.existing[(review.id, 1)].message_id  # the post Discord made is the one recorded
    assert [a.guild_id for a in await outbox.sent_for_review(later.id)] == [1]


async def test_a_refusal_is_not_looked_for_and_a_failed_look_leaves_it_to_the_next_turn(db) -> None:
    outbox, transport = OutboxRepository(db), LosingTransport()
    service = DeliveryService(outbox, ReviewRepository(db), transport)
    review = await record(outbox, 1, [1])
    transport.fail[1] = FORBIDDEN  # Discord said no: nothing can have been made
    assert (await service.deliver_pending()).deferred == 1
    assert transport.lookups == []

    other = await record(outbox, 2, [2])
    transport.lose.add(2)
    transport.lookup_error = DeliveryError("Discord error (Discord 503)", status=503)
    report = await service.deliver_pending()
    assert report.failed == 1 and transport.lookups == [(other.id, 2)]
    transport.lookup_error = None
    report = await service.deliver_pending()  # the next turn looks first (attempted before) and finds it
    assert (report.adopted, report.sent) == (1, 0) and transport.tries[2] == 1
    assert await outbox.counts(other.id) == {"sent": 1} and await outbox.counts(review.id) == {"pending": 1}


async def test_a_forbidden_announcement_is_a_problem_retried_at_a_bounded_pace_for_a_day(db) -> None:
    """403 used to drop the review for good, silently. Now: a problem, retries 1 min doubling to 1 h, for a day."""
    outbox, transport, clock = OutboxRepository(db), FakeTransport(), Clock()
    problems = ProblemLog(db, clock=clock)
    service = DeliveryService(outbox, ReviewRepository(db), transport, problems=problems)
    review = await record(outbox, 1, [1, 2])
    transport.fail[1] = FORBIDDEN
    report = await service.deliver_pending()
    assert (report.deferred, report.sent) == (1, 1)
    [problem] = await problems.open_for_guild(1)
    assert (problem.kind, problem.review_id, problem.channel_id, problem.status) == ("announcement", review.id, 10, 403)
    assert problem.retrying and "Missing Permissions" in problem.error
    assert await outbox.pending(clock.now) == []  # kept, but not attempted before its retry is due
    started, gaps = clock.now, []
    while (problem := (await problems.open_for_guild(1))[0]).retrying:
        due = parse_utc_iso(problem.next_retry_at)
        gaps.append(due - clock.now)
        clock.now = due
        await service.deliver_pending()
    assert gaps[:3] == [dt.timedelta(minutes=1), dt.timedelta(minutes=2), dt.timedelta(minutes=4)]
    assert max(gaps) == dt.timedelta(hours=1)  # a bounded pace
    assert clock.now - started == dt.timedelta(days=1) and problem.gave_up_at  # for at most a day
    assert transport.tries[1] == len(gaps) + 1 == problem.attempts
    # Then it waits for staff: never attempted again on its own, never dropped.
    clock.now += dt.timedelta(days=30)
    assert await outbox.pending(clock.now) == [] and await service.deliver_pending() == type(report)()
    assert (await outbox.counts(review.id)) == {"pending": 1, "sent": 1}
    # Staff grant the permission and run /matinee feed retry: announced, and the problem shows as resolved.
    del transport.fail[1]
    assert await problems.retry_now(1) == 1
    assert (await service.deliver_pending()).sent == 1
    [resolved] = await problems.for_guild(1)
    assert resolved.resolution == "retried" and not resolved.open
    assert await outbox.counts(review.id) == {"sent": 2}


async def test_a_retry_that_works_retries_the_rest_of_that_channel_at_once(db) -> None:
    outbox, transport, clock = OutboxRepository(db), FakeTransport(), Clock()
    problems = ProblemLog(db, clock=clock)
    service = DeliveryService(outbox, ReviewRepository(db), transport, problems=problems)
    transport.fail[1] = FORBIDDEN
    await record(outbox, 1, [1])
    await service.deliver_pending()
    clock.now += dt.timedelta(seconds=40)
    await record(outbox, 2, [1])
    await service.deliver_pending()
    assert len(await problems.open_for_guild(1)) == 2
    del transport.fail[1]  # staff fixed the permission
    clock.now += dt.timedelta(seconds=20)  # the first review's retry is due, the second's not yet
    await service.deliver_pending()
    await service.deliver_pending()  # same moment: the second was made due by the first one's success
    assert len(transport.sent) == 2 and await problems.open_for_guild(1) == []


async def test_a_deleted_channel_hands_its_announcements_to_the_fallback_in_the_same_turn(db) -> None:
    outbox, transport = OutboxRepository(db), FakeTransport()
    rerouted = []

    async def reroute(guild_id: int, channel_id: int) -> int | None:
        rerouted.append((guild_id, channel_id))
        await outbox.retarget(guild_id, channel_id, 99)
        return 99

    service = DeliveryService(outbox, ReviewRepository(db), transport, reroute=reroute)
    review = await record(outbox, 1, [1])
    transport.gone.add(10)
    report = await service.deliver_pending()
    assert (report.rerouted, report.sent, report.deferred) == (1, 1, 0)
    assert rerouted == [(1, 10)]
    [sent] = await outbox.sent_for_review(review.id)
    assert sent.channel_id == 99


async def test_a_deleted_channel_without_fallback_waits_for_staff(db) -> None:
    outbox, transport = OutboxRepository(db), FakeTransport()
    service = DeliveryService(outbox, ReviewRepository(db), transport, reroute=lambda g, c: asyncio.sleep(0))
    review = await record(outbox, 1, [1])
    transport.gone.add(10)
    assert (await service.deliver_pending()).deferred == 1
    [problem] = await service.problems.open_for_guild(1)
    assert not problem.retrying and "/matinee setup" in problem.error and problem.review_id == review.id
    assert await outbox.counts(review.id) == {"pending": 1}  # kept for when staff pick a channel


async def test_a_refused_payload_waits_for_staff_and_dismissing_it_is_staffs_choice(db) -> None:
    outbox, transport = OutboxRepository(db), FakeTransport()
    service = DeliveryService(outbox, ReviewRepository(db), transport)
    await record(outbox, 1, [1])
    transport.fail[1] = DeliveryError("Discord refused the post (Discord 400)", failure=Failure.REFUSED, status=400)
    await service.deliver_pending()
    [problem] = await service.problems.open_for_guild(1)
    assert not problem.retrying and problem.status == 400
    assert [p.id for p in await service.problems.dismiss(1)] == [problem.id]
    assert (await service.problems.for_guild(1))[0].resolution == "dismissed"


async def test_intents_that_keep_failing_become_a_problem_after_max_attempts(db) -> None:
    outbox, transport = OutboxRepository(db), FakeTransport()
    service = DeliveryService(outbox, ReviewRepository(db), transport)
    review = await record(outbox, 1, [1])
    transport.fail[1] = DeliveryError("Discord error 500")
    for _ in range(MAX_ATTEMPTS - 1):
        await service.deliver_pending()
        assert await service.problems.open_for_guild(1) == []  # a few failures are just retried
    await service.deliver_pending()
    [problem] = await service.problems.open_for_guild(1)
    assert problem.retrying and "500" in problem.error
    assert await outbox.pending() == [] and await outbox.counts(review.id) == {"pending": 1}  # not dropped


async def test_fan_out_is_concurrent_but_bounded(db) -> None:
    outbox, transport = OutboxRepository(db), FakeTransport()
    service = DeliveryService(outbox, ReviewRepository(db), transport, concurrency=4)
    await record(outbox, 1, list(range(1, 21)))
    await service.deliver_pending()
    assert len(transport.sent) == 20
    assert 1 < transport.max_active <= 4


async def test_concurrent_delivery_passes_never_double_send(db) -> None:
    outbox, transport = OutboxRepository(db), FakeTransport()
    service = DeliveryService(outbox, ReviewRepository(db), transport)
    await record(outbox, 1, [1, 2, 3])
    await asyncio.gather(service.deliver_pending(), service.deliver_pending(), service.deliver_pending())
    assert sorted(transport.sent) == sorted(set(transport.sent)) and len(transport.sent) == 3


async def test_token_bucket_limits_the_rate() -> None:
    now = [0.0]
    bucket = TokenBucket(rate=10, capacity=2, clock=lambda: now[0])
    assert bucket.try_acquire() and bucket.try_acquire() and not bucket.try_acquire()
    now[0] += 0.1  # one token per 0.1 s
    assert bucket.try_acquire() and not bucket.try_acquire()
    now[0] += 10
    assert sum(bucket.try_acquire() for _ in range(5)) == 2  # never more than the capacity


async def test_token_bucket_acquire_waits_for_a_token() -> None:
    bucket = TokenBucket(rate=200, capacity=1)
    await bucket.acquire()
    await asyncio.wait_for(bucket.acquire(), timeout=5)  # waits ~5 ms, then succeeds
    assert not bucket.try_acquire()


def test_token_bucket_admits_at_most_capacity_plus_rate_in_any_second() -> None:
    now = [0.0]
    bucket = TokenBucket(rate=40, capacity=5, clock=lambda: now[0])
    granted = []
    for step in range(3000):  # 3 s of someone trying every millisecond
        now[0] = step / 1000
        if bucket.try_acquire():
            granted.append(now[0])
    worst = max(sum(1 for t in granted if start <= t < start + 1) for start in granted)
    assert worst <= 45 and len(granted) >= 120
