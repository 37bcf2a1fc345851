"""What the bridge's unit tests share: a review with threads in two servers, a scripted comment feed, a clock."""

from __future__ import annotations

import datetime as dt
import email.utils
import random
from dataclasses import dataclass, field

from bot.bridge import BlogCommentBridge
from bot.reviews.fetch import FeedFetchError, FetchResult
from bot.storage import AnnouncementRepository, Database, ReviewRepository
from bot.storage.blog_comments import CommentFeedRepository

FEED = "https://blog.example/heat/feed/"
POST = "https://blog.example/heat/"
GUILD_A, GUILD_B = 1, 2
THREAD_A, THREAD_B = 501, 502
CHANNEL_A, CHANNEL_B = 11, 22
START = dt.datetime(2026, 1, 10, 12, tzinfo=dt.UTC)


@dataclass
class Comment:
    n: int
    author: str = "Ana"
    text: str = ""
    at: dt.datetime = START
    guid: str | None = None

    def item(self) -> str:
        guid = self.guid or f"https://blog.example/?p=4#comment-{self.n}"
        return (
            f"<item><title>By: {self.author}</title><link>{POST}#comment-{self.n}</link>"
            f"<dc:creator><![CDATA[{self.author}]]></dc:creator>"
            f"<pubDate>{email.utils.format_datetime(self.at)}</pubDate><guid isPermaLink=\"false\">{guid}</guid>"
            f"<content:encoded><![CDATA[<p>{self.text or f'Comment {self.n}'}</p>]]></content:encoded></item>"
        )


@dataclass
class Blog:
    """The post's comment feed as the blog serves it now (newest first), with an ETag per version."""

    comments: list[Comment] = field(default_factory=list)
    error: Exception | None = None
    calls: list[str | None] = field(default_factory=list)  # the If-None-Match of each request

    def document(self) -> bytes:
        items = "".join(c.item() for c in sorted(self.comments, key=lambda c: c.at, reverse=True))
        return (
            '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" '
            'xmlns:content="http://purl.org/rss/1.0/modules/content/" xmlns:dc="http://purl.org/dc/elements/1.1/">'
            f"<channel><title>Comments on: Heat</title><link>{POST}</link>{items}</channel></rss>"
        ).encode()

    async def fetch(self, url: str, *, etag: str | None = None, last_modified: str | None = None) -> FetchResult:
        self.calls.append(etag)
        if self.error is not None:
            raise self.error
        body = self.document()
        tag = f'"{hash(body)}"'
        if etag == tag:
            return FetchResult(url, 304, etag=etag)
        return FetchResult(url, 200, body, etag=tag)

    allow_private = False


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


async def review_with_threads(db: Database, *, threads: int = 2, post_count: int | None = None) -> int:
    review, _ = await ReviewRepository(db).upsert(
        source="feed:1", source_key="p4", slug="heat", title="Heat", url=POST, content_hash="1",
        published_at="2026-01-09T12:00:00.000Z",
    )  # fmt: skip
    announcements = AnnouncementRepository(db)
    for guild, channel, thread in ((GUILD_A, CHANNEL_A, THREAD_A), (GUILD_B, CHANNEL_B, THREAD_B))[:threads]:
        await announcements.record_sent(review.id, guild, channel, thread, thread_id=thread)
    await CommentFeedRepository(db).link([(review.id, FEED, post_count)])
    return review.id


def bridge(db: Database, blog: Blog, clock: Clock) -> BlogCommentBridge:
    return BlogCommentBridge(db, blog, poll_seconds=300, clock=clock, rng=random.Random(1))  # type: ignore[arg-type]


async def poll(service: BlogCommentBridge, review_id: int):
    feed = await service.feeds.get(review_id)
    assert feed is not None
    return await service.poll(feed)


async def stored(db: Database, review_id: int) -> list[tuple[str, str, int]]:
    rows = await db.fetchall(
        "SELECT author_name, content, deleted FROM comments WHERE review_id = ? AND source = 'blog' "
        "ORDER BY created_at, message_id DESC",
        (review_id,),
    )
    return [(r[0], r[1], int(r[2])) for r in rows]


async def posts(db: Database) -> list[tuple[str, int, str, bool]]:
    """(author, thread, state, owed) of every mirror."""
    rows = await db.fetchall(
        "SELECT c.author_name, p.thread_id, p.state, p.next_try_at IS NOT NULL FROM blog_comment_posts AS p "
        "JOIN comments AS c ON c.message_id = -p.comment_id ORDER BY p.comment_id, p.thread_id"
    )
    return [(r[0], int(r[1]), r[2], bool(r[3])) for r in rows]


def failing(message: str) -> FeedFetchError:
    return FeedFetchError(message)
