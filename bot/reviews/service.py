"""The reviews pipeline: sources in, announcement intents out.

``ReviewService`` decides *what* gets announced *where*; it records reviews and
their intents (see :mod:`bot.storage.outbox`) and leaves the sending to
:class:`bot.reviews.delivery.DeliveryService`. Delivery rules, MonitoRSS-style:

* the first successful read of a feed records every entry and announces none
  (a subscription may ask for the newest N: ``backfill``);
* afterwards only entries newer than the newest one recorded are announced,
  oldest first, at most :data:`MAX_NEW_PER_POLL` per poll; the rest stay
  unrecorded and come in on the next polls;
* an entry seen again with different content updates the review; the caller
  then edits the existing announcements (never posts again);
* a review is one review per post address (:func:`bot.urls.normalize_post_url`):
  an entry whose link is a stored review's is that review, whether the feed
  re-keyed it (a new guid) or another feed carries it too (a category feed and
  the whole-site feed); a server gets one announcement per post;
* a feed nobody reads any more forgets its baseline: when someone subscribes
  again, what it lists is history, not news (``backfill`` still applies);
* a Markdown review whose file is deleted is withdrawn (it leaves every listing;
  what was posted stays in Discord); a file moved or renamed with the same ``url``
  or ``slug`` is the same review, and a file that comes back brings it back;
* a failing feed backs off exponentially; after :data:`DISABLE_AFTER_FAILURES`
  consecutive failures spanning :data:`DISABLE_AFTER` it is disabled and the
  subscribed guilds' log channels are told. One feed's failure never stops
  another's poll.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
import secrets
from collections.abc import Callable, Collection
from dataclasses import dataclass, field, replace
from urllib.parse import urlsplit, urlunsplit

from ..backoff import capped
from ..errors import UserFacingError
from ..models import Review
from ..problems import ANNOUNCEMENT, CHANNEL, Problem, ProblemLog
from ..storage import (
    AnnouncementRepository,
    Database,
    Feed,
    FeedRepository,
    FilmRepository,
    GuildSettingsRepository,
    MetaRepository,
    OutboxRepository,
    ReviewRepository,
    Subscription,
    Target,
)
from ..storage.blog_comments import CommentFeedRepository
from ..storage.entries import Entry, EntryRepository
from ..text import clean_text, neutralize_mentions, one_line
from ..timestamps import parse_utc_iso, utc_iso
from ..urls import normalize_post_url
from .draft import ReviewDraft, category_key, in_category, parse_rating
from .feeds import FeedParseError, parse_feed
from .fetch import FeedFetcher, FeedFetchError, FetchResult, validate_feed_url
from .film_guess import guess_film, identify_film
from .markdown import MarkdownScanner

__all__ = [
    "DISABLE_AFTER",
    "DISABLE_AFTER_FAILURES",
    "MAX_NEW_PER_POLL",
    "FeedStatus",
    "PollResult",
    "ReviewService",
]

log = logging.getLogger(__name__)

MAX_NEW_PER_POLL = 5
MAX_BACKFILL = 20
DISABLE_AFTER_FAILURES = 10
DISABLE_AFTER = dt.timedelta(days=1)
MAX_BACKOFF = dt.timedelta(hours=6)
MAX_FEEDS_PER_GUILD = 25
MAX_CATEGORY_CHARS = 100
BACKFILL_SCAN = 200  # a category's newest reviews are looked for among the feed's newest this many
POLL_CONCURRENCY = 4
MARKDOWN_SOURCE = "markdown"
DISCORD_SOURCE = "discord"
_MARKDOWN_INITIALIZED = "reviews.markdown_initialized"


def loggable_url(url: str) -> str:
    """A feed URL without its query string or credentials: private feeds carry tokens there."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return urlunsplit((parts.scheme, host + port, parts.path, "", ""))


@dataclass
class PollResult:
    """What one poll of one source did."""

    source: str
    announced: list[Review] = field(default_factory=list)  # new reviews (or another feed's) with intents written
    recorded: int = 0  # new entries stored without announcing (first read, older than the watermark, known post)
    rekeyed: int = 0  # known posts the feed now lists under another key (a changed guid)
    outside: int = 0  # new entries in no category any reader of the feed takes: not reviews, not stored
    updated: list[Review] = field(default_factory=list)  # edited reviews (their posts need editing)
    waiting: int = 0  # new entries left for later polls (cap per poll)
    not_modified: bool = False
    withdrawn: list[Review] = field(default_factory=list)  # Markdown reviews whose file was deleted
    restored: list[Review] = field(default_factory=list)  # withdrawn ones whose file came back
    error: str | None = None
    disabled: bool = False
    feed: Feed | None = None
    log_channels: list[int] = field(default_factory=list)  # where to report a disabled feed


@dataclass(frozen=True, slots=True)
class FeedStatus:
    feed: Feed
    subscription: Subscription | None
    entry_count: int


@dataclass(frozen=True, slots=True)
class Readers:
    """Which of a feed's entries are reviews for someone: every entry, or those in some reader's category.

    A builtin feed (``REVIEW_FEEDS``) and a subscription without ``category`` take
    everything; a subscription with one takes the entries listed under it (categories
    and tags alike, compared by :func:`category_key`).
    """

    everything: bool
    categories: frozenset[str] = frozenset()  # category_key of each filtering subscription

    def accepts(self, categories: list[str] | tuple[str, ...]) -> bool:
        return self.everything or any(category_key(c) in self.categories for c in categories)

    def widens(self, before: Readers) -> bool:
        """Whether entries ``before`` did not take may be reviews now (a reader with a new or no category)."""
        return not before.everything and (self.everything or not self.categories <= before.categories)


def _identifying_links(drafts: list[ReviewDraft]) -> set[str]:
    """The normalised links that name exactly one entry of the document.

    A link several entries share (every item linking to the blog's front page, a
    broken template) says nothing about which post an entry is, so those entries
    are never matched to a stored review by their link.
    """
    counts: dict[str, int] = {}
    for draft in drafts:
        key = normalize_post_url(draft.url) if draft.source_key else None
        if key is not None:
            counts[key] = counts.get(key, 0) + 1
    return {key for key, count in counts.items() if count == 1}


def _clean_category(category: str | None) -> str | None:
    """A subscription's category as staff typed it, on one line; None for none. UserFacingError if unusable."""
    text = one_line(category or "")
    if not text:
        return None
    if len(text) > MAX_CATEGORY_CHARS:
        raise UserFacingError(f"A category is at most {MAX_CATEGORY_CHARS} characters, like `reviews`.")
    if not category_key(text):
        raise UserFacingError("A category needs letters or digits, like `reviews`.")
    return text


class ReviewService:
    def __init__(
        self,
        db: Database,
        fetcher: FeedFetcher | None,
        *,
        poll_seconds: float = 300,
        reviews_dir=None,
        clock: Callable[[], dt.datetime] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.db = db
        self.fetcher = fetcher
        self.poll_seconds = poll_seconds
        self.reviews = ReviewRepository(db)
        self.feeds = FeedRepository(db)
        self.outbox = OutboxRepository(db)
        self.guilds = GuildSettingsRepository(db)
        self.films = FilmRepository(db)
        self.meta = MetaRepository(db)
        self.entries = EntryRepository(db)
        self.comment_feeds = CommentFeedRepository(db)
        self.announcements = AnnouncementRepository(db)
        self.scanner = MarkdownScanner(reviews_dir) if reviews_dir is not None else None
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self.problems = ProblemLog(db, clock=self._clock)
        self._rng = rng or random.Random()
        self._feed_locks: dict[int, asyncio.Lock] = {}
        self._poll_semaphore = asyncio.Semaphore(POLL_CONCURRENCY)
        # Entries are matched to stored posts by address; two feeds ingesting the same new post at
        # once would both find none and make two reviews. Ingesting is short (the fetch is not in it).
        self._ingest_lock = asyncio.Lock()
        self._markdown_present: frozenset[str] | None = None  # the folder's files at the last withdrawal check
        self._warned_empty_folder = False

    @property
    def _allow_private_feeds(self) -> bool:
        """Follow the fetcher: URLs are refused up front exactly when the fetcher would refuse them."""
        return self.fetcher.allow_private if self.fetcher is not None else False

    def now(self) -> dt.datetime:
        return self._clock()

    # -- targets ----------------------------------------------------------------------

    async def targets_for(self, source: str, *, feed: Feed | None = None, guild_id: int | None = None,
                          categories: list[str] | None = None) -> list[Target]:  # fmt: skip
        """Which guilds receive a review from this source, and in which channel.

        With ``categories`` (a feed entry's), a subscription that takes one category
        receives the entry only when it is listed under it.
        """
        by_guild: dict[int, int] = {}
        configured = {g.guild_id: g.announce_channel_id for g in await self.guilds.configured()}
        if source == MARKDOWN_SOURCE or (feed is not None and feed.builtin):
            by_guild.update({gid: cid for gid, cid in configured.items() if cid})
        if feed is not None:
            for sub in await self.feeds.subscriptions_of_feed(feed.id):
                if categories is not None and sub.category and not in_category(categories, sub.category):
                    continue  # not this server's category (a builtin feed still reaches it, in its own channel)
                channel = sub.channel_id or configured.get(sub.guild_id)
                if channel:
                    by_guild[sub.guild_id] = channel
        if source == DISCORD_SOURCE and guild_id is not None and configured.get(guild_id):
            by_guild[guild_id] = configured[guild_id]  # type: ignore[assignment]
        return [Target(gid, cid) for gid, cid in sorted(by_guild.items())]

    async def readers(self, feed: Feed) -> Readers:
        """Which of ``feed``'s entries someone takes as reviews (see :class:`Readers`)."""
        subs = await self.feeds.subscriptions_of_feed(feed.id)
        everything = feed.builtin or any(not sub.category for sub in subs)
        return Readers(everything, frozenset(category_key(sub.category) for sub in subs if sub.category))

    # -- recording ---------------------------------------------------------------------

    async def _identify(self, draft: ReviewDraft) -> None:
        guess = await identify_film(
            self.films, film=draft.film_title, year=draft.film_year, categories=draft.categories, title=draft.title
        )
        draft.film_title, draft.film_year, draft.film_id = guess.title, guess.year, guess.film_id

    async def _record(self, source: str, draft: ReviewDraft, targets: list[Target]) -> Review:
        await self._identify(draft)
        draft.normalise(now=self.now())
        # The slug is chosen as the review is stored: its post address's, else its title's (bot/slugs.py).
        return await self.outbox.record_review(draft.fields(source=source), targets)

    async def _prepare(self, draft: ReviewDraft, existing: Review | None = None) -> ReviewDraft:
        """Identify the film and normalise the draft, so its content hash compares with what is stored."""
        now = self.now()
        if existing is not None and existing.published_at and (draft.published_at is None or draft.published_at > now):
            # An entry that lost its date, or is still future-dated (stored clamped to when we first saw it),
            # keeps the date it had; otherwise every poll would look like an edit.
            draft.published_at = parse_utc_iso(existing.published_at)
        await self._identify(draft)
        return draft.normalise(now=now)

    async def _update(self, source: str, draft: ReviewDraft, entry: Entry) -> Review | None:
        """Store an edited entry; returns the review when anything visible changed.

        Each entry remembers the text it had, so two feeds carrying one post with
        different text (an excerpt and the full post) do not rewrite it on every poll.
        """
        existing = await self.reviews.get(entry.review_id)
        if existing is None:
            return None
        await self._prepare(draft, existing)
        if draft.content_hash == entry.content_hash:
            return None
        await self.entries.set_hash(source, entry.source_key, draft.content_hash)
        if draft.content_hash == existing.content_hash:
            return None
        return await self.reviews.update_content(existing.id, draft.fields(source=source))

    async def _keep(self, source: str, draft: ReviewDraft, known: Review | None,
                    targets: list[Target]) -> tuple[Review, int]:  # fmt: skip
        """Store an entry the source lists for the first time: a new review, or a known post's new entry."""
        if known is None:
            return await self._record(source, draft, targets), len(targets)
        await self._prepare(draft, known)
        added = await self.outbox.link_entry(source, draft.source_key, known, draft.content_hash, targets)
        return known, added

    async def ingest(self, source: str, drafts: list[ReviewDraft], *, initialized: bool, feed: Feed | None = None,
                     limit: int | None = MAX_NEW_PER_POLL,
                     listed: Collection[str] | None = None) -> PollResult:  # fmt: skip
        """Apply the delivery rules to a source's current entries (newest-first order, as feeds list them).

        ``listed`` is every key the source lists now, when ``drafts`` are only some of them
        (the Markdown folder hands over changed files only); by default, the drafts' keys.
        """
        async with self._ingest_lock:
            result = await self._ingest(source, drafts, initialized=initialized, feed=feed, limit=limit, listed=listed)
            await self._link_comment_feeds(source, drafts)
            return result

    async def _link_comment_feeds(self, source: str, drafts: list[ReviewDraft]) -> None:
        """Give each stored review the comment feed its entry names, and the post's comment count (bot/bridge)."""
        links = []
        for draft in drafts:
            if draft.comments_feed and draft.source_key:
                entry = await self.entries.get(source, draft.source_key)
                if entry is not None:  # not stored yet (waiting for a later poll): linked when it is
                    links.append((entry.review_id, draft.comments_feed, draft.comment_count))
        await self.comment_feeds.link(links)

    async def _known_by_slug(self, source: str, slug: str | None) -> Review | None:
        """The review this source gave the address ``slug`` (a Markdown file moved or renamed), if any."""
        review = await self.reviews.get_by_slug(slug) if slug else None
        if review is None or not await self.entries.of_review(source, review.id):
            return None  # another source's review that happens to have the slug is another post
        return review

    async def _ingest(self, source: str, drafts: list[ReviewDraft], *, initialized: bool, feed: Feed | None,
                      limit: int | None, listed: Collection[str] | None) -> PollResult:  # fmt: skip
        result = PollResult(source=source, feed=feed)
        listed = set(listed) if listed is not None else {draft.source_key for draft in drafts if draft.source_key}
        identifying = _identifying_links(drafts)
        fresh: list[tuple[int, ReviewDraft, Review | None]] = []
        readers = await self.readers(feed) if feed is not None else None
        for index, draft in enumerate(drafts):
            if not draft.source_key:
                continue
            entry = await self.entries.get(source, draft.source_key)
            if entry is None and readers is not None and not readers.accepts(draft.categories):
                result.outside += 1  # in no category anyone follows this feed for: not a review
                continue
            if entry is None:
                by_link = normalize_post_url(draft.url) in identifying
                known = await self.reviews.find_by_url(draft.url) if by_link else None
                known = known or await self._known_by_slug(source, draft.slug)
                own = await self.entries.of_review(source, known.id) if known is not None else []
                if not own:
                    fresh.append((index, draft, known))  # a new post, or one so far read from other sources only
                    continue
                stale = [e for e in own if e.source_key not in listed]
                if not stale:
                    # The post's own entry is still listed (now with another link): this is another post.
                    fresh.append((index, draft, None))
                    continue
                # The source lists a post it had under another key (a changed guid, a moved file): re-keyed.
                await self.entries.rekey(source, stale[0].source_key, draft.source_key)
                result.rekeyed += 1
                entry = replace(stale[0], source_key=draft.source_key)
            updated = await self._update(source, draft, entry)
            if updated is not None:
                result.updated.append(updated)
        if not fresh:
            return result
        if not initialized:
            for _, draft, known in fresh:
                await self._keep(source, draft, known, [])
                result.recorded += 1
            return result
        watermark = await self.feeds.newest_published(source)
        now = self.now()
        newer: list[tuple[int, ReviewDraft, Review | None]] = []
        for index, draft, known in fresh:
            published = min(draft.published_at, now) if draft.published_at else None
            # Strictly older only: an unseen entry dated exactly like the newest one we have
            # is news (Hugo/Jekyll dates often carry no time, so same-day reviews tie).
            if watermark and published is not None and utc_iso(published) < watermark:
                await self._keep(source, draft, known, [])  # older than what we already have: history, not news
                result.recorded += 1
            else:
                newer.append((index, draft, known))
        # Oldest first: by date; undated entries by reverse feed position (feeds list newest first).
        newer.sort(key=lambda item: (min(item[1].published_at or now, now), -item[0]))
        batch = newer if limit is None else newer[:limit]
        result.waiting = len(newer) - len(batch)
        for _, draft, known in batch:
            targets = await self.targets_for(source, feed=feed, categories=draft.categories)
            review, added = await self._keep(source, draft, known, targets)
            if known is None or added:
                result.announced.append(review)
            else:
                result.recorded += 1  # another feed brought this post first: every server here already has it
        return result

    # -- feeds -----------------------------------------------------------------------

    def _next_poll(self, now: dt.datetime, failures: int = 0) -> dt.datetime:
        base = dt.timedelta(seconds=self.poll_seconds)
        delay = capped(base, failures, MAX_BACKOFF) if failures else base
        return now + delay * self._rng.uniform(0.85, 1.15)

    async def sync_builtin_feeds(self, urls: tuple[str, ...] | list[str]) -> list[Feed]:
        valid = []
        for url in urls:
            try:
                valid.append(validate_feed_url(url, allow_private=self._allow_private_feeds))
            except FeedFetchError as exc:
                log.warning("ignoring REVIEW_FEEDS entry: %s", exc)
        return await self.feeds.set_builtin_urls(valid)

    async def poll_due(self) -> list[PollResult]:
        """Poll every due feed concurrently; each poll is isolated from the others' failures."""
        due = await self.feeds.due(self.now())

        async def one(feed: Feed) -> PollResult:
            async with self._poll_semaphore:
                try:
                    return await self.poll_feed(feed)
                except Exception as exc:  # a bug on one feed must not stop the others
                    log.exception("polling feed %s failed unexpectedly", feed.id)
                    return PollResult(source=feed.source, feed=feed, error=f"internal error ({type(exc).__name__})")

        return list(await asyncio.gather(*(one(f) for f in due)))

    async def poll_feed(self, feed: Feed, *, prefetched: FetchResult | None = None) -> PollResult:
        lock = self._feed_locks.setdefault(feed.id, asyncio.Lock())
        async with lock:
            fresh = await self.feeds.get(feed.id)
            if fresh is None:
                return PollResult(source=feed.source, error="feed removed")
            return await self._poll_locked(fresh, prefetched)

    async def _poll_locked(self, feed: Feed, prefetched: FetchResult | None = None) -> PollResult:
        if self.fetcher is None:
            raise RuntimeError("no fetcher configured")
        started = self.now()
        try:
            fetched = prefetched or await self.fetcher.fetch(
                feed.url, etag=feed.etag if feed.initialized else None,
                last_modified=feed.last_modified if feed.initialized else None,
            )  # fmt: skip
            if fetched.not_modified:
                await self.feeds.record_success(feed.id, now=started, next_poll=self._next_poll(started),
                                                etag=feed.etag, last_modified=feed.last_modified)  # fmt: skip
                return PollResult(source=feed.source, feed=feed, not_modified=True)
            parsed = await asyncio.to_thread(parse_feed, fetched.body, url=fetched.url,
                                             content_type=fetched.content_type)  # fmt: skip
        except (FeedFetchError, FeedParseError) as exc:
            return await self._fail(feed, str(exc), started)
        result = await self.ingest(feed.source, parsed.entries, initialized=feed.initialized, feed=feed)
        if not feed.initialized:
            await self.feeds.mark_initialized(feed.id)
            for sub in await self.feeds.subscriptions_of_feed(feed.id):
                await self._backfill(feed, sub)
        # With a backlog waiting, the next read must not be conditional: the unchanged document would get
        # a 304 and the waiting entries would never come in.
        backlog = result.waiting > 0
        await self.feeds.record_success(
            feed.id, now=started, next_poll=self._next_poll(started),
            etag=None if backlog else fetched.etag, last_modified=None if backlog else fetched.last_modified,
            title=parsed.title,
        )  # fmt: skip
        if backlog:
            await self.feeds.poll_soon(feed.id)  # the rest of the backlog on the next loop turn
        result.feed = await self.feeds.get(feed.id)
        if result.announced or result.updated:
            log.info("feed %s: %d new, %d edited, %d waiting", feed.id, len(result.announced), len(result.updated),
                     result.waiting)  # fmt: skip
        return result

    async def _fail(self, feed: Feed, error: str, now: dt.datetime) -> PollResult:
        updated = await self.feeds.record_failure(
            feed.id, now=now, error=error[:300], next_poll=self._next_poll(now, feed.failure_count + 1)
        )
        log.warning("feed %s (%s) failed (%d in a row): %s", feed.id, loggable_url(feed.url), updated.failure_count,
                    error)  # fmt: skip
        result = PollResult(source=feed.source, feed=updated, error=error)
        first = parse_utc_iso(updated.first_failure_at) or now
        if updated.failure_count >= DISABLE_AFTER_FAILURES and now - first >= DISABLE_AFTER:
            await self.feeds.disable(feed.id, now=now)
            result.disabled = True
            result.feed = await self.feeds.get(feed.id)
            result.log_channels = await self._log_channels(updated)
            log.warning("feed %s disabled after %d failures since %s", feed.id, updated.failure_count, first)
        return result

    async def _log_channels(self, feed: Feed) -> list[int]:
        guild_ids = {s.guild_id for s in await self.feeds.subscriptions_of_feed(feed.id)}
        configured = await self.guilds.configured()
        if feed.builtin:
            guild_ids |= {g.guild_id for g in configured}
        channels = []
        for gid in sorted(guild_ids):
            settings = await self.guilds.get(gid)
            if settings.log_channel_id:
                channels.append(settings.log_channel_id)
        return channels

    async def _backfill(self, feed: Feed, sub: Subscription) -> int:
        if sub.backfill <= 0:
            return 0
        settings = await self.guilds.get(sub.guild_id)
        channel = sub.channel_id or settings.announce_channel_id
        added = 0
        if channel:
            count = min(sub.backfill, MAX_BACKFILL)
            newest = await self.feeds.newest_reviews(feed.source, count if not sub.category else BACKFILL_SCAN)
            if sub.category:  # the newest of this server's category (oldest of them first, like newest_reviews)
                newest = [r for r in newest if in_category(r.tags, sub.category)][-count:]
            for review in newest:
                added += await self.outbox.add_intents(review, [Target(sub.guild_id, channel)])
        await self.feeds.clear_backfill(sub.guild_id, feed.id)
        return added

    async def add_feed(self, guild_id: int, url: str, *, channel_id: int | None, backfill: int = 0,
                       user_id: int | None = None,
                       category: str | None = None) -> tuple[Feed, PollResult | None, bool]:  # fmt: skip
        """Subscribe a guild to a feed, reading it right away the first time.

        ``category``: only the feed's entries listed under it (a category or tag) are
        reviews for this guild. Adding a feed again sets its channel and category anew.
        Raises :class:`UserFacingError` for a bad URL or category, a feed that can't be
        read, or a guild with nowhere to post. Returns (feed, first poll, newly subscribed).
        """
        category = _clean_category(category)
        try:
            url = validate_feed_url(url, allow_private=self._allow_private_feeds)
        except FeedFetchError as exc:
            raise UserFacingError(f"That feed URL won't work: {exc}.") from None
        settings = await self.guilds.get(guild_id)
        if not channel_id and not settings.announce_channel_id:
            raise UserFacingError("Pick a channel, or run `/matinee setup` first to set where reviews are announced.")
        backfill = max(0, min(int(backfill or 0), MAX_BACKFILL))
        existing = await self.feeds.get_by_url(url)
        if existing is None and len(await self.feeds.feeds_of_guild(guild_id)) >= MAX_FEEDS_PER_GUILD:
            raise UserFacingError(f"This server already follows {MAX_FEEDS_PER_GUILD} feeds; remove one first.")
        result: PollResult | None = None
        fetched: FetchResult | None = None
        if existing is None or not existing.initialized or existing.disabled:
            # Read it before subscribing, so a typo'd URL gets an answer now instead of silent failures.
            probe = existing or Feed(id=0, url=url)
            if self.fetcher is None:
                raise RuntimeError("no fetcher configured")
            try:
                fetched = await self.fetcher.fetch(probe.url)
                await asyncio.to_thread(parse_feed, fetched.body, url=fetched.url, content_type=fetched.content_type)
            except (FeedFetchError, FeedParseError) as exc:
                raise UserFacingError(f"I couldn't read that feed: {exc}.") from None
        feed = await self.feeds.ensure(url)
        if feed.disabled:
            await self.feeds.enable(feed.id)
        # Under the feed's lock, so no poll runs between subscribing and settling what is history.
        async with self._feed_locks.setdefault(feed.id, asyncio.Lock()):
            before = await self.readers(feed)
            sub, new = await self.feeds.subscribe(guild_id, feed.id, channel_id=channel_id, backfill=backfill,
                                                  created_by=user_id, category=category)  # fmt: skip
            current = await self.feeds.get(feed.id) or feed
            if current.initialized and (await self.readers(current)).widens(before):
                await self._settle_history(current, before, fetched)
        # Adding it again says where its reviews go now, so a deleted channel's notice is settled.
        await self.problems.resolve(guild_id, CHANNEL, feed_id=feed.id, resolution="replaced")
        feed = await self.feeds.get(feed.id) or feed
        if feed.initialized:
            if new:
                await self._backfill(feed, sub)
        else:
            result = await self.poll_feed(feed, prefetched=fetched)  # the document we just read
        return (await self.feeds.get(feed.id)) or feed, result, new

    async def _settle_history(self, feed: Feed, before: Readers, fetched: FetchResult | None) -> None:
        """A server now takes entries of ``feed`` that nobody took before (a new or no category).

        Those entries were never stored, so the next poll would take the ones newer than
        the feed's newest review for news, and announce posts published before the server
        subscribed. What the feed lists of them now is recorded as history instead, as a
        first read would; entries someone already took are left to the polls as before.
        """
        if self.fetcher is None:
            return
        try:
            fetched = fetched or await self.fetcher.fetch(feed.url)
            parsed = await asyncio.to_thread(parse_feed, fetched.body, url=fetched.url,
                                             content_type=fetched.content_type)  # fmt: skip
        except (FeedFetchError, FeedParseError) as exc:
            log.warning("feed %s: could not read it to record its older entries as history: %s", feed.id, exc)
            return
        newly = [draft for draft in parsed.entries if not before.accepts(draft.categories)]
        if newly:
            await self.ingest(feed.source, newly, initialized=False, feed=feed, limit=None)

    async def remove_feed(self, guild_id: int, feed_id: int) -> Feed:
        """Unsubscribe; a feed left without readers takes a fresh baseline when someone subscribes again."""
        feed = await self.feeds.get(feed_id)
        if feed is None or not await self.feeds.unsubscribe(guild_id, feed_id):
            raise UserFacingError("This server doesn't follow that feed. Pick one from the list.")
        await self.problems.resolve(guild_id, CHANNEL, feed_id=feed_id, resolution="obsolete")
        return feed

    async def feed_statuses(self, guild_id: int) -> list[FeedStatus]:
        """The guild's subscribed feeds plus the builtin ones it receives."""
        out = []
        seen = set()
        for feed, sub in await self.feeds.feeds_of_guild(guild_id):
            out.append(FeedStatus(feed, sub, await self.feeds.entry_count(feed.id)))
            seen.add(feed.id)
        settings = await self.guilds.get(guild_id)
        if settings.announce_channel_id:
            for feed in await self.feeds.all():
                if feed.builtin and feed.id not in seen:
                    out.append(FeedStatus(feed, None, await self.feeds.entry_count(feed.id)))
        return out

    # -- channels, set-up and problems -----------------------------------------------------

    async def set_up_guild(self, guild_id: int, *, announce_channel_id: int, ping_role_id: int | None,
                           log_channel_id: int | None) -> None:  # fmt: skip
        """``/matinee setup``: where reviews go; announcements waiting for a channel are retried there now."""
        await self.guilds.update(guild_id, announce_channel_id=announce_channel_id, ping_role_id=ping_role_id,
                                 log_channel_id=log_channel_id)  # fmt: skip
        await self.problems.resolve(guild_id, CHANNEL, resolution="replaced")
        await self.problems.retry_now(guild_id)

    async def channel_gone(self, guild_id: int, channel_id: int) -> int | None:
        """A channel reviews were posted to was deleted: its feeds fall back to the announcement channel.

        Called when Discord says so (a channel-delete event) and when a send finds the
        channel missing (it was deleted while the bot was away). Each subscription that
        pointed there now uses the server's announcement channel, and staff are told
        (a ``channel`` problem); unsent announcements for the channel move there too.
        Returns the channel that takes over, or None when there is none (the deleted
        channel *was* the announcement channel: announcements wait for ``/matinee setup``).
        """
        settings = await self.guilds.get(guild_id)
        announce = settings.announce_channel_id
        fallback = announce if announce and announce != channel_id else None
        for feed, sub in await self.feeds.feeds_of_guild(guild_id):
            if sub.channel_id == channel_id:
                await self.feeds.set_channel(guild_id, feed.id, None)
                await self.problems.failed(guild_id, CHANNEL, feed_id=feed.id, channel_id=channel_id, retry=False,
                                           error="the feed's channel was deleted")  # fmt: skip
                log.warning("feed %s of guild %s: channel %s was deleted; falling back to %s", feed.id, guild_id,
                            channel_id, announce)  # fmt: skip
        if announce == channel_id:
            await self.problems.failed(guild_id, CHANNEL, channel_id=channel_id, retry=False,
                                       error="the announcement channel was deleted")  # fmt: skip
        if fallback is not None:
            await self.outbox.retarget(guild_id, channel_id, fallback)
            await self.problems.retry_now(guild_id, channel_id=channel_id)
        return fallback

    async def problems_for(self, guild_id: int) -> list[Problem]:
        """What staff should see: open problems, then those resolved within the last day."""
        return await self.problems.for_guild(guild_id)

    async def retry_problems(self, guild_id: int) -> int:
        """``/matinee feed retry``: try every open announcement and thread problem again now, for another day."""
        return await self.problems.retry_now(guild_id)

    async def dismiss_problems(self, guild_id: int) -> list[Problem]:
        """``/matinee feed dismiss``: close the guild's open problems; their unsent announcements are dropped."""
        dismissed = await self.problems.dismiss(guild_id)
        for problem in dismissed:
            if problem.kind == ANNOUNCEMENT and problem.review_id is not None:
                await self.outbox.drop(problem.review_id, guild_id)
        return dismissed

    # -- Markdown folder ------------------------------------------------------------------

    async def scan_markdown(self) -> PollResult:
        """Read new and changed files, then withdraw the reviews whose files are gone (and restore returning ones).

        Moves are matched first (a new file with a gone file's ``url`` or ``slug`` takes
        over its review), so a rename never withdraws anything.
        """
        result = PollResult(source=MARKDOWN_SOURCE)
        if self.scanner is None:
            return result
        scanned = await asyncio.to_thread(self.scanner.scan)
        present = self.scanner.present
        drafts = []
        for item in scanned:
            if item.draft is None:
                log.warning("skipping review file %s: %s", item.key, item.error)
            else:
                drafts.append(item.draft)
        initialized = await self.meta.get(_MARKDOWN_INITIALIZED) == "1"
        if drafts:
            # Files have no "feed order"; newest-first by date mimics one, so undated files go last.
            drafts.sort(key=lambda d: d.published_at or self.now(), reverse=True)
            result = await self.ingest(MARKDOWN_SOURCE, drafts, initialized=initialized, limit=None, listed=present)
        if not initialized:
            await self.meta.set(_MARKDOWN_INITIALIZED, "1")
        if present is not None and (drafts or present != self._markdown_present):
            result.withdrawn, result.restored = await self._withdraw_gone_files(present)
            self._markdown_present = present
        return result

    async def _withdraw_gone_files(self, present: frozenset[str]) -> tuple[list[Review], list[Review]]:
        """Withdraw Markdown reviews none of whose files is in the folder; restore withdrawn ones that are back."""
        gone, back = [], []
        for review_id, (keys, withdrawn) in (await self.entries.listed_reviews(MARKDOWN_SOURCE)).items():
            there = not keys.isdisjoint(present)
            if there and withdrawn:
                back.append(review_id)
            elif not there and not withdrawn:
                gone.append(review_id)
        if gone and not present:
            # An empty folder is far more often an unmounted volume or a checkout in progress than
            # a blog that deleted every review at once: withdraw nothing until a file is there.
            if not self._warned_empty_folder:
                log.warning("the reviews folder has no review files; not withdrawing its %d reviews", len(gone))
                self._warned_empty_folder = True
            gone = []
        else:
            self._warned_empty_folder = False
        withdrawn = await self.reviews.set_withdrawn(gone, True)
        restored = await self.reviews.set_withdrawn(back, False)
        for review in withdrawn:
            # An announcement that never went out is not wanted any more (it waits, should the file return).
            for announcement in await self.announcements.for_review(review.id):
                if announcement.state == "pending":
                    await self.problems.resolve(announcement.guild_id, ANNOUNCEMENT, review_id=review.id,
                                                resolution="obsolete")  # fmt: skip
            log.info("review %s (%s) withdrawn: its Markdown file was deleted", review.id, review.slug)
        for review in restored:
            log.info("review %s (%s) is back: its Markdown file returned", review.id, review.slug)
        return withdrawn, restored

    async def withdrawal_log_channels(self, review: Review) -> list[int]:
        """The log channels of the servers that announced (or were to announce) this review."""
        channels = []
        for guild_id in sorted({a.guild_id for a in await self.announcements.for_review(review.id)}):
            settings = await self.guilds.get(guild_id)
            if settings.log_channel_id:
                channels.append(settings.log_channel_id)
        return channels

    # -- reviews written in Discord ------------------------------------------------------------

    async def post_discord_review(self, guild_id: int, *, author: str, film: str, title: str, rating: str,
                                  body: str) -> Review:  # fmt: skip
        settings = await self.guilds.get(guild_id)
        if not settings.announce_channel_id:
            raise UserFacingError("Run `/matinee setup` first, so I know where to announce reviews.")
        parsed_rating = parse_rating(rating) if rating and rating.strip() else None
        if rating and rating.strip() and parsed_rating is None:
            raise UserFacingError("The rating should be 0–5, like `4`, `3.5`, `4/5` or `★★★½`.")
        if not (film or "").strip() or not (body or "").strip():
            raise UserFacingError("A review needs a film and some text.")
        guess = guess_film(film=film)
        draft = ReviewDraft(
            source_key=f"{guild_id}:{secrets.token_hex(8)}",
            title=(title or "").strip() or f"Review: {guess.title}",
            body_md=body.strip(),
            author=author,
            film_title=guess.title,
            film_year=guess.year,
            rating=parsed_rating,
            published_at=self.now(),
        )
        draft.body_md = neutralize_mentions(clean_text(draft.body_md))
        targets = await self.targets_for(DISCORD_SOURCE, guild_id=guild_id)
        return await self._record(DISCORD_SOURCE, draft, targets)
