"""Chat retrieval SQL: FTS safe for any input, guild isolation, newest-first thread comments, stats."""

from __future__ import annotations

import dataclasses

import pytest

from bot.storage import Database, ReviewRepository
from bot.storage.conversations import ConversationRepository, UsageRepository
from bot.storage.retrieval import RetrievalRepository, ReviewHit, best_passage, match_terms, question_match


async def add_review(db: Database, key: str, title: str, body: str) -> int:
    review, _ = await ReviewRepository(db).upsert(
        source="markdown", source_key=key, slug=key, title=title, film_title=title, body_md=body, content_hash="1"
    )
    return review.id


async def add_comment(db: Database, mid: int, review_id: int, guild: int, thread: int, content: str, *, deleted=0):
    await db.execute(
        "INSERT INTO comments (message_id, review_id, guild_id, thread_id, author_id, author_name, content, "
        "created_at, deleted) VALUES (?, ?, ?, ?, ?, ?, ?, '2026-01-01', ?)",
        (mid, review_id, guild, thread, mid % 7, f"member{mid}", content, deleted),
    )


def test_question_match_keeps_meaningful_words_only() -> None:
    assert question_match("What did you think about the pineapple?") == '"pineapple"'
    assert question_match("the of and ?") is None
    assert question_match('"*) OR NEAR( - AND') == '"near"'  # quoted: a word, not an operator
    match = question_match("Chungking Express ending music")
    assert match == '"chungking" OR "express" OR "ending" OR "music"'
    assert match_terms(match) == {"chungking", "express", "ending", "music"}


@pytest.mark.parametrize(
    "hostile", ['"', "*", "NEAR(a b)", "a AND OR NOT b", "col:pineapple", "^pine", "x" * 5000, "\x00", "'; DROP"]
)
async def test_fts_search_is_safe_for_any_input(db: Database, hostile: str) -> None:
    rid = await add_review(db, "a", "Pineapple", "pineapple tins")
    await add_comment(db, 1, rid, 1, 9, "pineapple again")
    retrieval = RetrievalRepository(db)
    assert isinstance(await retrieval.search_reviews(hostile), list)
    assert isinstance(await retrieval.search_comments(hostile, guild_id=1), list)


async def test_reviews_rank_by_relevance_with_the_matching_passage(db: Database) -> None:
    await add_review(db, "a", "Heat", "A heist film.\n\nNothing about fruit here.")
    best = await add_review(db, "b", "Chungking Express", "Neon and noodles.\n\nThe pineapple tins expire on May 1st.")
    hits = await RetrievalRepository(db).search_reviews("why the pineapple tins in Chungking?")
    assert hits[0].id == best
    assert hits[0].snippet == "The pineapple tins expire on May 1st."


async def test_a_review_hit_is_the_review_it_matched_with_bounded_text(db: Database) -> None:
    review, _ = await ReviewRepository(db).upsert(
        source="markdown", source_key="c", slug="chungking", title="Chungking Express", url="https://b.example/c",
        author="Rosa", film_title="Chungking Express", film_year=1994, rating=4.5, spoilers=True,
        excerpt="e" * 1000, body_md="pineapple " * 2000, content_hash="1",
    )  # fmt: skip
    [hit] = await RetrievalRepository(db).search_reviews("pineapple")
    # Every field comes from the review; the excerpt is read up to 400 characters only.
    assert hit == dataclasses.replace(ReviewHit.from_review(review), excerpt="e" * 400, snippet=hit.snippet)
    assert hit.film_label == review.film_label == "Chungking Express (1994)" and hit.spoilers is True
    assert 0 < len(hit.snippet) <= 710 and "pineapple" in hit.snippet


async def test_comments_stay_in_their_guild_skip_deleted_and_the_current_thread(db: Database) -> None:
    rid = await add_review(db, "a", "Chungking Express", "body")
    await add_comment(db, 1, rid, 1, 10, "the jukebox scene")
    await add_comment(db, 2, rid, 2, 20, "the jukebox in another server")
    await add_comment(db, 3, rid, 1, 10, "deleted jukebox", deleted=1)
    await add_comment(db, 4, rid, 1, 11, "jukebox in the current thread")
    retrieval = RetrievalRepository(db)
    hits = await retrieval.search_comments("jukebox", guild_id=1, exclude_thread_id=11)
    assert [h.message_id for h in hits] == [1]
    assert hits[0].review_title == "Chungking Express"


async def test_recent_comments_newest_first_and_stats(db: Database) -> None:
    rid = await add_review(db, "a", "Chungking Express", "body")
    for mid in (5, 6, 7):
        await add_comment(db, mid, rid, 1, 10, f"comment {mid}")
    await add_comment(db, 8, rid, 1, 10, "gone", deleted=1)
    retrieval = RetrievalRepository(db)
    assert [c.message_id for c in await retrieval.recent_comments(10, limit=2)] == [7, 6]
    stats = await retrieval.discussion_stats(rid, guild_id=1)
    assert stats is not None and stats.comments == 3 and stats.participants == 3
    assert await retrieval.discussion_stats(999, guild_id=1) is None


def test_best_passage_handles_long_paragraphs() -> None:
    body = "intro\n\n" + "word " * 400 + "pineapple " + "word " * 400
    passage = best_passage(body, frozenset({"pineapple"}), size=200)
    assert "pineapple" in passage and len(passage) <= 210


async def test_conversations_and_usage(db: Database) -> None:
    conversations = ConversationRepository(db)
    await conversations.add_turns(
        5, guild_id=1, turns=[("user", "hi", 1, 7, "Mo"), ("assistant", "hello", 2, None, None)]
    )
    await conversations.add(6, role="user", content="elsewhere", tokens=1, guild_id=1, author_id=7)
    turns = await conversations.recent(5)
    assert [t.content for t in turns] == ["hello", "hi"]  # newest first
    assert await conversations.erase_member(7, 1) == 2
    assert [t.content for t in await conversations.recent(5)] == ["hello"]
    assert await conversations.forget_conversation(5) == 1
    usage = UsageRepository(db)
    await usage.add(1, "2026-01-01", 10)
    await usage.add(1, "2026-01-01", 5)
    assert await usage.tokens_on(1, "2026-01-01") == 15
    assert await usage.prune("2026-01-02") == 1


async def test_a_withdrawn_review_and_its_discussion_ground_no_answer(db: Database) -> None:
    kept = await add_review(db, "a", "Heat", "The pineapple of heist films.")
    gone = await add_review(db, "b", "Chungking Express", "The pineapple tins expire on May 1st.")
    await add_comment(db, 1, kept, 1, 9, "pineapple in Heat?")
    await add_comment(db, 2, gone, 1, 10, "pineapple tins forever")
    retrieval = RetrievalRepository(db)
    assert {h.id for h in await retrieval.search_reviews("pineapple")} == {kept, gone}
    await ReviewRepository(db).set_withdrawn([gone], True)
    assert [h.id for h in await retrieval.search_reviews("pineapple")] == [kept]
    assert [c.message_id for c in await retrieval.search_comments("pineapple", guild_id=1)] == [1]
    await ReviewRepository(db).set_withdrawn([gone], False)
    assert {h.id for h in await retrieval.search_reviews("pineapple")} == {kept, gone}
