"""Reading comment feeds: no flood, news posted once per thread, re-keys, the deletion window, failures."""

from __future__ import annotations

import datetime as dt

from bot.storage import Database
from bot.storage.blog_comments import CommentFeedRepository
from tests.bot.bridge.bridge_support import (
    FEED,
    START,
    THREAD_A,
    THREAD_B,
    Blog,
    Clock,
    Comment,
    bridge,
    failing,
    poll,
    posts,
    review_with_threads,
    stored,
)

HOUR = dt.timedelta(hours=1)


async def test_the_first_read_stores_history_and_posts_nothing_then_news_is_owed_to_every_thread(db: Database) -> None:
    review = await review_with_threads(db)
    blog = Blog([Comment(1, "Faye", at=START - 5 * HOUR), Comment(2, "Tony", at=START - 4 * HOUR)])
    clock = Clock()
    service = bridge(db, blog, clock)
    first = await poll(service, review)
    assert (first.new, first.mirrored) == (2, 0)
    assert [a for a, _, _ in await stored(db, review)] == ["Faye", "Tony"] and await posts(db) == []

    clock.advance(minutes=5)
    blog.comments.append(Comment(3, "Ana", "Loved it", at=clock.now))
    second = await poll(service, review)
    assert (second.new, second.mirrored) == (1, 1)
    assert await posts(db) == [("Ana", THREAD_A, "pending", True), ("Ana", THREAD_B, "pending", True)]
    assert (await poll(service, review)).not_modified  # unchanged: a 304, nothing parsed, nothing owed twice
    assert blog.calls[-1] is not None and len(await posts(db)) == 2


async def test_a_comment_older_than_the_first_read_that_shows_up_later_is_stored_not_posted(db: Database) -> None:
    review = await review_with_threads(db)
    blog = Blog([Comment(1, at=START - HOUR)])
    clock = Clock()
    service = bridge(db, blog, clock)
    await poll(service, review)
    clock.advance(days=2)
    blog.comments.append(Comment(2, "Late", at=START - 3 * HOUR))  # approved from an old moderation queue
    result = await poll(service, review)
    assert (result.new, result.mirrored) == (1, 0) and await posts(db) == []


async def test_a_thread_opened_later_receives_no_older_comments(db: Database) -> None:
    review = await review_with_threads(db, threads=1)
    blog = Blog([Comment(1, at=START - HOUR)])
    clock = Clock()
    service = bridge(db, blog, clock)
    await poll(service, review)
    clock.advance(minutes=5)
    blog.comments.append(Comment(2, "Ana", at=clock.now))
    await poll(service, review)
    await review_with_threads(db, threads=2)  # a second server's thread opens now
    clock.advance(minutes=5)
    blog.comments.append(Comment(3, "Bea", at=clock.now))
    await poll(service, review)
    assert await posts(db) == [("Ana", THREAD_A, "pending", True), ("Bea", THREAD_A, "pending", True),
                               ("Bea", THREAD_B, "pending", True)]  # fmt: skip


async def test_a_blog_that_changes_every_guid_is_rekeyed_not_posted_again(db: Database) -> None:
    review = await review_with_threads(db)
    blog = Blog([Comment(1, "Faye", at=START - HOUR), Comment(2, "Tony", at=START - HOUR / 2)])
    clock = Clock()
    service = bridge(db, blog, clock)
    await poll(service, review)
    for comment in blog.comments:
        comment.guid = f"https://www.blog.example/?p=4#comment-{comment.n}"  # moved to www, say
    clock.advance(minutes=5)
    result = await poll(service, review)
    assert (result.rekeyed, result.new, result.deleted) == (2, 0, 0)
    assert [d for _, _, d in await stored(db, review)] == [0, 0] and await posts(db) == []


async def test_an_edit_is_owed_to_the_posted_mirrors_and_a_deletion_within_the_window_deletes(db: Database) -> None:
    review = await review_with_threads(db, threads=1)
    blog = Blog([Comment(1, "Faye", at=START - HOUR)])
    clock = Clock()
    service = bridge(db, blog, clock)
    await poll(service, review)
    clock.advance(minutes=5)
    ana = Comment(2, "Ana", "First version", at=clock.now)
    blog.comments += [ana, Comment(3, "Bea", at=clock.now + HOUR)]
    await poll(service, review)
    await db.execute("UPDATE blog_comment_posts SET state = 'sent', message_id = 900 + comment_id, next_try_at = NULL")
    ana.text = "Second version"
    result = await poll(service, review)
    assert result.edited == 1 and ("Ana", "Second version", 0) in await stored(db, review)
    assert await posts(db) == [("Ana", THREAD_A, "sent", True), ("Bea", THREAD_A, "sent", False)]

    blog.comments.remove(ana)  # deleted on the blog; Faye (older) is still listed, so Ana was in the window
    result = await poll(service, review)
    assert result.deleted == 1
    assert await stored(db, review) == [("Faye", "Comment 1", 0), ("", "", 1), ("Bea", "Comment 3", 0)]
    assert ("", THREAD_A, "sent", True) in await posts(db)  # the deletion is owed in Discord


async def test_a_comment_that_scrolled_out_of_a_full_window_is_kept(db: Database) -> None:
    review = await review_with_threads(db)
    blog = Blog([Comment(n, f"Reader {n}", at=START - (10 - n) * HOUR) for n in range(1, 4)])
    clock = Clock()
    service = bridge(db, blog, clock)
    await poll(service, review)
    clock.advance(minutes=5)
    blog.comments = [*blog.comments[1:], Comment(9, "New", at=clock.now)]  # a window of 3: the oldest scrolled out
    result = await poll(service, review)
    assert (result.new, result.deleted) == (1, 0)
    assert [d for _, _, d in await stored(db, review)] == [0, 0, 0, 0]


async def test_the_oldest_comment_counts_as_deleted_only_when_the_posts_count_says_the_feed_holds_them_all(
    db: Database,
) -> None:
    review = await review_with_threads(db)
    blog = Blog([Comment(n, f"Reader {n}", at=START - (10 - n) * HOUR) for n in range(1, 4)])
    service = bridge(db, blog, Clock())
    await poll(service, review)
    blog.comments = blog.comments[1:]  # the oldest is gone: deleted, or scrolled out of a window of two?
    assert (await poll(service, review)).deleted == 0  # nothing says which: kept
    await CommentFeedRepository(db).link([(review, FEED, 2)])  # the post's feed item: "2 comments"
    assert (await poll(service, review)).deleted == 1  # fewer than ever listed, and all the post has
    assert [d for _, _, d in await stored(db, review)] == [1, 0, 0]


async def test_nothing_is_deleted_on_a_failed_read_or_when_an_empty_feed_proves_nothing(db: Database) -> None:
    review = await review_with_threads(db)
    blog = Blog([Comment(1, at=START - HOUR), Comment(2, at=START - HOUR / 2)])
    clock = Clock()
    service = bridge(db, blog, clock)
    await poll(service, review)
    blog.error = failing("HTTP 500 Internal Server Error")
    failed = await poll(service, review)
    feed = await service.feeds.get(review)
    assert failed.error == "HTTP 500 Internal Server Error" and feed is not None and feed.failure_count == 1
    assert feed.last_error == "HTTP 500 Internal Server Error" and feed.next_poll_at > feed.last_fetch_at
    blog.error = None
    blog.comments = []  # a valid but empty feed (comments switched off? a caching glitch?)
    assert (await poll(service, review)).deleted == 0
    assert [d for _, _, d in await stored(db, review)] == [0, 0]
    feed = await service.feeds.get(review)
    assert feed is not None and feed.failure_count == 0 and feed.last_error is None


async def test_a_deleted_comment_that_comes_back_is_restored_and_posted_again(db: Database) -> None:
    review = await review_with_threads(db, threads=1)
    blog = Blog([Comment(1, at=START - HOUR)])
    clock = Clock()
    service = bridge(db, blog, clock)
    await poll(service, review)
    clock.advance(minutes=5)
    bea = Comment(2, "Bea", at=clock.now)
    blog.comments.append(bea)
    await poll(service, review)
    blog.comments.remove(bea)  # unapproved: deleted here (its mirror was never sent: nothing owed in Discord)
    assert (await poll(service, review)).deleted == 1
    assert await posts(db) == [("", THREAD_A, "deleted", False)]
    blog.comments.append(bea)  # approved again
    result = await poll(service, review)
    assert result.restored == 1 and ("Bea", "Comment 2", 0) in await stored(db, review)
    assert await posts(db) == [("Bea", THREAD_A, "pending", True)]  # posted again


async def test_the_schedule_wakes_a_quiet_feed_when_its_thread_talks_again(db: Database, writer) -> None:
    from bot.models import Comment as DiscordComment
    from bot.storage import CommentRepository

    review = await review_with_threads(db)
    await db.execute("UPDATE reviews SET published_at = '2025-01-01T00:00:00.000Z'")  # an old review
    blog = Blog([Comment(1, at=dt.datetime(2025, 1, 2, tzinfo=dt.UTC))])
    clock = Clock()
    service = bridge(db, blog, clock)
    await poll(service, review)
    feed = await service.feeds.get(review)
    assert feed is not None and feed.next_poll_at >= "2026-01-11"  # quiet for a year: read about once a day
    clock.advance(minutes=10)
    assert await service.feeds.due(clock.now, woken_after=service.base) == []
    await CommentRepository(db, writer).store(DiscordComment(
        10**18, review, 1, THREAD_A, 7, "Mo", "Old thread, new thoughts", "2026-01-10T12:09:00.000Z"))  # fmt: skip
    assert [f.review_id for f in await service.feeds.due(clock.now, woken_after=service.base)] == [review]
    await CommentFeedRepository(db).link([(review, FEED, 5)])  # the blog's own count changed: due at once
    assert (await service.feeds.get(review)).next_poll_at is None  # type: ignore[union-attr]
