"""Backfill and reconcile after downtime, through a fake Discord."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from bot.discussions.backfill import (
    BACKFILL_PAGE,
    RECONCILE_WINDOW,
    RETRY_BATCH,
    RETRY_FIRST_DELAY,
    RETRY_MAX_DELAY,
    retry_delay,
)
from bot.discussions.transport import TransportError
from bot.storage import (
    BatchedWriter,
    CommentRepository,
    Database,
    DiscussionThreadRepository,
    FilmRepository,
    PollRepository,
    RatingRepository,
)
from tests.bot.discussions.fakes import GUILD, MEMBER, OTHER, FakeTransport, make_feature, open_review_thread


@pytest.fixture
async def env(db: Database, writer: BatchedWriter):
    transport = FakeTransport()
    feature = make_feature(db, writer, transport)
    await feature.load()
    film = await FilmRepository(db).add(title="Heat")
    opened = await open_review_thread(db, transport, feature, film_id=film.id)
    await feature.backfill.catch_up("ready")  # connected: the start-up pass has used the cursors taken at load
    transport.calls.clear()
    yield SimpleNamespace(
        db=db,
        writer=writer,
        transport=transport,
        feature=feature,
        backfill=feature.backfill,
        comments=CommentRepository(db, writer),
        polls=PollRepository(db, writer),
        film=film,
        **vars(opened),
    )
    await feature.close()


async def stored_ids(env, thread_id: int | None = None) -> list[int]:
    return [c.message_id for c in await env.comments.for_thread(thread_id or env.thread_id)]


async def restart(env) -> object:
    """A new process over the same database: a fresh feature that remembers the cursors before connecting."""
    feature = make_feature(env.db, env.writer, env.transport)
    await feature.load()
    return feature


async def test_messages_posted_while_down_are_stored_from_the_cursor_in_pages(env) -> None:
    live = env.transport.post(env.thread_id, content="said while listening")
    assert await env.feature.comment_service.ingest(live)
    await env.feature.close()

    missed = [env.transport.post(env.thread_id, content=f"missed {i}") for i in range(BACKFILL_PAGE + 50)]
    env.transport.post(env.thread_id, OTHER, "a bot line", author_is_bot=True)
    feature = await restart(env)
    stored = await feature.backfill.catch_up("ready")

    assert stored == len(missed) == feature.backfill.backfilled_messages
    assert await stored_ids(env) == [live.message_id, *(m.message_id for m in missed)]
    assert env.transport.called("messages_after") == [(env.thread_id, live.message_id)]  # from the cursor
    assert feature.backfill.catch_ups_done == 1
    await feature.close()


async def test_live_messages_after_reconnecting_do_not_hide_the_gap(env) -> None:
    before = env.transport.post(env.thread_id, content="before the outage")
    await env.feature.comment_service.ingest(before)
    await env.backfill.gap_opened()  # the connection drops
    lost = env.transport.post(env.thread_id, content="never delivered")
    newer = env.transport.post(env.thread_id, content="live, right after reconnecting")
    await env.feature.comment_service.ingest(newer)  # moves the stored cursor past the lost message

    assert await env.backfill.catch_up("resumed") == 2  # the lost one, and the live one again (an upsert)
    assert await stored_ids(env) == [before.message_id, lost.message_id, newer.message_id]
    assert env.transport.called("messages_after") == [(env.thread_id, before.message_id)]


async def test_a_fresh_session_reconciles_edits_deletions_and_reactions_a_resume_does_not(env) -> None:
    keep = env.transport.post(env.thread_id, content="keep me")
    gone = env.transport.post(env.thread_id, content="delete me")
    edit = env.transport.post(env.thread_id, content="first draft")
    await env.feature.comment_service.ingest_many([keep, gone, edit])

    # While no events reached us:
    del env.transport.messages[env.thread_id][gone.message_id]
    env.transport.post(env.thread_id, content="final words", message_id=edit.message_id,
                       edited_at="2026-01-02T00:00:00.000Z")  # fmt: skip
    env.transport.post(env.thread_id, content="keep me", message_id=keep.message_id, reactions={"🔥": 2})

    await env.backfill.catch_up("resumed")  # Discord replays missed events itself: nothing re-read
    assert env.transport.called("messages_before") == []
    assert await stored_ids(env) == [keep.message_id, gone.message_id, edit.message_id]

    await env.backfill.catch_up("ready")
    assert env.transport.called("messages_before") == [(env.thread_id, edit.message_id + 1, RECONCILE_WINDOW)]
    live = {c.message_id: c for c in await env.comments.for_thread(env.thread_id)}
    assert sorted(live) == [keep.message_id, edit.message_id]
    assert live[edit.message_id].content == "final words"
    assert dict(live[keep.message_id].reactions) == {"🔥": 2}


async def test_a_full_reconcile_window_never_calls_older_comments_deleted(env) -> None:
    old = env.transport.post(env.thread_id, content="older than the window")
    recent = [env.transport.post(env.thread_id, content=f"recent {i}") for i in range(RECONCILE_WINDOW)]
    await env.feature.comment_service.ingest_many([old, *recent])
    assert await env.backfill.reconcile_recent_comments(env.thread_id) == (0, 0)
    del env.transport.messages[env.thread_id][recent[0].message_id]  # deleted inside the window
    assert await env.backfill.reconcile_recent_comments(env.thread_id) == (1, 0)
    assert old.message_id in await stored_ids(env)


async def test_votes_cast_and_retracted_while_down_are_caught_up_with_ratings(env) -> None:
    ratings = RatingRepository(env.db)
    await env.feature.poll_service.vote(env.opening_id, OTHER, 2, added=True)
    env.transport.polls[env.opening_id].voters = {MEMBER: 5}  # OTHER retracted, MEMBER voted, both offline

    assert await env.backfill.reconcile_poll_votes(env.thread_id) == 2
    assert await env.polls.votes(env.opening_id) == {MEMBER: {5}}
    assert await ratings.get_rating(GUILD, MEMBER, env.film.id) == 5.0
    assert await ratings.get_rating(GUILD, OTHER, env.film.id) is None
    assert await env.backfill.reconcile_poll_votes(env.thread_id) == 0  # nothing left to catch up


async def test_a_poll_that_ended_while_down_gets_its_final_counts_once(env) -> None:
    await env.feature.poll_service.vote(env.opening_id, MEMBER, 3, added=True)
    env.transport.polls[env.opening_id].voters = {MEMBER: 3}
    assert await env.backfill.collect_ended_polls() == 0  # not expired yet
    env.transport.polls[env.opening_id].ended = True
    await env.db.execute("UPDATE discussion_polls SET expires_at = '2000-01-01T00:00:00.000Z'")

    assert await env.backfill.reconcile_poll_votes(env.thread_id) == 0  # an ended poll's voters are not read
    assert await env.backfill.collect_ended_polls() == 1
    assert await env.polls.results(env.opening_id) == {1: 0, 2: 0, 3: 1, 4: 0, 5: 0}
    assert (await env.polls.get_poll(env.opening_id)).finalized
    assert await env.backfill.collect_ended_polls() == 0


async def test_one_unreadable_thread_does_not_stop_the_others(env) -> None:
    second = await open_review_thread(env.db, env.transport, env.feature, slug="ronin")
    await env.backfill.gap_opened()
    env.transport.post(env.thread_id, content="unreachable")
    missed = [env.transport.post(second.thread_id, content=f"missed {i}") for i in range(3)]
    blocked, read = env.thread_id, second.thread_id

    original = env.transport.messages_after

    def forbidden_for_one(thread_id, after_id):
        if thread_id == blocked:
            raise TransportError("Missing Access", status=403)
        return original(thread_id, after_id)

    env.transport.messages_after = forbidden_for_one
    assert await env.backfill.catch_up("ready") == 3
    assert await stored_ids(env, read) == [m.message_id for m in missed]
    assert await stored_ids(env, blocked) == []


async def test_archived_threads_are_skipped_and_read_when_unarchived(env) -> None:
    await env.transport.edit_thread(env.thread_id, archived=True)
    quiet = env.transport.post(env.thread_id, content="posted while archived")
    assert await env.backfill.catch_up("ready") == 0

    await env.transport.edit_thread(env.thread_id, archived=False)
    assert not await env.backfill.thread_unarchived(424242)  # a thread of no review
    assert await env.backfill.thread_unarchived(env.thread_id)
    for _ in range(100):
        if await stored_ids(env):
            break
        await asyncio.sleep(0.01)
    assert await stored_ids(env) == [quiet.message_id]


# -- gaps the backfill could not read -------------------------------------------------------------

REFUSED = TransportError("Discord error 403: Missing Access", status=403)


def refuse_history(env, *methods: str) -> None:
    for method in methods or ("messages_after", "messages_before"):
        env.transport.fail[method] = REFUSED


async def test_a_refused_backfill_leaves_the_thread_owing_and_live_messages_do_not_hide_the_gap(env) -> None:
    env.backfill.retry_in_background = False
    now = [0.0]
    env.backfill.clock = lambda: now[0]
    threads = DiscussionThreadRepository(env.db)
    first = env.transport.post(env.thread_id, content="before the restart")
    await env.feature.comment_service.ingest(first)

    await env.backfill.gap_opened()  # a restart: we were not listening
    gap = [env.transport.post(env.thread_id, content=f"while down {i}") for i in range(3)]
    refuse_history(env)
    assert await env.backfill.catch_up("ready") == 0
    assert await threads.owing() == [env.thread_id] and env.backfill.failing == [env.thread_id]

    live = env.transport.post(env.thread_id, content="live, after the refusal")
    assert await env.feature.comment_service.ingest(live)
    assert await threads.last_message_id(env.thread_id) == first.message_id  # not past the unread gap

    env.transport.fail.clear()  # Discord answers again
    assert await env.backfill.retry_owed() == 0  # not before its back-off
    now[0] = RETRY_FIRST_DELAY
    assert await env.backfill.retry_owed() == 1
    assert await stored_ids(env) == [first.message_id, *(m.message_id for m in gap), live.message_id]
    assert await threads.owing() == [] and env.backfill.failing == []
    assert await threads.last_message_id(env.thread_id) == live.message_id
    assert env.transport.called("messages_before")  # the failed pass was a new session's: re-checked too


async def test_failed_backfills_are_retried_with_back_off_a_few_at_a_time(env) -> None:
    env.backfill.retry_in_background = False
    now = [0.0]
    env.backfill.clock = lambda: now[0]
    for slug in ("a", "b", "c", "d", "e", "f"):
        await open_review_thread(env.db, env.transport, env.feature, slug=slug)
    await env.backfill.gap_opened()
    refuse_history(env, "messages_after")
    await env.backfill.catch_up("resumed")
    assert len(env.backfill.failing) == 7

    assert await env.backfill.retry_owed() == 0
    now[0] = RETRY_FIRST_DELAY
    assert await env.backfill.retry_owed() == RETRY_BATCH  # a bounded round...
    assert await env.backfill.retry_owed() == 7 - RETRY_BATCH  # ...the rest on the next one
    assert await env.backfill.retry_owed() == 0  # each failed again: their back-off doubled
    now[0] = RETRY_FIRST_DELAY + retry_delay(2) - 1
    assert await env.backfill.retry_owed() == 0
    now[0] += 1
    assert await env.backfill.retry_owed() == RETRY_BATCH
    assert env.backfill.retries_done == 7 + RETRY_BATCH
    assert [retry_delay(n) for n in (1, 2, 3)] == [RETRY_FIRST_DELAY, 2 * RETRY_FIRST_DELAY, 4 * RETRY_FIRST_DELAY]
    assert retry_delay(50) == RETRY_MAX_DELAY

    await env.transport.edit_thread(env.thread_id, archived=True)  # no longer open: unarchiving will read it
    now[0] += RETRY_MAX_DELAY
    env.transport.fail.clear()
    while await env.backfill.retry_owed():
        pass
    assert env.backfill.failing == []
    assert await DiscussionThreadRepository(env.db).owing() == [env.thread_id]


async def test_failed_backfills_are_retried_in_the_background(env) -> None:
    env.backfill.retry_first_delay = env.backfill.retry_max_delay = 0.01
    await env.backfill.gap_opened()
    missed = env.transport.post(env.thread_id, content="missed")
    refuse_history(env, "messages_after")
    await env.backfill.catch_up("resumed")
    await asyncio.wait_for(_until(lambda: env.backfill.retries_done >= 2), 10)  # it keeps trying
    env.transport.fail.clear()
    await asyncio.wait_for(_until(lambda: not env.backfill.failing), 10)
    assert await stored_ids(env) == [missed.message_id]


async def _until(predicate) -> None:
    while not predicate():
        await asyncio.sleep(0.01)


async def test_a_backfill_does_not_settle_a_gap_that_opened_while_it_read(env) -> None:
    threads = DiscussionThreadRepository(env.db)
    await threads.open_gap()
    owed = await threads.owed(env.thread_id)  # what a backfill reads as it starts
    await threads.open_gap(GUILD)  # the connection drops meanwhile
    assert not await threads.settle(env.thread_id, owed)
    assert await threads.owing() == [env.thread_id]
    assert await threads.settle(env.thread_id, await threads.owed(env.thread_id))
    assert await threads.owing() == []


async def test_a_server_that_comes_back_is_caught_up_alone(env) -> None:
    elsewhere = await open_review_thread(env.db, env.transport, env.feature, slug="ronin", guild_id=2)
    await env.backfill.gap_opened(2)  # removed from server 2 (or it went unavailable)
    assert await DiscussionThreadRepository(env.db).owing() == [elsewhere.thread_id]
    missed = env.transport.post(elsewhere.thread_id, content="said while we were out of the server")
    env.transport.post(env.thread_id, content="server 1 was never left")
    env.transport.polls[elsewhere.opening_id].voters = {MEMBER: 4}
    env.transport.calls.clear()

    assert await env.backfill.catch_up_guild(2) == 1
    assert [args[0] for args in env.transport.called("messages_after")] == [elsewhere.thread_id]
    assert await stored_ids(env, elsewhere.thread_id) == [missed.message_id]
    assert await env.polls.votes(elsewhere.opening_id) == {MEMBER: {4}}  # a full catch-up: votes too
    assert await DiscussionThreadRepository(env.db).owing() == []
    assert env.backfill.guild_catch_ups_done == 1


async def test_the_recheck_stores_messages_that_were_never_stored(env) -> None:
    first = env.transport.post(env.thread_id, content="stored")
    await env.feature.comment_service.ingest(first)
    never = [env.transport.post(env.thread_id, content=f"never stored {i}") for i in range(2)]
    later = env.transport.post(env.thread_id, content="stored live, past them")
    await env.feature.comment_service.ingest(later)  # e.g. an older Matinee moved its cursor past the gap
    env.transport.post(env.thread_id, OTHER, "a bot line", author_is_bot=True)

    assert await env.backfill.reconcile_recent_comments(env.thread_id) == (0, 0)
    assert env.backfill.recovered_messages == 2
    assert await stored_ids(env) == [first.message_id, *(m.message_id for m in never), later.message_id]
    assert await env.backfill.reconcile_recent_comments(env.thread_id) == (0, 0)
    assert env.backfill.recovered_messages == 2
