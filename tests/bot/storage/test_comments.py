"""Comment, thread-cursor and poll repositories (migration 0003)."""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3

from bot.models import Comment
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


async def make_review(db: Database, **overrides) -> int:
    fields = {"source": "markdown", "source_key": "a.md", "slug": "a", "title": "A", "content_hash": "1"}
    fields.update(overrides)
    review, _ = await ReviewRepository(db).upsert(**fields)
    return review.id


def comment(message_id: int, review_id: int, **overrides) -> Comment:
    fields = {
        "message_id": message_id,
        "review_id": review_id,
        "guild_id": 1,
        "thread_id": 100,
        "author_id": 7,
        "author_name": "Mo",
        "content": f"comment {message_id}",
        "created_at": "2026-01-01T00:00:00.000Z",
    }
    fields.update(overrides)
    return Comment(**fields)


async def test_store_is_an_upsert_and_deleted_stays_deleted(db: Database, writer: BatchedWriter) -> None:
    review_id = await make_review(db)
    comments = CommentRepository(db, writer)
    await comments.store(comment(200, review_id, reactions={"👍": 2, 'bad"key': 1}))
    await comments.store(comment(200, review_id, content="refreshed", edited_at="2026-01-02T00:00:00.000Z"))
    stored = await comments.get(200)
    assert stored.content == "refreshed" and stored.edited_at == "2026-01-02T00:00:00.000Z"
    await comments.mark_deleted([200])
    await comments.store(comment(200, review_id, content="back from the dead?"))
    gone = await comments.get(200)
    assert gone.deleted and gone.content == "" and gone.attachments == ()
    assert await comments.for_review(review_id) == []
    assert await db.fetchval("SELECT count(*) FROM comments_fts WHERE comments_fts MATCH 'refreshed'") == 0


async def test_reaction_counts_go_up_down_and_disappear_at_zero(db: Database, writer: BatchedWriter) -> None:
    review_id = await make_review(db)
    comments = CommentRepository(db, writer)
    await comments.store(comment(300, review_id))
    await comments.adjust_reaction(300, "👍", 1)
    await comments.adjust_reaction(300, "👍", 1)
    await comments.adjust_reaction(300, 'popcorn:42"]', 1)
    assert dict((await comments.get(300)).reactions) == {"👍": 2, "popcorn:42]": 1}
    await comments.adjust_reaction(300, 'popcorn:42"]', -1)
    await comments.adjust_reaction(300, "👍", -5)
    assert dict((await comments.get(300)).reactions) == {}
    await comments.adjust_reaction(999, "👍", 1)  # not a comment: nothing happens
    assert await comments.get(999) is None


async def test_cursor_only_moves_forward_even_when_comments_are_erased(db: Database, writer: BatchedWriter) -> None:
    review_id = await make_review(db)
    comments = CommentRepository(db, writer)
    threads = DiscussionThreadRepository(db)
    await threads.register(100, review_id, 1)
    assert await threads.last_message_id(100) is None
    await comments.store_many([comment(500, review_id), comment(400, review_id, author_id=8)])
    assert await threads.last_message_id(100) == 500
    await comments.erase_member(7, None)
    assert [c.message_id for c in await comments.for_thread(100)] == [400]
    assert await threads.last_message_id(100) == 500  # a backfill won't fetch the erased message again
    assert await threads.cursors() == {100: 500}


async def test_anonymise_author(db: Database, writer: BatchedWriter) -> None:
    review_id = await make_review(db)
    comments = CommentRepository(db, writer)
    await comments.store(comment(600, review_id, author_id=42, author_name="Soon Gone"))
    await comments.anonymise_author(42)
    stored = await comments.get(600)
    assert (stored.author_id, stored.author_name, stored.content) == (0, "Deleted User", "comment 600")


async def test_polls_votes_results_and_erasure(db: Database, writer: BatchedWriter) -> None:
    film = await FilmRepository(db).add(title="Chungking Express", year=1994)
    review_id = await make_review(db, film_id=film.id)
    polls = PollRepository(db, writer)
    ratings = RatingRepository(db)
    await polls.record_poll(900, review_id, 1, 100, None)
    await polls.add_vote(900, review_id, 1, 7, 4)
    await polls.add_vote(900, review_id, 1, 7, 4)  # a replayed event: no duplicate
    await polls.add_vote(900, review_id, 1, 8, 5)
    assert await polls.live_counts(900) == {4: 1, 5: 1}
    assert await polls.review_counts(review_id) == ({4: 1, 5: 1}, False)
    await polls.record_results(900, {1: 0, 4: 3, 5: 2})
    assert (await polls.get_poll(900)).finalized
    assert await polls.review_counts(review_id) == ({1: 0, 4: 3, 5: 2}, True)

    await ratings.set_rating(1, 7, film.id, 4.0, source="poll")
    await ratings.set_rating(1, 8, film.id, 2.0, source="rate")
    assert await polls.erase_member(7, 1) == 1
    assert await polls.erase_member(8, 1) == 1
    assert await polls.count_member(7, None) == 0
    # Votes and ratings have one eraser each: the poll's leaves every rating to the ratings' eraser,
    # which takes poll-made and explicit /rate ratings alike (a forgotten member expects both gone).
    assert await ratings.get_rating(1, 7, film.id) == 4.0
    assert await ratings.erase_member(7, 1) == 1 and await ratings.erase_member(8, 1) == 1
    assert await ratings.get_rating(1, 7, film.id) is None
    assert await ratings.get_rating(1, 8, film.id) is None


async def test_record_sent_announcement_inserts_then_replaces(db: Database) -> None:
    review_id = await make_review(db)
    announcements = AnnouncementRepository(db)
    first = await announcements.record_sent(review_id, 1, 10, 11)
    assert (first.state, first.channel_id, first.message_id, first.thread_id) == ("sent", 10, 11, None)
    second = await announcements.record_sent(review_id, 1, 20, 21, thread_id=21, spoiler=True)
    assert (second.channel_id, second.thread_id, second.spoiler) == (20, 21, True)
    assert (await announcements.by_thread(21)).review_id == review_id


async def test_a_burst_is_stored_exactly_as_one_by_one(db: Database, writer: BatchedWriter) -> None:
    """The bulk upsert (JSON rows through json_each) must store what the per-row upsert stores."""
    review_id = await make_review(db)
    texts = ["é 漢字 🎬 \U0001f600", 'quote " and \\', "line\nbreak\ttab\u2028", '{"not": "json"}', "[1, 2]", ""]
    burst = [
        comment(
            2**62 + i,
            review_id,
            content=texts[i % len(texts)],
            author_name=f"Mö {i}",
            edited_at="2026-01-02T00:00:00.000Z" if i % 3 == 0 else None,
            reply_to_id=2**62 if i % 4 == 1 else None,
            attachments=("https://cdn.example/a b.png",) if i % 5 == 0 else (),
            reactions={"👍": 2, 'we"ird': 1} if i % 7 == 0 else {},
        )
        for i in range(300)
    ]
    repo = CommentRepository(db, writer)
    await asyncio.gather(*(repo.store(c) for c in burst))
    for c in burst:
        assert await repo.get(c.message_id) == dataclasses.replace(
            c, reactions={"👍": 2, "weird": 1} if c.reactions else {}
        )
    assert writer.batches_committed < 10  # it really was batched
    threads = DiscussionThreadRepository(db)
    assert await threads.last_message_id(100) == 2**62 + 299  # the cursor trigger ran for bulk rows
    hits = await db.fetchval("SELECT count(*) FROM comments_fts WHERE comments_fts MATCH '漢字'")
    assert hits == 50  # and so did the FTS trigger


async def test_a_burst_keeps_upsert_order_and_deleted_comments(db: Database, writer: BatchedWriter) -> None:
    review_id = await make_review(db)
    repo = CommentRepository(db, writer)
    await repo.store(comment(1, review_id, content="gone"))
    await repo.mark_deleted([1])
    await asyncio.gather(
        repo.store(comment(1, review_id, content="resurrected?")),
        repo.store(comment(2, review_id, content="v1")),
        repo.store(comment(2, review_id, content="v2")),
        repo.store(comment(3, review_id, content="three")),
    )
    first = await repo.get(1)
    assert first is not None and first.deleted and first.content == ""
    assert [(c.message_id, c.content) for c in await repo.for_thread(100)] == [(2, "v2"), (3, "three")]


async def test_a_bad_comment_in_a_burst_fails_alone(db: Database, writer: BatchedWriter) -> None:
    review_id = await make_review(db)
    repo = CommentRepository(db, writer)
    results = await asyncio.gather(
        repo.store(comment(1, review_id)),
        repo.store(comment(2, review_id + 999)),  # no such review: foreign key
        repo.store(comment(3, review_id)),
        return_exceptions=True,
    )
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], sqlite3.IntegrityError)
    assert [c.message_id for c in await repo.for_thread(100)] == [1, 3]
