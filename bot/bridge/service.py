"""Reading each review's comment feed: what is new, edited, re-keyed or gone since the last read.

:class:`BlogCommentBridge` polls the comment feeds that are due (bot/bridge/schedule.py)
with the bot's feed fetcher (conditional GET, the 5 MB cap, the private-network
policy), compares what each lists with what is stored, and stores the difference in
one transaction together with what the review's threads are owed
(:meth:`CommentFeedRepository.apply`); :mod:`bot.bridge.delivery` then posts, edits
and deletes the mirrors. A feed's failure is its own: it backs off and shows its
error in ``/matinee feed list``; no other feed is held up.

**No flood.** The first read of a comment feed stores what it lists and posts none
of it. Afterwards a comment is posted into the threads when it is new to Matinee
and dated after that first read (give or take :data:`BASELINE_SLACK`, for caches
and clocks); an older one that shows up later (a larger feed window, a comment
approved from an old moderation queue) is stored, not posted.

**Re-keyed, not new.** An unknown key whose author and date are those of a stored
comment the feed no longer lists under its old key is that comment (a blog that
moved to https changes every guid): it is re-keyed, never posted twice.

**Deleted on the blog, deleted here.** A comment feed lists only the newest N
comments (WordPress: Settings → Reading, "Syndication feeds show the most recent"),
so a comment missing from it may just have scrolled out. A stored comment that the
feed no longer lists is taken as deleted (or unapproved) on the blog only when the
feed's window must still hold it:

* it is dated after the oldest comment the feed lists (newer comments cannot scroll
  out past older ones); or
* the feed lists fewer comments than it ever has, and exactly as many as the post's
  own feed item says the post has (``<slash:comments>``): the window is not full, so
  the feed holds every comment.

Anything else is kept: a missing comment that may only have scrolled out, a feed
that fails or answers something that is not a feed (nothing is decided on an
error), and the first read. An edited comment is edited in place; a deleted one
that comes back (approved again) is stored again and posted again.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from ..reviews.feeds import FeedParseError
from ..reviews.fetch import FeedFetcher, FeedFetchError
from ..storage import Database
from ..storage.blog_comments import (
    CommentChanges,
    CommentFeed,
    CommentFeedRepository,
    CommentFeedStatus,
    NewComment,
    StoredBlogComment,
)
from ..timestamps import parse_utc_iso, utc_iso
from .comment_feed import BlogCommentEntry, parse_comment_feed
from .schedule import next_poll

__all__ = ["BASELINE_SLACK", "POLL_CONCURRENCY", "BlogCommentBridge", "CommentPoll", "gone_from_blog"]

log = logging.getLogger(__name__)

POLL_CONCURRENCY = 8
BASELINE_SLACK = dt.timedelta(hours=1)


@dataclass
class CommentPoll:
    """What one read of one comment feed did."""

    review_id: int
    not_modified: bool = False
    error: str | None = None
    new: int = 0  # comments stored for the first time
    mirrored: int = 0  # of those, the ones posted into the threads (news, not history)
    edited: int = 0
    deleted: int = 0
    restored: int = 0
    rekeyed: int = 0


def gone_from_blog(
    missing: Sequence[StoredBlogComment], listed: Sequence[BlogCommentEntry], feed: CommentFeed
) -> list[StoredBlogComment]:
    """Of the stored live comments the feed no longer lists, those its window must still hold: deleted on the blog.

    The rule is in the module's docstring; ``feed`` is the state before this read
    (``max_listed``: the most comments it has ever listed; ``post_count``: the
    post's own count from its feed item).
    """
    dated = [c.published_at for c in listed if c.published_at]
    oldest = min(dated) if dated else None
    whole = (
        feed.post_count is not None and len(listed) < feed.max_listed and len(listed) == feed.post_count
    )  # the window is not full: it holds every comment the post has
    return [c for c in missing if whole or (oldest and c.published_at and c.published_at > oldest)]


def _unique_links(entries: Sequence[BlogCommentEntry]) -> list[BlogCommentEntry]:
    """A link several comments share names none of them (a broken feed): those lose it."""
    counts: dict[str, int] = {}
    for entry in entries:
        if entry.url:
            counts[entry.url] = counts.get(entry.url, 0) + 1
    return [replace(e, url=None) if e.url and counts[e.url] > 1 else e for e in entries]


def _as_new(entry: BlogCommentEntry, *, mirror: bool) -> NewComment:
    return NewComment(entry.key, entry.author, entry.content, entry.url, entry.published_at, mirror)


class BlogCommentBridge:
    """Polls comment feeds and stores what changed (the mirrors are :class:`MirrorDelivery`'s)."""

    def __init__(
        self,
        db: Database,
        fetcher: FeedFetcher | None,
        *,
        poll_seconds: float = 300,
        clock: Callable[[], dt.datetime] | None = None,
        rng: random.Random | None = None,
        concurrency: int = POLL_CONCURRENCY,
    ) -> None:
        self.db = db
        self.fetcher = fetcher
        self.feeds = CommentFeedRepository(db)
        self.base = dt.timedelta(seconds=poll_seconds)
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self._rng = rng or random.Random()
        self._semaphore = asyncio.Semaphore(concurrency)
        self._locks: dict[int, asyncio.Lock] = {}

    def now(self) -> dt.datetime:
        return self._clock()

    # -- polling -------------------------------------------------------------------------------

    async def poll_due(self) -> list[CommentPoll]:
        """Read every comment feed that is due, a few at a time; one feed's failure never stops another's."""
        due = await self.feeds.due(self.now(), woken_after=self.base)

        async def one(feed: CommentFeed) -> CommentPoll:
            async with self._semaphore:
                try:
                    return await self.poll(feed)
                except Exception as exc:  # a bug on one feed must not stop the others
                    log.exception("reading the comment feed of review %s failed unexpectedly", feed.review_id)
                    return CommentPoll(feed.review_id, error=f"internal error ({type(exc).__name__})")

        return list(await asyncio.gather(*(one(f) for f in due)))

    async def poll(self, feed: CommentFeed) -> CommentPoll:
        """Read one comment feed now and store what changed."""
        lock = self._locks.setdefault(feed.review_id, asyncio.Lock())
        async with lock:
            current = await self.feeds.get(feed.review_id)
            if current is None:
                return CommentPoll(feed.review_id, error="the review no longer has a comment feed")
            return await self._poll_locked(current)

    async def _poll_locked(self, feed: CommentFeed) -> CommentPoll:
        if self.fetcher is None:
            raise RuntimeError("no fetcher configured")
        started = self.now()
        try:
            fetched = await self.fetcher.fetch(
                feed.url,
                etag=feed.etag if feed.initialized else None,
                last_modified=feed.last_modified if feed.initialized else None,
            )
            if fetched.not_modified:
                later = await self._next(feed, started)
                await self.feeds.record_not_modified(feed.review_id, now=started, next_poll=later)
                return CommentPoll(feed.review_id, not_modified=True)
            entries = await asyncio.to_thread(
                parse_comment_feed, fetched.body, url=fetched.url, content_type=fetched.content_type
            )
        except (FeedFetchError, FeedParseError) as exc:
            return await self._fail(feed, str(exc), started)
        result, changes = self.compare(feed, await self.feeds.comments_of(feed.review_id), entries, now=started)
        if changes:
            await self.feeds.apply(feed.review_id, changes, now=started)
        await self.feeds.record_read(
            feed.review_id, now=started, next_poll=await self._next(feed, started), etag=fetched.etag,
            last_modified=fetched.last_modified, listed=len(entries),
        )  # fmt: skip
        if changes:
            log.info(
                "comment feed of review %s: %d new (%d to post), %d edited, %d deleted, %d restored",
                feed.review_id, result.new, result.mirrored, result.edited, result.deleted, result.restored,
            )  # fmt: skip
        return result

    def compare(
        self,
        feed: CommentFeed,
        stored: dict[str, StoredBlogComment],
        entries: Sequence[BlogCommentEntry],
        *,
        now: dt.datetime,
    ) -> tuple[CommentPoll, CommentChanges]:
        """What changed between the stored comments and what the feed lists now (see the module's rules)."""
        result = CommentPoll(feed.review_id)
        changes = CommentChanges()
        entries = _unique_links(entries)
        listed = {e.key for e in entries}
        missing = [c for c in stored.values() if c.guid not in listed and not c.deleted]
        twins = {(c.author, c.published_at): c for c in missing if c.published_at}
        baseline = parse_utc_iso(feed.baseline_at)
        news_after = utc_iso(baseline - BASELINE_SLACK) if baseline is not None else None
        for entry in reversed(entries):  # oldest first: that is the order they are posted in
            known = stored.get(entry.key)
            if known is None and entry.published_at is not None:
                known = twins.pop((entry.author, entry.published_at), None)
                if known is not None:  # the same comment under a new key
                    changes.rekeyed.append((known.id, entry.key))
                    missing.remove(known)
                    result.rekeyed += 1
            if known is None:
                news = news_after is not None and (entry.published_at is None or entry.published_at >= news_after)
                changes.new.append(_as_new(entry, mirror=news))
                result.new += 1
                result.mirrored += int(news)
            elif known.deleted:
                changes.restored.append((known.id, _as_new(entry, mirror=False)))
                result.restored += 1
            elif (known.author, known.content, known.url) != (entry.author, entry.content, entry.url):
                changes.edited.append((known.id, _as_new(entry, mirror=False)))
                result.edited += 1
        if feed.initialized:
            changes.deleted = [c.id for c in gone_from_blog(missing, entries, feed)]
            result.deleted = len(changes.deleted)
        return result, changes

    async def _next(self, feed: CommentFeed, now: dt.datetime, failures: int = 0) -> dt.datetime:
        activity = parse_utc_iso(await self.feeds.last_activity(feed.review_id)) if not failures else None
        return next_poll(
            self.base, now=now, published=parse_utc_iso(feed.review_at), last_activity=activity, failures=failures,
            rng=self._rng,
        )  # fmt: skip

    async def _fail(self, feed: CommentFeed, error: str, now: dt.datetime) -> CommentPoll:
        updated = await self.feeds.record_feed_failure(
            feed.review_id, now=now, error=error, next_poll=await self._next(feed, now, feed.failure_count + 1)
        )
        count = updated.failure_count if updated else feed.failure_count + 1
        log.warning("comment feed of review %s failed (%d in a row): %s", feed.review_id, count, error)
        return CommentPoll(feed.review_id, error=error)

    # -- what staff see ------------------------------------------------------------------------

    async def statuses(self, guild_id: int) -> list[CommentFeedStatus]:
        """The comment feeds of this server's reviews: failing first (``/matinee feed list``)."""
        return await self.feeds.statuses(guild_id)

