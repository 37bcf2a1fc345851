"""Forgotten means forgotten: re-reading Discord never brings back what a member had before forgetting.

Through the fake Discord: poll reconciliation, backfill, the re-check, live events
racing a forget, and a forget cut short. What the member does afterwards is stored.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from bot.privacy import member_data_registry
from bot.storage import (
    BatchedWriter,
    CommentRepository,
    Database,
    DiscussionThreadRepository,
    FilmRepository,
    PollRepository,
    RatingRepository,
)
from bot.storage.forgotten import IN_PROGRESS, ForgottenRepository, snowflake_at
from tests.bot.discussions.fakes import GUILD, MEMBER, OTHER, FakeTransport, make_feature, open_review_thread

ELSEWHERE = 2  # another server


@pytest.fixture
async def env(db: Database, writer: BatchedWriter):
    transport = FakeTransport()
    feature = make_feature(db, writer, transport)
    await feature.load()
    film = await FilmRepository(db).add(title="Heat")
    opened = await open_review_thread(db, transport, feature, film_id=film.id)
    await feature.backfill.catch_up("ready")
    transport.calls.clear()
    yield SimpleNamespace(
        db=db,
        transport=transport,
        feature=feature,
        backfill=feature.backfill,
        votes=feature.poll_service,
        registry=member_data_registry(db, writer),
        forgotten=ForgottenRepository(db),
        comments=CommentRepository(db, writer),
        polls=PollRepository(db, writer),
        ratings=RatingRepository(db),
        film=film,
        **vars(opened),
    )
    await feature.close()


async def stored(env, thread_id: int | None = None) -> list[tuple[int, int]]:
    """(message id, author) of the thread's stored comments."""
    return [(c.message_id, c.author_id) for c in await env.comments.for_thread(thread_id or env.thread_id)]


def after_now(transport: FakeTransport) -> None:
    """What the fake Discord creates from here on is dated now: after any forget that already completed."""
    transport.ids_from(snowflake_at())


async def test_a_forgotten_voter_still_listed_by_discord_is_not_added_back(env) -> None:
    await env.votes.vote(env.opening_id, MEMBER, 2, added=True)
    await env.votes.vote(env.opening_id, OTHER, 4, added=True)
    env.transport.polls[env.opening_id].voters = {MEMBER: 2, OTHER: 4}  # Discord keeps listing both

    report = await env.registry.forget(MEMBER, GUILD)
    assert report.count("poll votes") == 1 and report.count("film ratings") == 1

    assert await env.backfill.reconcile_poll_votes(env.thread_id) == 0  # a new session: nothing to catch up
    assert await env.polls.votes(env.opening_id) == {OTHER: {4}}
    assert await env.ratings.get_rating(GUILD, MEMBER, env.film.id) is None
    assert await env.ratings.get_rating(GUILD, OTHER, env.film.id) == 4.0

    # A vote she makes after forgetting arrives as a live event: stored, with its rating.
    assert await env.votes.vote(env.opening_id, MEMBER, 5, added=True)
    env.transport.polls[env.opening_id].voters = {MEMBER: 5, OTHER: 4}
    assert await env.polls.votes(env.opening_id) == {MEMBER: {5}, OTHER: {4}}
    assert await env.ratings.get_rating(GUILD, MEMBER, env.film.id) == 5.0
    assert await env.backfill.reconcile_poll_votes(env.thread_id) == 0  # listed and stored: in line
    assert await env.polls.votes(env.opening_id) == {MEMBER: {5}, OTHER: {4}}


async def test_votes_in_a_poll_posted_after_the_forget_are_caught_up(env) -> None:
    await env.registry.forget(MEMBER, GUILD)
    after_now(env.transport)
    film = await FilmRepository(env.db).add(title="Ronin")
    later = await open_review_thread(env.db, env.transport, env.feature, slug="ronin", film_id=film.id)
    assert not (await env.forgotten.marks(GUILD)).predates(MEMBER, later.opening_id)  # posted after the mark
    env.transport.polls[later.opening_id].voters = {MEMBER: 3}  # cast while Matinee was not listening

    assert await env.backfill.reconcile_poll_votes(later.thread_id) == 1
    assert await env.polls.votes(later.opening_id) == {MEMBER: {3}}
    assert await env.ratings.get_rating(GUILD, MEMBER, film.id) == 3.0


async def test_a_forget_in_one_server_leaves_the_others_and_everywhere_covers_all(env) -> None:
    await env.registry.forget(MEMBER, GUILD)
    snowflake = (await env.forgotten.marks(GUILD)).before[MEMBER] - 1
    assert await env.forgotten.predates_forget(MEMBER, GUILD, snowflake)
    assert not await env.forgotten.predates_forget(MEMBER, ELSEWHERE, snowflake)
    assert not await env.forgotten.predates_forget(OTHER, GUILD, snowflake)

    await env.registry.forget(MEMBER, None)
    mark = (await env.forgotten.marks(ELSEWHERE)).before[MEMBER]
    assert await env.forgotten.predates_forget(MEMBER, ELSEWHERE, mark - 1)
    assert not await env.forgotten.predates_forget(MEMBER, ELSEWHERE, mark)  # from the mark on: "after"
    assert (await env.forgotten.marks(GUILD)).before[MEMBER] == mark  # the later of the two marks


async def test_backfill_and_the_recheck_leave_out_earlier_messages_and_store_later_ones(env) -> None:
    before = env.transport.post(env.thread_id, MEMBER, "before forgetting")
    other = env.transport.post(env.thread_id, OTHER, "someone else")
    await env.feature.comment_service.ingest_many([before, other])
    await env.registry.forget(MEMBER, GUILD)
    assert await stored(env) == [(other.message_id, OTHER)]

    after_now(env.transport)
    later = env.transport.post(env.thread_id, MEMBER, "after forgetting, while Matinee was down")
    # Read the whole thread again, from its start (say, a cursor an older Matinee never moved).
    await env.db.execute("UPDATE discussion_threads SET last_message_id = 0")
    await env.backfill.gap_opened()
    assert await env.backfill.catch_up("ready") == 2  # the other member's (again) and her later one
    assert await stored(env) == [(other.message_id, OTHER), (later.message_id, MEMBER)]

    # The re-check reads the same window and finds her earlier message "never stored": it stays out.
    assert env.transport.called("messages_before")
    assert env.backfill.recovered_messages == 0
    assert await env.comments.get(before.message_id) is None


async def test_a_message_written_before_the_forget_is_refused_even_when_it_arrives_live(env) -> None:
    in_flight = env.transport.post(env.thread_id, MEMBER, "sent just before confirming")
    await env.registry.forget(MEMBER, GUILD)
    await env.feature.comment_service.ingest(in_flight)  # its event arrives after the erase
    assert await stored(env) == []

    after_now(env.transport)
    later = env.transport.post(env.thread_id, MEMBER, "and this one after")
    assert await env.feature.comment_service.ingest(later)
    assert await stored(env) == [(later.message_id, MEMBER)]


async def test_while_a_forget_runs_nothing_of_the_member_is_stored(env) -> None:
    await env.forgotten.begin(MEMBER, GUILD)  # the erasers are running
    after_now(env.transport)
    await env.feature.comment_service.ingest(env.transport.post(env.thread_id, MEMBER, "during"))
    await env.votes.vote(env.opening_id, MEMBER, 4, added=True)
    await env.votes.vote(env.opening_id, OTHER, 4, added=True)
    assert await stored(env) == []
    assert await env.polls.votes(env.opening_id) == {OTHER: {4}}
    assert await env.ratings.get_rating(GUILD, MEMBER, env.film.id) is None

    await env.forgotten.complete(MEMBER, GUILD)
    await env.votes.vote(env.opening_id, MEMBER, 4, added=True)
    assert await env.polls.votes(env.opening_id) == {MEMBER: {4}, OTHER: {4}}
    assert await env.ratings.get_rating(GUILD, MEMBER, env.film.id) == 4.0


async def test_a_vote_racing_a_forget_never_leaves_a_vote_or_a_rating_behind(env) -> None:
    """The vote event was received before the forget completed: however they interleave, nothing remains.

    Before the fix the rating was written from answers read earlier, outside the
    writer, so an erase landing in between left a rating without its vote. The forget
    starts a growing number of event-loop turns after the vote, to walk through
    the interleavings.
    """

    async def after_turns(turns: int, coro):
        for _ in range(turns):
            await asyncio.sleep(0)
        return await coro

    for turns in range(60):
        user_id = 100 + turns
        await env.votes.vote(env.opening_id, user_id, 3, added=True)  # an earlier vote, changed now:
        await asyncio.gather(
            env.votes.vote(env.opening_id, user_id, 1 + turns % 5, added=True),
            after_turns(turns, env.registry.forget(user_id, GUILD)),
        )
        assert await env.polls.user_answers(env.opening_id, user_id) == [], turns
        assert await env.ratings.get_rating(GUILD, user_id, env.film.id) is None, turns


async def test_a_poll_rating_is_derived_from_the_stored_vote_in_the_write_itself(env) -> None:
    """What closes the race: no stored vote, no poll rating, whatever the caller read before."""
    film_id, poll = env.film.id, env.opening_id
    await env.ratings.mirror_poll_vote(GUILD, MEMBER, film_id, poll)  # the vote was erased meanwhile
    assert await env.ratings.get_rating(GUILD, MEMBER, film_id) is None
    await env.polls.add_vote(poll, env.review.id, GUILD, MEMBER, 4)
    await env.ratings.mirror_poll_vote(GUILD, MEMBER, film_id, poll)
    assert await env.ratings.get_rating(GUILD, MEMBER, film_id) == 4.0
    await env.polls.remove_vote(poll, MEMBER, 4)
    await env.ratings.mirror_poll_vote(GUILD, MEMBER, film_id, poll)
    assert await env.ratings.get_rating(GUILD, MEMBER, film_id) is None
    await env.ratings.set_rating(GUILD, MEMBER, film_id, 1.5, source="rate")
    await env.polls.add_vote(poll, env.review.id, GUILD, MEMBER, 5)
    await env.ratings.mirror_poll_vote(GUILD, MEMBER, film_id, poll)
    assert await env.ratings.get_rating(GUILD, MEMBER, film_id) == 1.5  # an explicit /rate wins


async def test_a_forget_cut_short_refuses_the_member_until_it_is_finished(env) -> None:
    before = env.transport.post(env.thread_id, MEMBER, "kept by accident?")
    await env.feature.comment_service.ingest(before)
    await env.forgotten.begin(MEMBER, GUILD)  # ... and the process was killed here
    assert await env.forgotten.interrupted() == [(MEMBER, GUILD)]
    assert (await env.forgotten.marks(GUILD)).before[MEMBER] == IN_PROGRESS

    reports = await env.registry.finish_interrupted()  # the next start
    assert [(r.user_id, r.guild_id, r.count("comments")) for r in reports] == [(MEMBER, GUILD, 1)]
    assert await env.forgotten.interrupted() == []
    assert await stored(env) == []
    assert await env.registry.finish_interrupted() == []


async def test_the_cursor_of_an_owed_thread_survives_a_forget(env) -> None:
    """Erasing comments never moves a cursor back: the backfill does not read them again."""
    posted = env.transport.post(env.thread_id, MEMBER, "mine")
    await env.feature.comment_service.ingest(posted)
    threads = DiscussionThreadRepository(env.db)
    assert await threads.last_message_id(env.thread_id) == posted.message_id
    await env.registry.forget(MEMBER, GUILD)
    assert await threads.last_message_id(env.thread_id) == posted.message_id
