"""Backfill and reconcile after downtime, through a fake Discord."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from bot.discussions.backfill import BACKFILL_PAGE, RECONCILE_WINDOW
from bot.discussions.transport import TransportError
from bot.storage import (
    AnnouncementRepository,
    BatchedWriter,
    CommentRepository,
    Database,
    DiscussionThreadRepository,
    FilmRepository,
    PollRepository,
    RatingRepository,
    ReviewRepository,
)
from tests.bot.discussions.fakes import GUILD, MEMBER, OTHER, TEXT_CHANNEL, FakeTransport, make_feature


async def open_review_thread(db, transport, feature, slug: str = "heat", film_id: int | None = None) -> SimpleNamespace:
    review, _ = await ReviewRepository(db).upsert(
        source="s", source_key=slug, slug=slug, title=slug, film_id=film_id, content_hash="1"
    )
    message_id = await transport.send_review_card(TEXT_CHANNEL, review)
    announcement = await AnnouncementRepository(db).record_sent(review.id, GUILD, TEXT_CHANNEL, message_id)
    thread = await feature.opening.open(review, announcement)
    opening_id = (await DiscussionThreadRepository(db).get(thread.id)).opening_message_id
    return SimpleNamespace(review=review, thread_id=thread.id, opening_id=opening_id)


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
