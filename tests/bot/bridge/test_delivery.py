"""Mirrors exactly once: the outbox, reconciling after a crash, edits, deletions, failures, and nested replies."""

from __future__ import annotations

import datetime as dt

from bot.bridge import MirrorDelivery, Posted
from bot.models import Comment as DiscordComment
from bot.reviews.delivery import DeliveryError, Failure
from bot.storage import CommentRepository, Database
from bot.storage.blog_comments import MirrorJob
from tests.bot.bridge.bridge_support import START, THREAD_A, THREAD_B, Blog, Clock, Comment, bridge, poll, posts
from tests.bot.bridge.bridge_support import review_with_threads as reviewed

HOUR = dt.timedelta(hours=1)


class FakeTransport:
    """Discord as the delivery sees it: messages per thread, with scripted failures and crash leftovers."""

    def __init__(self) -> None:
        self.messages: dict[int, dict[int, str]] = {}  # thread -> message id -> what it shows
        self.sent: list[tuple[int, int]] = []  # (comment, thread) per send
        self.lookups = 0
        self.fail: dict[int, DeliveryError] = {}  # thread -> error for the next send
        self.orphans: dict[tuple[int, int], int] = {}  # (comment, thread) -> a message a crashed send left
        self._ids = 9000

    async def send(self, job: MirrorJob) -> Posted:
        if job.thread_id in self.fail:
            raise self.fail.pop(job.thread_id)
        self._ids += 1
        self.messages.setdefault(job.thread_id, {})[self._ids] = job.content
        self.sent.append((job.comment_id, job.thread_id))
        return Posted(self._ids, 77)

    async def find_existing(self, job: MirrorJob) -> Posted | None:
        self.lookups += 1
        found = self.orphans.get((job.comment_id, job.thread_id))
        return Posted(found, 77) if found else None

    async def edit(self, job: MirrorJob) -> None:
        assert job.message_id is not None
        self.messages[job.thread_id][job.message_id] = job.content

    async def delete(self, job: MirrorJob) -> None:
        assert job.message_id is not None
        self.messages.get(job.thread_id, {}).pop(job.message_id, None)


async def with_news(db: Database, threads: int = 2):
    review = await reviewed(db, threads=threads)
    blog = Blog([Comment(1, at=START - HOUR)])
    clock = Clock()
    service = bridge(db, blog, clock)
    await poll(service, review)
    clock.advance(minutes=5)
    blog.comments.append(Comment(2, "Ana", "Loved it", at=clock.now))
    await poll(service, review)
    return review, blog, clock, service


async def test_each_mirror_is_sent_once_and_recorded(db: Database) -> None:
    _, _, clock, service = await with_news(db)
    transport = FakeTransport()
    delivery = MirrorDelivery(service.feeds, transport, clock=clock)
    report = await delivery.deliver()
    assert report.sent == 2 and sorted(t for _, t in transport.sent) == [THREAD_A, THREAD_B]
    assert await posts(db) == [("Ana", THREAD_A, "sent", False), ("Ana", THREAD_B, "sent", False)]
    assert (await delivery.deliver()).sent == 0 and len(transport.sent) == 2
    assert transport.lookups == 0  # nothing was attempted before: no need to search


async def test_a_send_that_reached_discord_before_a_crash_is_adopted_not_repeated(db: Database) -> None:
    _, _, clock, service = await with_news(db, threads=1)
    [job] = await service.feeds.jobs(clock.now)
    await service.feeds.begin_attempt(job)  # the crash came after this, and after Discord made the message
    transport = FakeTransport()
    transport.orphans[(job.comment_id, THREAD_A)] = 4242
    report = await MirrorDelivery(service.feeds, transport, clock=clock).deliver()
    assert (report.adopted, report.sent, transport.sent) == (1, 0, [])
    row = await db.fetchone("SELECT state, message_id, attempts FROM blog_comment_posts")
    assert tuple(row) == ("sent", 4242, 1)


async def test_a_transient_failure_retries_later_in_order_and_a_refusal_is_given_up(db: Database) -> None:
    review, blog, clock, service = await with_news(db)
    clock.advance(minutes=5)
    blog.comments.append(Comment(3, "Bea", at=clock.now))
    await poll(service, review)
    transport = FakeTransport()
    transport.fail[THREAD_A] = DeliveryError("Discord error (Discord 502)")
    transport.fail[THREAD_B] = DeliveryError("Discord refused to post (Discord 400)", failure=Failure.REFUSED)
    delivery = MirrorDelivery(service.feeds, transport, clock=clock)
    report = await delivery.deliver()
    assert report.failed == 2 and transport.sent == [(3, THREAD_B)]  # B gave Ana up and went on; A stopped
    states = await posts(db)
    assert ("Ana", THREAD_A, "pending", True) in states and ("Bea", THREAD_A, "pending", True) in states
    assert ("Ana", THREAD_B, "failed", False) in states  # refused for good: staff see it in /matinee feed list
    assert (await delivery.deliver()).sent == 0  # thread A waits for its back-off, Ana first
    clock.advance(minutes=1)
    await delivery.deliver()
    assert [c for c, t in transport.sent if t == THREAD_A] == [2, 3]  # in order, once each


async def test_a_gone_thread_ends_the_mirror(db: Database) -> None:
    _, _, clock, service = await with_news(db, threads=1)
    transport = FakeTransport()
    transport.fail[THREAD_A] = DeliveryError("the thread or message is gone", failure=Failure.GONE, status=404)
    report = await MirrorDelivery(service.feeds, transport, clock=clock).deliver()
    assert report.gone == 1 and await posts(db) == [("Ana", THREAD_A, "gone", False)]


async def test_edits_and_deletions_on_the_blog_reach_the_messages(db: Database) -> None:
    review, blog, clock, service = await with_news(db, threads=1)
    transport = FakeTransport()
    delivery = MirrorDelivery(service.feeds, transport, clock=clock)
    await delivery.deliver()
    [(message_id, shown)] = transport.messages[THREAD_A].items()
    assert shown == "Loved it"
    blog.comments[-1].text = "Loved it, twice"
    await poll(service, review)
    assert (await delivery.deliver()).edited == 1 and transport.messages[THREAD_A] == {message_id: "Loved it, twice"}
    blog.comments.pop()
    await poll(service, review)
    assert (await delivery.deliver()).deleted == 1 and transport.messages[THREAD_A] == {}
    assert await posts(db) == [("", THREAD_A, "deleted", False)]


async def test_a_pending_mirror_of_a_deleted_comment_is_searched_for_if_it_may_have_been_sent(db: Database) -> None:
    review, blog, clock, service = await with_news(db)
    [_, job_b] = await service.feeds.jobs(clock.now)
    await service.feeds.begin_attempt(job_b)  # only thread B's send may have reached Discord
    blog.comments.pop()
    await poll(service, review)
    transport = FakeTransport()
    transport.messages[THREAD_B] = {5151: "Loved it"}
    transport.orphans[(job_b.comment_id, THREAD_B)] = 5151
    await MirrorDelivery(service.feeds, transport, clock=clock).deliver()
    assert transport.lookups == 1 and transport.messages[THREAD_B] == {} and transport.sent == []
    assert [s for _, _, s, _ in await posts(db)] == ["deleted", "deleted"]


async def test_a_reply_to_a_mirror_is_stored_as_a_reply_to_the_blog_comment_whenever_it_arrives(
    db: Database, writer
) -> None:
    _, _, clock, service = await with_news(db, threads=1)
    [job] = await service.feeds.jobs(clock.now)
    comments = CommentRepository(db, writer)

    def reply(message_id: int, to: int) -> DiscordComment:
        return DiscordComment(message_id, job.review_id, 1, THREAD_A, 7, "Mo", "Agreed", "2026-01-10T12:10:00.000Z",
                              reply_to_id=to)  # fmt: skip

    await comments.store(reply(10**18, 4242))  # a member answered before Matinee recorded the mirror (a crash)
    await service.feeds.mark_sent(job, message_id=4242, webhook_id=77)
    await comments.store_many([reply(10**18 + 1, 4242)])  # and after: the write maps it
    await comments.store(reply(10**18 + 2, 999))  # a reply to anything else is left alone
    rows = await db.fetchall("SELECT message_id, reply_to_id FROM comments WHERE source = 'discord' ORDER BY 1")
    assert [tuple(r) for r in rows] == [(10**18, -job.comment_id), (10**18 + 1, -job.comment_id), (10**18 + 2, 999)]
