"""Comment resolution (what counts as a comment), deleted accounts, poll votes, backfill planning."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from bot.discussions.service import (
    CommentService,
    DiscussionIndex,
    IncomingMessage,
    PollService,
    is_deleted_account,
)
from bot.privacy import PrivacyRegistry
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
from bot.storage.forgotten import ForgottenRepository

GUILD, CHANNEL, THREAD, ANNOUNCEMENT = 1, 10, 20, 20


@pytest.fixture
async def env(db: Database, writer: BatchedWriter):
    film = await FilmRepository(db).add(title="F")
    review, _ = await ReviewRepository(db).upsert(
        source="s", source_key="k", slug="s", title="T", film_id=film.id, content_hash="1"
    )
    announcements = AnnouncementRepository(db)
    await announcements.record_sent(review.id, GUILD, CHANNEL, ANNOUNCEMENT, thread_id=THREAD)
    index = DiscussionIndex(announcements)
    await index.load()
    comments = CommentRepository(db, writer)
    return SimpleNamespace(
        db=db,
        writer=writer,
        review=review,
        film=film,
        index=index,
        service=CommentService(index, comments, ForgottenRepository(db)),
        comments=comments,
    )


def msg(mid: int, channel: int = THREAD, **kw) -> IncomingMessage:
    fields = dict(
        message_id=mid,
        guild_id=GUILD,
        channel_id=channel,
        author_id=7,
        author_name="Mo",
        author_username="mo",
        content="hi",
        created_at="2026-01-01T00:00:00.000Z",
        in_thread=channel == THREAD,
    )
    fields.update(kw)
    return IncomingMessage(**fields)


async def test_what_is_and_is_not_a_comment(env) -> None:
    review, service, comments = env.review, env.service, env.comments
    assert await service.ingest(msg(100))
    assert await service.ingest(msg(101, channel=CHANNEL, reference_message_id=ANNOUNCEMENT))
    assert not await service.ingest(msg(102, author_is_bot=True))
    assert not await service.ingest(msg(103, is_system=True))
    assert not await service.ingest(msg(104, channel=CHANNEL))
    assert not await service.ingest(msg(105, channel=999, in_thread=True))  # a thread of no review
    assert not await service.ingest(msg(106, channel=CHANNEL, reference_message_id=5555))
    assert not await service.ingest(msg(107, guild_id=None))
    stored = await comments.for_review(review.id)
    assert [c.message_id for c in stored] == [100, 101]
    assert stored[1].reply_to_id is None and stored[1].thread_id == THREAD


async def test_deleted_accounts_are_anonymised(env) -> None:
    review, service, comments = env.review, env.service, env.comments
    await service.ingest(msg(200, author_id=55, author_name="Old Name", author_username="old"))
    await service.ingest(msg(201, author_id=55, author_name="Deleted User", author_username="deleted_user_ab12"))
    rows = [(c.author_id, c.author_name) for c in await comments.for_review(review.id)]
    assert rows == [(0, "Deleted User"), (0, "Deleted User")]
    assert is_deleted_account("x", "Deleted_User_1f") and not is_deleted_account("Deleted", "deleted")


async def test_negative_cache_expires_for_threads_recorded_later(env, monkeypatch) -> None:
    db, review, index = env.db, env.review, env.index
    assert await index.thread(777) is None
    await AnnouncementRepository(db).set_thread(review.id, GUILD, 777)
    assert await index.thread(777) is None  # still cached as "no review"
    monkeypatch.setattr("bot.discussions.service.NEGATIVE_TTL", 0.0)
    index._negative.clear()
    assert (await index.thread(777)).review_id == review.id


async def test_poll_votes_replace_each_other_and_mirror_ratings(env) -> None:
    db, writer, review, film = env.db, env.writer, env.review, env.film
    polls = PollRepository(db, writer)
    ratings = RatingRepository(db)
    await polls.record_poll(900, review.id, GUILD, THREAD, None)
    votes = PollService(polls, ReviewRepository(db), ratings, ForgottenRepository(db))
    assert not await votes.vote(901, 7, 3, added=True)  # not our poll
    assert await votes.vote(900, 7, 3, added=True)
    assert await ratings.get_rating(GUILD, 7, film.id) == 3.0
    await votes.vote(900, 7, 5, added=True)  # single choice: the new vote replaces the old
    assert await polls.user_answers(900, 7) == [5]
    assert await ratings.get_rating(GUILD, 7, film.id) == 5.0
    await ratings.set_rating(GUILD, 7, film.id, 1.0, source="rate")
    await votes.vote(900, 7, 5, added=False)
    assert await ratings.get_rating(GUILD, 7, film.id) == 1.0  # /rate wins and isn't cleared by the poll
    assert not await votes.vote(900, 7, 9, added=True)
    assert await votes.finalize(900, {5: 0})
    assert (await polls.get_poll(900)).finalized


async def test_the_cursor_follows_live_messages_only_while_no_backfill_is_owed(env) -> None:
    db, service = env.db, env.service
    threads = DiscussionThreadRepository(db)
    await service.ingest(msg(300))
    await service.ingest(msg(400))
    assert await threads.last_message_id(THREAD) == 400  # nothing owed: live messages are read in order
    await threads.open_gap()  # e.g. the connection dropped: 401..499 may never reach us
    await service.ingest(msg(500))
    assert await threads.last_message_id(THREAD) == 400  # the backfill still starts before the gap
    assert await threads.owing() == [THREAD]
    assert await threads.newest_known(THREAD) == 500
    assert await threads.last_message_id(555) is None  # never read: a backfill starts at the thread's creation


async def test_reconcile_applies_only_the_differences(env) -> None:
    db, writer, review, film = env.db, env.writer, env.review, env.film
    polls = PollRepository(db, writer)
    ratings = RatingRepository(db)
    await polls.record_poll(910, review.id, GUILD, THREAD, None)
    votes = PollService(polls, ReviewRepository(db), ratings, ForgottenRepository(db))
    await votes.vote(910, 1, 2, added=True)
    await votes.vote(910, 2, 3, added=True)
    assert await votes.reconcile(910, {2: 3, 3: 4, 1: 5}) == 3  # 1: 2→5 (remove + add), 3: new
    assert await polls.votes(910) == {1: {5}, 2: {3}, 3: {4}}
    assert await ratings.get_rating(GUILD, 1, film.id) == 5.0
    assert await votes.reconcile(910, {2: 3}) == 2
    assert await polls.votes(910) == {2: {3}}
    assert await ratings.get_rating(GUILD, 3, film.id) is None
    assert await votes.reconcile(910, {2: 3}) == 0


async def test_reconcile_mirrors_offline_edits_and_deletions_but_never_resurrects_erased(env) -> None:
    service, comments = env.service, env.comments
    for mid in (200, 201, 202, 203):
        assert await service.ingest(msg(mid, content=f"comment {mid}"))
    assert await service.ingest(msg(204, author_id=8, content="to be forgotten"))
    # /forget-me: the mark, then the row is gone for good
    await PrivacyRegistry([comments], forgotten=ForgottenRepository(env.db)).forget(8, GUILD)

    history = [
        msg(200, content="comment 200"),  # unchanged
        msg(201, content="edited offline", edited_at="2026-01-02T00:00:00.000Z"),
        # 202 was deleted while we were away
        msg(203, content="comment 203", reactions={"🔥": 2}),
        msg(204, author_id=8, content="to be forgotten"),  # still on Discord, erased here
    ]
    deleted, refreshed = await service.reconcile(THREAD, history, oldest_id=0, newest_id=204)

    assert (deleted, refreshed) == (1, 2)
    live = {c.message_id: c for c in await comments.for_thread(THREAD)}
    assert sorted(live) == [200, 201, 203]
    assert live[201].content == "edited offline" and live[201].edited_at == "2026-01-02T00:00:00.000Z"
    assert dict(live[203].reactions) == {"🔥": 2}
    assert await comments.get(204) is None


async def test_reconcile_leaves_comments_outside_the_window_alone(env) -> None:
    service, comments = env.service, env.comments
    for mid in (300, 301, 302):
        assert await service.ingest(msg(mid))
    # Only 301..302 were re-read: 300 is older than the window and must not be called deleted.
    deleted, _ = await service.reconcile(THREAD, [msg(301), msg(302)], oldest_id=301, newest_id=302)
    assert deleted == 0
    assert [c.message_id for c in await comments.for_thread(THREAD)] == [300, 301, 302]
