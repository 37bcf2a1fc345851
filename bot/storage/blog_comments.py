"""The blog-comment bridge's storage: comment feeds, blog comments, and the outbox of their mirrors.

Three tables (migration ``*_blog_comments.sql``) and one kind of ``comments`` row:

* ``comment_feeds``: each review's comment feed and its polling state;
* ``blog_comments``: a blog comment's identity (its key in the feed, ``id``), with
  its text kept as a ``comments`` row (``source = 'blog'``, ``message_id = -id``), so
  the export, the widget, the counts and the live updates treat both doors alike;
* ``blog_comment_posts``: one row per (blog comment, review thread) it is mirrored
  into: the outbox. Written before anything is sent, bumped (``attempts``) before
  each send, confirmed with the Discord message id after; ``next_try_at`` is set
  while a send, an edit or a deletion is owed.

Blog comments are personal data of blog readers, not of Discord members: they carry
no Discord id (``author_id`` 0), so no member's ``/forget-me`` reaches them; they
follow the blog instead (deleted or unapproved there: deleted here, text and name
blanked, its anchor kept). See README "Blog comments in the thread".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..timestamps import utc_iso
from .database import Database
from .outbox import new_nonce

__all__ = [
    "CommentChanges",
    "CommentFeed",
    "CommentFeedRepository",
    "CommentFeedStatus",
    "MirrorJob",
    "NewComment",
    "StoredBlogComment",
]

MAX_URL_CHARS = 2000

_FEED_COLUMNS = (
    "f.review_id, f.url, f.etag, f.last_modified, f.baseline_at, f.post_count, f.listed, f.max_listed, "
    "f.last_fetch_at, f.last_success_at, f.last_error, f.failure_count, f.first_failure_at, f.next_poll_at, "
    "r.title AS review_title, r.url AS review_url, coalesce(r.published_at, r.created_at) AS review_at"
)
# The review has a discussion thread somewhere: only then is there anyone to mirror comments to.
_HAS_THREAD = (
    "EXISTS (SELECT 1 FROM announcements AS a WHERE a.review_id = f.review_id AND a.thread_id IS NOT NULL "
    "AND a.state = 'sent')"
)
# A feed the post's own feed item links (again), or with a new comment count: due now and read in full
# (the count decides what a missing comment means), and a new address starts a new baseline (what it
# lists then is history, not news).
_LINK = (
    "INSERT INTO comment_feeds (review_id, url, post_count) VALUES (?1, ?2, ?3) "
    "ON CONFLICT (review_id) DO UPDATE SET "
    "baseline_at = CASE WHEN url IS NOT excluded.url THEN NULL ELSE baseline_at END, "
    "etag = NULL, last_modified = NULL, next_poll_at = NULL, "
    "post_count = coalesce(excluded.post_count, post_count), url = excluded.url "
    "WHERE url IS NOT excluded.url OR (excluded.post_count IS NOT NULL AND post_count IS NOT excluded.post_count)"
)
_JOB_COLUMNS = (
    "p.comment_id, p.thread_id, p.guild_id, p.channel_id, p.state, p.message_id, p.webhook_id, p.nonce, "
    "p.attempts, p.failures, p.shown_version, b.version, b.review_id, c.author_name, c.content, c.source_url, "
    "c.deleted, c.created_at, r.url AS review_url, f.url AS feed_url"
)
_JOBS_FROM = (
    "FROM blog_comment_posts AS p JOIN blog_comments AS b ON b.id = p.comment_id "
    "JOIN comments AS c ON c.message_id = -b.id JOIN reviews AS r ON r.id = b.review_id "
    "LEFT JOIN comment_feeds AS f ON f.review_id = b.review_id"
)
# After a send or an edit that showed ``version`` of ``comment``: is more owed (edited or deleted meanwhile)?
_OWED_AFTER = (
    "(SELECT CASE WHEN b.version > :version OR c.deleted = 1 THEN strftime('%Y-%m-%dT%H:%M:%fZ', 'now') END "
    "FROM blog_comments AS b JOIN comments AS c ON c.message_id = -b.id WHERE b.id = :comment)"
)


@dataclass(frozen=True, slots=True)
class CommentFeed:
    """A review's comment feed and where reading it stands."""

    review_id: int
    url: str
    etag: str | None = None
    last_modified: str | None = None
    baseline_at: str | None = None  # None until the first read (which posts nothing)
    post_count: int | None = None  # the post's comment count, as its own feed item last said
    listed: int = 0
    max_listed: int = 0
    last_fetch_at: str | None = None
    last_success_at: str | None = None
    last_error: str | None = None
    failure_count: int = 0
    first_failure_at: str | None = None
    next_poll_at: str | None = None
    review_title: str = ""
    review_url: str | None = None
    review_at: str | None = None  # the review's publication time (else when it was stored)

    @property
    def initialized(self) -> bool:
        return self.baseline_at is not None

    @classmethod
    def from_row(cls, row: Any) -> CommentFeed:
        return cls(**dict(row))


@dataclass(frozen=True, slots=True)
class CommentFeedStatus:
    """What ``/matinee feed list`` says about one comment feed."""

    feed: CommentFeed
    comments: int  # blog comments stored (live)
    failed_posts: int  # mirrors Discord kept refusing in this server
    post_error: str | None = None  # the latest error posting, editing or deleting one here (None: all well)


@dataclass(frozen=True, slots=True)
class StoredBlogComment:
    id: int  # blog_comments.id: the comment's row is comments.message_id = -id
    guid: str
    published_at: str | None
    version: int
    author: str
    content: str
    url: str | None
    deleted: bool


@dataclass(frozen=True, slots=True)
class NewComment:
    """A comment to store: its key, its text, and whether it is news to mirror into the threads."""

    guid: str
    author: str
    content: str
    url: str | None
    published_at: str | None
    mirror: bool


@dataclass
class CommentChanges:
    """What one read of a comment feed changes, applied in one transaction."""

    new: list[NewComment] = field(default_factory=list)
    edited: list[tuple[int, NewComment]] = field(default_factory=list)  # (stored id, as listed now)
    restored: list[tuple[int, NewComment]] = field(default_factory=list)  # deleted, then listed again
    deleted: list[int] = field(default_factory=list)  # stored ids gone from the blog
    rekeyed: list[tuple[int, str]] = field(default_factory=list)  # (stored id, its new key)

    def __bool__(self) -> bool:
        return bool(self.new or self.edited or self.restored or self.deleted or self.rekeyed)


@dataclass(frozen=True, slots=True)
class MirrorJob:
    """One mirror that something is owed for, with the comment as it is now."""

    comment_id: int
    thread_id: int
    guild_id: int
    channel_id: int  # the thread's parent: where the webhook lives
    state: str
    message_id: int | None
    webhook_id: int | None
    nonce: str
    attempts: int
    failures: int
    shown_version: int
    version: int
    review_id: int
    author_name: str
    content: str
    source_url: str | None
    deleted: bool
    created_at: str
    review_url: str | None
    feed_url: str | None = None

    @classmethod
    def from_row(cls, row: Any) -> MirrorJob:
        data = dict(row)
        data["deleted"] = bool(data["deleted"])
        return cls(**data)

    @property
    def anchor(self) -> str | None:
        """Where the comment is on the blog: its own link; else the post, marked with the comment.

        Every mirror carries it, and after a crash the mirror is found by it, so it is
        unique per comment even when the feed gives the comment no link of its own.
        """
        if self.source_url:
            return self.source_url
        page = self.review_url or self.feed_url
        return f"{page.split('#', 1)[0]}#blog-comment-{self.comment_id}" if page else None


def _key(job: MirrorJob) -> dict[str, int]:
    return {"version": job.version, "comment": job.comment_id, "thread": job.thread_id}


def _comment_row(comment_id: int, review_id: int, comment: NewComment, now: str) -> tuple:
    return (-comment_id, review_id, comment.author, comment.content, comment.published_at or now, comment.url)


class CommentFeedRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    # -- which reviews have a comment feed ------------------------------------------------

    async def link(self, links: Iterable[tuple[int, str, int | None]]) -> None:
        """(review id, comment feed URL, the post's comment count or None) as the review's source lists them.

        A review gets its comment feed (``reviews.comments_feed``) and polling state;
        a changed address starts a new baseline; a changed count makes the feed due.
        Writes nothing for what is unchanged.
        """
        rows = [(rid, url, count) for rid, url, count in links if url and len(url) <= MAX_URL_CHARS]
        if not rows:
            return
        async with self._db.transaction() as conn:
            await conn.executemany(
                "UPDATE reviews SET comments_feed = ?2 WHERE id = ?1 AND comments_feed IS NOT ?2",
                [(rid, url) for rid, url, _ in rows],
            )
            await conn.executemany(_LINK, rows)

    async def get(self, review_id: int) -> CommentFeed | None:
        row = await self._db.fetchone(
            f"SELECT {_FEED_COLUMNS} FROM comment_feeds AS f JOIN reviews AS r ON r.id = f.review_id "  # noqa: S608
            "WHERE f.review_id = ?",
            (review_id,),
        )
        return CommentFeed.from_row(row) if row else None

    async def due(self, now: dt.datetime, *, woken_after: dt.timedelta, limit: int = 10_000) -> list[CommentFeed]:
        """Comment feeds of reviews with a thread that are due now, the longest-waiting first.

        Due: never read, or its time has come, or (for a feed that works) a member
        wrote in the review's thread since the last read and that read is at least
        ``woken_after`` old: a discussion coming back to life wakes its comment feed.
        """
        rows = await self._db.fetchall(
            f"SELECT {_FEED_COLUMNS} FROM comment_feeds AS f JOIN reviews AS r ON r.id = f.review_id "  # noqa: S608
            f"WHERE {_HAS_THREAD} AND (f.next_poll_at IS NULL OR f.next_poll_at <= :now OR ("
            "  f.failure_count = 0 AND f.last_fetch_at <= :woken AND EXISTS (SELECT 1 FROM comments AS c "
            "  WHERE c.review_id = f.review_id AND c.source = 'discord' AND c.created_at > f.last_fetch_at))) "
            "ORDER BY f.next_poll_at IS NOT NULL, f.next_poll_at, f.review_id LIMIT :limit",
            {"now": utc_iso(now), "woken": utc_iso(now - woken_after), "limit": limit},
        )
        return [CommentFeed.from_row(r) for r in rows]

    async def last_activity(self, review_id: int) -> str | None:
        """When the review was last commented on, in either door."""
        return await self._db.fetchval("SELECT max(created_at) FROM comments WHERE review_id = ?", (review_id,))

    async def record_not_modified(self, review_id: int, *, now: dt.datetime, next_poll: dt.datetime) -> None:
        await self._db.execute_atomic(
            "UPDATE comment_feeds SET last_fetch_at = ?1, last_success_at = ?1, next_poll_at = ?2, last_error = NULL, "
            "failure_count = 0, first_failure_at = NULL WHERE review_id = ?3",
            (utc_iso(now), utc_iso(next_poll), review_id),
        )

    async def record_read(
        self,
        review_id: int,
        *,
        now: dt.datetime,
        next_poll: dt.datetime,
        etag: str | None,
        last_modified: str | None,
        listed: int,
    ) -> None:
        """A read that answered a document; the first one sets the baseline."""
        await self._db.execute_atomic(
            "UPDATE comment_feeds SET last_fetch_at = ?1, last_success_at = ?1, next_poll_at = ?2, etag = ?3, "
            "last_modified = ?4, listed = ?5, max_listed = max(max_listed, ?5), "
            "baseline_at = coalesce(baseline_at, ?1), last_error = NULL, failure_count = 0, first_failure_at = NULL "
            "WHERE review_id = ?6",
            (utc_iso(now), utc_iso(next_poll), etag, last_modified, listed, review_id),
        )

    async def record_feed_failure(
        self, review_id: int, *, now: dt.datetime, error: str, next_poll: dt.datetime
    ) -> CommentFeed | None:
        await self._db.execute_atomic(
            "UPDATE comment_feeds SET last_fetch_at = ?1, last_error = ?2, failure_count = failure_count + 1, "
            "first_failure_at = coalesce(first_failure_at, ?1), next_poll_at = ?3 WHERE review_id = ?4",
            (utc_iso(now), error[:300], utc_iso(next_poll), review_id),
        )
        return await self.get(review_id)

    async def statuses(self, guild_id: int) -> list[CommentFeedStatus]:
        """The comment feeds of the reviews discussed in this server: failing ones first, then the latest read."""
        rows = await self._db.fetchall(
            f"SELECT {_FEED_COLUMNS}, "  # noqa: S608
            "(SELECT count(*) FROM comments AS c WHERE c.review_id = f.review_id AND c.source = 'blog' "
            " AND c.deleted = 0) AS stored, "
            "(SELECT count(*) FROM blog_comment_posts AS p JOIN blog_comments AS b ON b.id = p.comment_id "
            " WHERE b.review_id = f.review_id AND p.guild_id = :guild AND p.state = 'failed') AS failed_posts, "
            "(SELECT p.last_error FROM blog_comment_posts AS p JOIN blog_comments AS b ON b.id = p.comment_id "
            " WHERE b.review_id = f.review_id AND p.guild_id = :guild AND p.last_error IS NOT NULL "
            " AND p.state IN ('failed', 'pending', 'sent') ORDER BY p.created_at DESC LIMIT 1) AS post_error "
            "FROM comment_feeds AS f JOIN reviews AS r ON r.id = f.review_id "
            "WHERE EXISTS (SELECT 1 FROM announcements AS a WHERE a.review_id = f.review_id AND a.guild_id = :guild "
            "AND a.thread_id IS NOT NULL) "
            "ORDER BY f.failure_count > 0 DESC, failed_posts > 0 DESC, f.last_fetch_at DESC, f.review_id DESC",
            {"guild": guild_id},
        )
        out = []
        for row in rows:
            data = dict(row)
            stored, failed, error = int(data.pop("stored")), int(data.pop("failed_posts")), data.pop("post_error")
            out.append(CommentFeedStatus(CommentFeed(**data), stored, failed, error))
        return out

    # -- blog comments ---------------------------------------------------------------------

    async def comments_of(self, review_id: int) -> dict[str, StoredBlogComment]:
        """Every blog comment stored for the review (deleted ones too), by key."""
        rows = await self._db.fetchall(
            "SELECT b.id, b.guid, b.published_at, b.version, c.author_name, c.content, c.source_url, c.deleted "
            "FROM blog_comments AS b JOIN comments AS c ON c.message_id = -b.id WHERE b.review_id = ?",
            (review_id,),
        )
        stored = (
            StoredBlogComment(int(r["id"]), r["guid"], r["published_at"], int(r["version"]), r["author_name"],
                              r["content"], r["source_url"], bool(r["deleted"]))
            for r in rows
        )  # fmt: skip
        return {comment.guid: comment for comment in stored}

    async def apply(self, review_id: int, changes: CommentChanges, *, now: dt.datetime) -> None:
        """Store what a read found, and what is owed to each review thread, in one transaction.

        New comments marked ``mirror`` get a pending mirror in every thread the
        review has now (a thread opened later never receives older comments); an
        edit, a deletion or a restored comment makes its mirrors owe an edit, a
        deletion or a new post. A deletion blanks the comment's text and name (its
        anchor stays: it is how a mirror sent just before a crash is found to delete).
        """
        stamp = utc_iso(now)
        async with self._db.transaction() as conn:
            cursor = await conn.execute(
                "SELECT thread_id, guild_id, channel_id FROM announcements WHERE review_id = ? "
                "AND thread_id IS NOT NULL AND state = 'sent' ORDER BY guild_id",
                (review_id,),
            )
            threads = [tuple(r) for r in await cursor.fetchall()]
            await cursor.close()
            for stored_id, new_key in changes.rekeyed:
                await conn.execute("UPDATE blog_comments SET guid = ? WHERE id = ?", (new_key, stored_id))
            for comment in changes.new:
                cursor = await conn.execute(
                    "INSERT INTO blog_comments (review_id, guid, published_at) VALUES (?, ?, ?)",
                    (review_id, comment.guid, comment.published_at),
                )
                comment_id = int(cursor.lastrowid)
                await cursor.close()
                await conn.execute(
                    "INSERT INTO comments (message_id, review_id, guild_id, thread_id, author_id, author_name, "
                    "content, created_at, source, source_url) VALUES (?1, ?2, 0, 0, 0, ?3, ?4, ?5, 'blog', ?6)",
                    _comment_row(comment_id, review_id, comment, stamp),
                )
                if comment.mirror:
                    await conn.executemany(
                        "INSERT OR IGNORE INTO blog_comment_posts (comment_id, thread_id, guild_id, channel_id, "
                        "nonce, next_try_at) VALUES (?, ?, ?, ?, ?, ?)",
                        [(comment_id, t, g, c, new_nonce(), stamp) for t, g, c in threads],
                    )
            for stored_id, comment in changes.edited:
                await conn.execute(
                    "UPDATE comments SET author_name = ?, content = ?, source_url = ?, edited_at = ? "
                    "WHERE message_id = ?",
                    (comment.author, comment.content, comment.url, stamp, -stored_id),
                )
                await conn.execute("UPDATE blog_comments SET version = version + 1 WHERE id = ?", (stored_id,))
                await conn.execute(
                    "UPDATE blog_comment_posts SET next_try_at = ? WHERE comment_id = ? AND state = 'sent'",
                    (stamp, stored_id),
                )
            for stored_id, comment in changes.restored:
                await conn.execute(
                    "UPDATE comments SET author_name = ?, content = ?, source_url = ?, deleted = 0 "
                    "WHERE message_id = ?",
                    (comment.author, comment.content, comment.url, -stored_id),
                )
                await conn.execute("UPDATE blog_comments SET version = version + 1 WHERE id = ?", (stored_id,))
                # Its mirrors were deleted with it: it is posted again, as a new message.
                await conn.execute(
                    "UPDATE blog_comment_posts SET state = 'pending', message_id = NULL, webhook_id = NULL, nonce = ?, "
                    "attempts = 0, failures = 0, last_error = NULL, next_try_at = ? "
                    "WHERE comment_id = ? AND state = 'deleted'",
                    (new_nonce(), stamp, stored_id),
                )
            for stored_id in changes.deleted:
                await conn.execute(
                    "UPDATE comments SET deleted = 1, content = '', author_name = '', reactions = '{}' "
                    "WHERE message_id = ?",
                    (-stored_id,),
                )
                # Never sent: nothing to delete in Discord. Sent, or maybe sent before a crash: a deletion is owed.
                await conn.execute(
                    "UPDATE blog_comment_posts SET state = 'deleted', next_try_at = NULL "
                    "WHERE comment_id = ? AND state = 'pending' AND attempts = 0",
                    (stored_id,),
                )
                await conn.execute(
                    "UPDATE blog_comment_posts SET next_try_at = ?, failures = 0 WHERE comment_id = ? "
                    "AND state IN ('pending', 'sent')",
                    (stamp, stored_id),
                )

    # -- the outbox of mirrors ---------------------------------------------------------------

    async def jobs(self, now: dt.datetime, *, limit: int = 500) -> list[MirrorJob]:
        """Mirrors owed a send, an edit or a deletion now, oldest comment first (a thread reads in order).

        A send waits while an older comment's send to the same thread waits for its retry.
        """
        rows = await self._db.fetchall(
            f"SELECT {_JOB_COLUMNS} {_JOBS_FROM} "  # noqa: S608
            "WHERE p.next_try_at IS NOT NULL AND p.next_try_at <= :now AND NOT (p.state = 'pending' AND EXISTS ("
            "  SELECT 1 FROM blog_comment_posts AS q JOIN comments AS o ON o.message_id = -q.comment_id "
            "  WHERE q.thread_id = p.thread_id AND q.state = 'pending' AND q.next_try_at > :now "
            "  AND (o.created_at, q.comment_id) < (c.created_at, p.comment_id))) "
            "ORDER BY c.created_at, p.comment_id, p.thread_id LIMIT :limit",
            {"now": utc_iso(now), "limit": limit},
        )
        return [MirrorJob.from_row(r) for r in rows]

    async def job(self, comment_id: int, thread_id: int) -> MirrorJob | None:
        row = await self._db.fetchone(
            f"SELECT {_JOB_COLUMNS} {_JOBS_FROM} WHERE p.comment_id = ? AND p.thread_id = ?",
            (comment_id, thread_id),
        )
        return MirrorJob.from_row(row) if row else None

    async def begin_attempt(self, job: MirrorJob) -> None:
        """Durably note that a send is about to happen (so a crash after it is reconciled, not re-sent)."""
        await self._db.execute_atomic(
            "UPDATE blog_comment_posts SET attempts = attempts + 1 WHERE comment_id = ? AND thread_id = ?",
            (job.comment_id, job.thread_id),
        )

    async def mark_sent(self, job: MirrorJob, *, message_id: int, webhook_id: int | None) -> None:
        """Discord has the mirror: store its id; replies to it already stored become replies to the comment.

        The reply fix-up runs in the same transaction as the id is stored, so a reply
        stored before (a member answered a mirror whose send Matinee had not recorded
        yet: a crash) or after (the comments upsert maps it) is nested either way.
        """
        async with self._db.transaction() as conn:
            await conn.execute(
                "UPDATE blog_comment_posts SET state = 'sent', message_id = :message, webhook_id = :webhook, "  # noqa: S608
                f"shown_version = :version, failures = 0, last_error = NULL, next_try_at = {_OWED_AFTER} "
                "WHERE comment_id = :comment AND thread_id = :thread",
                {"message": message_id, "webhook": webhook_id, **_key(job)},
            )
            await conn.execute(
                "UPDATE comments SET reply_to_id = ? WHERE thread_id = ? AND reply_to_id = ?",
                (-job.comment_id, job.thread_id, message_id),
            )

    async def mark_shown(self, job: MirrorJob) -> None:
        """The mirror now shows the comment's ``job.version`` (an edit went through)."""
        await self._db.execute(
            f"UPDATE blog_comment_posts SET shown_version = :version, failures = 0, last_error = NULL, "  # noqa: S608
            f"next_try_at = {_OWED_AFTER} WHERE comment_id = :comment AND thread_id = :thread",
            _key(job),
        )

    async def settle(self, job: MirrorJob, state: str, *, error: str | None = None) -> None:
        """Nothing more is owed: ``deleted`` (followed the blog), ``gone`` (deleted in Discord) or ``failed``."""
        await self._db.execute(
            "UPDATE blog_comment_posts SET state = ?, last_error = ?, next_try_at = NULL "
            "WHERE comment_id = ? AND thread_id = ?",
            (state, error[:300] if error else None, job.comment_id, job.thread_id),
        )

    async def record_post_failure(self, job: MirrorJob, *, error: str, next_try: dt.datetime) -> None:
        await self._db.execute(
            "UPDATE blog_comment_posts SET failures = failures + 1, last_error = ?, next_try_at = ? "
            "WHERE comment_id = ? AND thread_id = ?",
            (error[:300], utc_iso(next_try), job.comment_id, job.thread_id),
        )

    async def posts_of(self, comment_id: int) -> list[dict[str, Any]]:
        """Where a blog comment is mirrored (thread, state, message id): for diagnostics and tests."""
        rows = await self._db.fetchall(
            "SELECT thread_id, guild_id, state, message_id, webhook_id, attempts, last_error FROM blog_comment_posts "
            "WHERE comment_id = ? ORDER BY thread_id",
            (comment_id,),
        )
        return [dict(r) for r in rows]

    async def counts(self) -> dict[str, int]:
        """Mirrors by state (``/matinee about`` and tests)."""
        rows = await self._db.fetchall("SELECT state, count(*) FROM blog_comment_posts GROUP BY state")
        return {str(r[0]): int(r[1]) for r in rows}

