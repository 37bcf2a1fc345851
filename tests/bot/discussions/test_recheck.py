"""The background re-check of comments older than the quick re-check's window, through a fake Discord.

Its pace is driven by a fake clock: ``sleep`` advances the clock instead of waiting,
so a test sees exactly when each page was read, and never waits for real.
"""

from __future__ import annotations

import asyncio
import dataclasses
from types import SimpleNamespace

import pytest

from bot.discussions.recheck import OlderCommentsRecheck
from bot.discussions.transport import TransportError
from bot.privacy import member_data_registry
from bot.ratelimit import TokenBucket
from bot.storage import BatchedWriter, CommentRepository, Database, DiscussionThreadRepository
from bot.storage.comments import RecheckPosition
from tests.bot.discussions.fakes import MEMBER, OTHER, FakeTransport, make_feature, open_review_thread

WINDOW = 10  # the quick re-check's window in these tests
PAGE = 8  # the background pass's page (not WINDOW: the two reads are told apart by their size)


class FakeClock:
    """A monotonic clock that only moves when someone sleeps on it."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


def small(feature, clock: FakeClock) -> None:
    """Small windows and pages, and the fake clock: a long thread is a few dozen messages."""
    feature.backfill.recheck_window = WINDOW
    feature.older.page_size = PAGE
    feature.older.clock = clock
    feature.older.sleep = clock.sleep


@pytest.fixture
async def env(db: Database, writer: BatchedWriter):
    transport = FakeTransport()
    clock = FakeClock()
    feature = make_feature(db, writer, transport)
    small(feature, clock)
    await feature.load()
    opened = await open_review_thread(db, transport, feature)
    await feature.backfill.catch_up("ready")
    # A long discussion, all stored while Matinee listened.
    posted = [transport.post(opened.thread_id, MEMBER, f"comment {i}") for i in range(45)]
    await feature.comment_service.ingest_many(posted)
    transport.calls.clear()
    env = SimpleNamespace(
        db=db,
        writer=writer,
        transport=transport,
        clock=clock,
        feature=feature,
        posted=posted,
        comments=CommentRepository(db, writer),
        threads=DiscussionThreadRepository(db),
        **vars(opened),
    )
    yield env
    await env.feature.close()


async def restart(env) -> None:
    """Stop, and start a new process over the same database; it connects and catches up (a new session)."""
    await env.feature.close()
    env.feature = make_feature(env.db, env.writer, env.transport)
    small(env.feature, env.clock)
    await env.feature.load()
    await env.feature.backfill.catch_up("ready")


def while_down(env, index: int, **changes) -> None:
    """Change a posted message on Discord while no event reaches Matinee."""
    message = env.posted[index]
    env.transport.messages[env.thread_id][message.message_id] = dataclasses.replace(message, **changes)


async def comment(env, index: int):
    return await env.comments.get(env.posted[index].message_id)


def pages_read(env) -> list[int]:
    """The ``before`` of every history page the background pass asked for (the quick re-check's excluded)."""
    return [before for thread_id, before, limit in env.transport.called("messages_before") if limit == PAGE]


async def test_an_edit_deletion_and_reaction_older_than_the_window_are_mirrored_by_the_background_pass(env) -> None:
    await env.feature.close()
    while_down(env, 2, content="edited while we were down", edited_at="2026-01-02T00:00:00.000Z")
    del env.transport.messages[env.thread_id][env.posted[5].message_id]
    while_down(env, 1, reactions={"🍿": 3})
    while_down(env, 40, content="a recent edit", edited_at="2026-01-02T00:00:00.000Z")
    await restart(env)

    # The quick re-check read the newest WINDOW messages only; the old edit is not mirrored yet.
    assert (await comment(env, 40)).content == "a recent edit"
    assert (await comment(env, 2)).content == "comment 2"
    position = await env.threads.recheck_position(env.thread_id)
    assert (position.before, position.until) == (env.posted[-WINDOW].message_id, None)  # where the window ends

    assert await env.feature.older.drain() == 5  # 35 older messages: 4 pages of 8, and a short one
    assert (await comment(env, 2)).content == "edited while we were down"
    assert (await comment(env, 2)).edited_at == "2026-01-02T00:00:00.000Z"
    assert (await comment(env, 5)).deleted
    assert dict((await comment(env, 1)).reactions) == {"🍿": 3}
    assert (env.feature.older.deleted, env.feature.older.changed) == (1, 2)
    assert await env.threads.recheck_position(env.thread_id) is None  # walked to the thread's start: done
    assert env.feature.older.threads_done == 1
    assert await env.feature.older.drain() == 0  # nothing owed until the next gap


async def test_messages_never_stored_are_stored_unless_their_author_was_forgotten(env) -> None:
    # Comment 3 was written by someone else and never stored (a gap an older Matinee left).
    while_down(env, 3, author_id=OTHER, author_name="other")
    await env.db.execute("DELETE FROM comments WHERE message_id = ?", (env.posted[3].message_id,))
    await member_data_registry(env.db, env.writer).forget(MEMBER, None)  # erases her comments, for good
    assert await env.comments.for_thread(env.thread_id) == []

    await restart(env)
    await env.feature.older.drain()
    stored = [c.message_id for c in await env.comments.for_thread(env.thread_id)]
    assert stored == [env.posted[3].message_id]  # hers predate her forget: they stay out, old or recent
    assert env.feature.older.recovered == 1


async def test_a_restart_resumes_the_walk_where_it_stopped_and_still_reads_everything_after_the_new_gap(env) -> None:
    await restart(env)
    older = env.feature.older
    assert await older.step() and await older.step()  # two pages, then the process stops
    stopped_at = (await env.threads.recheck_position(env.thread_id)).before
    assert stopped_at == env.posted[-WINDOW - 2 * PAGE].message_id

    # Down again: an edit lands on a comment the first walk has already re-read.
    await env.feature.close()
    while_down(env, 30, content="edited during the second downtime", edited_at="2026-01-03T00:00:00.000Z")
    env.transport.calls.clear()
    await restart(env)

    position = await env.threads.recheck_position(env.thread_id)
    assert (position.before, position.until) == (stopped_at, stopped_at)  # resumes; then comes back to here
    await env.feature.older.drain()
    reads = pages_read(env)
    assert reads[0] == stopped_at  # resumed, not started over
    assert (await comment(env, 30)).content == "edited during the second downtime"
    newest = env.posted[-1].message_id
    assert newest + 1 in reads  # after the thread's start, on from its newest message down to where it stopped
    assert await env.threads.recheck_position(env.thread_id) is None


async def test_archived_threads_are_skipped_and_their_walk_kept_for_when_they_reopen(env) -> None:
    await restart(env)
    await env.transport.edit_thread(env.thread_id, archived=True)
    position = await env.threads.recheck_position(env.thread_id)

    assert await env.feature.older.drain() == 0
    assert pages_read(env) == []
    assert await env.threads.recheck_position(env.thread_id) == position

    await env.transport.edit_thread(env.thread_id, archived=False)
    assert await env.feature.older.drain() == 5
    assert await env.threads.recheck_position(env.thread_id) is None


async def test_a_deleted_thread_is_dropped_and_a_refused_one_tried_again_with_back_off(env) -> None:
    await restart(env)
    older = env.feature.older
    env.transport.fail["messages_before"] = TransportError("Missing Access", status=403)
    assert await older.step()  # refused: kept, tried again later
    assert await older.drain() == 0  # not before its back-off
    assert await env.threads.recheck_position(env.thread_id) is not None
    env.clock.now += 30
    del env.transport.fail["messages_before"]
    assert await older.drain() == 5

    await restart(env)
    env.transport.fail["messages_before"] = TransportError("Unknown Channel", status=404)
    assert await env.feature.older.step()
    assert await env.threads.recheck_position(env.thread_id) is None  # gone: nothing to re-check


async def test_pages_are_read_at_the_pace_one_per_interval() -> None:
    clock = FakeClock()
    transport, threads, comments = PagedThreads(clock), OwedThreads(), NoComments()
    older = OlderCommentsRecheck(transport, threads=threads, comments=comments, clock=clock, sleep=clock.sleep)
    threads.owe(1, messages=10_000, transport=transport)  # a thread with 10,000 messages older than the window

    assert older.interval == 1.0 and older.page_size == 100  # the production pace
    assert await older.drain() == 101  # 100 full pages, and an empty one that says "the start"
    assert transport.read_at == [float(i) for i in range(101)]  # one page a second: not faster, never idle
    assert clock.now == 100.0  # 10,000 messages re-checked in 100 s of nothing else needing Discord


async def test_the_pass_waits_while_a_catch_up_runs_and_while_others_use_the_rest_budget() -> None:
    clock = FakeClock()
    budget = TokenBucket(45.0, 4.0, clock=clock)
    catching_up = {"until": 5.0}
    transport, threads, comments = PagedThreads(clock), OwedThreads(), NoComments()
    older = OlderCommentsRecheck(
        transport,
        threads=threads,
        comments=comments,
        busy=lambda: clock.now < catching_up["until"],
        budget=budget,
        clock=clock,
        sleep=clock.sleep,
    )
    threads.owe(1, messages=300, transport=transport)

    assert await older.step()
    assert transport.read_at == [5.0]  # not during the catch-up (0-5 s)
    assert older.yields == 10  # it looked every half second

    # Someone else is using Discord: a fan-out takes tokens as fast as they come, until 8 s.
    async def fan_out() -> None:
        while clock.now < 8.0:
            budget.try_acquire()
            await asyncio.sleep(0)

    traffic = asyncio.create_task(fan_out())
    await asyncio.sleep(0)
    assert await older.step()
    traffic.cancel()
    assert transport.read_at[1] >= 8.0  # only once the budget had been left alone


async def test_the_rest_budget_is_idle_only_when_full_and_nobody_waits() -> None:
    clock = FakeClock()
    budget = TokenBucket(10.0, 2.0, clock=clock)
    assert budget.idle()
    assert budget.try_acquire()
    assert not budget.idle()  # a request took a token a moment ago
    clock.now += 0.1
    assert budget.idle()  # refilled: nobody used it since


async def test_the_busy_flag_is_up_while_a_catch_up_reads(env) -> None:
    seen = []
    original = env.transport.messages_after

    def watching(thread_id, after_id):
        seen.append(env.feature.backfill.busy)
        return original(thread_id, after_id)

    env.transport.messages_after = watching
    assert not env.feature.backfill.busy
    await env.feature.backfill.catch_up("ready")
    assert seen == [True] and not env.feature.backfill.busy


async def test_a_new_gap_while_a_walk_is_under_way_extends_it_and_a_finished_walk_starts_again(env) -> None:
    threads = env.threads
    await threads.owe_recheck(env.thread_id, 500)
    assert (await threads.recheck_position(env.thread_id)).until is None
    moved = await threads.recheck_position(env.thread_id)
    assert await threads.move_recheck(moved, 300, None)
    await threads.owe_recheck(env.thread_id, 600)  # a gap: the walk goes on from 300, and comes back to 300
    position = await threads.recheck_position(env.thread_id)
    assert (position.before, position.until, position.wrapped) == (300, 300, False)
    assert not await threads.move_recheck(moved, 200, None)  # a stale position does not overwrite a newer one
    await threads.clear_recheck(env.thread_id)
    await threads.owe_recheck(env.thread_id, 700)
    position = await threads.recheck_position(env.thread_id)
    assert (position.before, position.until) == (700, None)


# -- small stand-ins for the pace tests: one thread of numbered messages, nothing stored -------------


class PagedThreads(FakeTransport):
    """A thread whose messages are numbered 1, 2, ...; records when each page was read."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__()
        self.clock = clock
        self.read_at: list[float] = []

    async def messages_before(self, thread_id: int, before_id: int, limit: int):
        self.read_at.append(self.clock())
        ids = range(max(before_id - limit, 1), before_id)
        return [dataclasses.replace(self.sample, message_id=i) for i in reversed(ids)]


class OwedThreads:
    """The part of DiscussionThreadRepository the pass uses, in memory."""

    def __init__(self) -> None:
        self.positions: dict[int, RecheckPosition] = {}

    def owe(self, thread_id: int, *, messages: int, transport: PagedThreads) -> None:
        """``messages`` messages (ids 1 to ``messages``) are owed a re-check."""
        self.positions[thread_id] = RecheckPosition(thread_id, messages + 1)
        transport.add_thread(thread_id)
        transport.sample = transport.post(thread_id)

    async def rechecks_owed(self):
        return list(self.positions.values())

    async def move_recheck(self, at, before, until) -> bool:
        if before is None:
            del self.positions[at.thread_id]
        else:
            self.positions[at.thread_id] = RecheckPosition(at.thread_id, before, until)
        return True

    async def newest_known(self, thread_id: int) -> int:
        return 0


class NoComments:
    async def reconcile(self, thread_id, seen, *, oldest_id, newest_id):
        return 0, 0

    async def store_unseen(self, seen) -> int:
        return 0
