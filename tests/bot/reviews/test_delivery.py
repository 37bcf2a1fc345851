"""The outbox worker with a fake transport: reconcile-before-resend, ordering, failures, concurrency."""

from __future__ import annotations

import asyncio

from bot.models import Announcement, Review
from bot.ratelimit import TokenBucket
from bot.reviews.delivery import MAX_ATTEMPTS, Delivered, DeliveryError, DeliveryService
from bot.storage import OutboxRepository, ReviewRepository, Target


class FakeTransport:
    def __init__(self) -> None:
        self.sent: list[tuple[int, int]] = []
        self.edited: list[tuple[int, int]] = []
        self.existing: dict[tuple[int, int], Delivered] = {}
        self.fail: dict[int, DeliveryError] = {}  # guild -> error
        self.active = 0
        self.max_active = 0
        self.lookups: list[tuple[int, int]] = []

    async def send(self, review: Review, ann: Announcement) -> Delivered:
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        try:
            await asyncio.sleep(0.01)
            if ann.guild_id in self.fail:
                raise self.fail[ann.guild_id]
            self.sent.append((review.id, ann.guild_id))
            return Delivered(ann.channel_id, 1000 + len(self.sent), None)
        finally:
            self.active -= 1

    async def find_existing(self, review: Review, ann: Announcement) -> Delivered | None:
        self.lookups.append((review.id, ann.guild_id))
        return self.existing.get((review.id, ann.guild_id))

    async def edit(self, review: Review, ann: Announcement) -> bool:
        self.edited.append((review.id, ann.guild_id))
        return True


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


async def test_permanent_failure_drops_the_intent_and_reports_it(db) -> None:
    outbox, transport = OutboxRepository(db), FakeTransport()
    dropped = []
    service = DeliveryService(outbox, ReviewRepository(db), transport,
                              on_dropped=lambda r, a, why: dropped.append((a.guild_id, why)))  # fmt: skip
    await record(outbox, 1, [1, 2])
    transport.fail[1] = DeliveryError("Discord error 404: Unknown Channel", permanent=True)
    report = await service.deliver_pending()
    assert (report.dropped, report.sent) == (1, 1)
    assert dropped == [(1, "Discord error 404: Unknown Channel")]
    assert await outbox.pending() == []


async def test_intents_that_keep_failing_are_given_up_after_max_attempts(db) -> None:
    outbox, transport = OutboxRepository(db), FakeTransport()
    service = DeliveryService(outbox, ReviewRepository(db), transport)
    await record(outbox, 1, [1])
    transport.fail[1] = DeliveryError("Discord error 500")
    for _ in range(MAX_ATTEMPTS + 1):
        await service.deliver_pending()
    assert await outbox.pending() == []


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
