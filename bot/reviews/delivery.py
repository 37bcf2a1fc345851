"""Exactly-once delivery of announcements: the outbox worker.

The protocol, per (review, guild) intent:

1. the intent (a pending ``announcements`` row with a random nonce) already
   exists - it was written with the review, before anything was sent;
2. if the intent was attempted before (``attempts > 0``) a send may have reached
   Discord before a crash, so the channel's recent history is checked first
   (the nonce, else the embed URL) and a found post is adopted, not re-sent;
3. ``attempts`` is bumped durably, then the post is sent (with ``nonce`` +
   ``enforce_nonce``, so even a retry within Discord's dedupe window is safe; a
   forum post takes no nonce, so the transport sends it once and reports a 5xx
   instead of letting discord.py retry it);
4. a send that failed without a clear "no" (a 5xx, a timeout) may still have
   reached Discord: the channel is looked at again at once, and a found post is
   adopted; otherwise the intent waits for the next turn, which looks first too;
5. ``state = 'sent'`` and the message/thread ids are stored, and ``on_sent`` is
   called (the cog dispatches ``review_announced``).

Nothing is dropped silently. A refusal staff can fix (403: a missing
permission), a payload Discord refuses (400), or Discord failing
:data:`MAX_ATTEMPTS` times in a row becomes a delivery problem
(:mod:`bot.problems`): visible to staff, retried at a bounded pace for a day,
then kept until staff act; the intent stays pending meanwhile. A deleted channel
hands its intents to the server's announcement channel (``reroute``).

Guilds are served concurrently (bounded by a semaphore), each guild's intents
sequentially and oldest first so a channel reads in publication order. The
Discord side lives behind :class:`Transport` (implemented in the reviews cog),
which keeps this module free of discord.py.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from ..models import Announcement, Review
from ..problems import ANNOUNCEMENT, ProblemLog
from ..storage import OutboxRepository, PendingAnnouncement, ReviewRepository

__all__ = ["Delivered", "DeliveryError", "DeliveryReport", "DeliveryService", "Failure", "Transport"]

log = logging.getLogger(__name__)

DEFAULT_CONCURRENCY = 8
MAX_ATTEMPTS = 8  # consecutive transient failures before the intent becomes a problem staff can see
MAX_PASSES = 3  # a pass that rerouted intents to a fallback channel is followed by another


@dataclass(frozen=True, slots=True)
class Delivered:
    channel_id: int
    message_id: int
    thread_id: int | None = None


class Failure(Enum):
    """What a failed send means for retrying it."""

    TRANSIENT = "transient"  # Discord did not answer properly (5xx, timeouts): retried on the next turns
    FORBIDDEN = "forbidden"  # refused for lack of a permission or access (403): staff can fix it
    GONE = "gone"  # the channel no longer exists (404)
    REFUSED = "refused"  # Discord refused the payload itself (400): retrying the same request can't help


class DeliveryError(Exception):
    """Sending failed; ``failure`` says how, ``status`` is Discord's HTTP status when it answered."""

    def __init__(self, message: str, *, failure: Failure = Failure.TRANSIENT, status: int | None = None) -> None:
        super().__init__(message)
        self.failure = failure
        self.status = status

    @property
    def permanent(self) -> bool:
        """Retrying the same request at once can't help (it may after staff act)."""
        return self.failure is not Failure.TRANSIENT


class Transport(Protocol):
    async def send(self, review: Review, announcement: Announcement) -> Delivered: ...

    async def find_existing(self, review: Review, announcement: Announcement) -> Delivered | None: ...

    async def edit(self, review: Review, announcement: Announcement) -> bool: ...


@dataclass
class DeliveryReport:
    sent: int = 0
    adopted: int = 0  # found already posted during reconciliation
    failed: int = 0  # transient failures, retried on the next pass
    deferred: int = 0  # became (or stayed) a delivery problem
    rerouted: int = 0  # a deleted channel's intents moved to the announcement channel
    dropped: int = 0  # the review itself no longer exists


SentCallback = Callable[[Review, Announcement], Awaitable[None] | None]
# (guild id, deleted channel id) -> the channel that takes over, or None when there is none.
RerouteCallback = Callable[[int, int], Awaitable[int | None]]

NO_FALLBACK = (
    "the channel was deleted and the server has no other announcement channel; "
    "run `/matinee setup` to pick one and the review will be announced there"
)


async def _call(callback, *args) -> None:
    if callback is None:
        return
    try:
        result = callback(*args)
        if asyncio.iscoroutine(result):
            await result
    except Exception:
        log.exception("announcement callback failed")


class DeliveryService:
    def __init__(
        self,
        outbox: OutboxRepository,
        reviews: ReviewRepository,
        transport: Transport,
        *,
        problems: ProblemLog | None = None,
        concurrency: int = DEFAULT_CONCURRENCY,
        on_sent: SentCallback | None = None,
        reroute: RerouteCallback | None = None,
    ) -> None:
        self.outbox = outbox
        self.reviews = reviews
        self.transport = transport
        self.problems = problems or ProblemLog(outbox.database)
        self.on_sent = on_sent
        self.reroute = reroute
        self._semaphore = asyncio.Semaphore(concurrency)
        self._run_lock = asyncio.Lock()  # one delivery pass at a time: two would double-send

    async def deliver_pending(self) -> DeliveryReport:
        """Deliver every intent that is due (reconciling previously attempted ones first)."""
        async with self._run_lock:
            report = DeliveryReport()
            for _ in range(MAX_PASSES):
                rerouted = report.rerouted
                by_guild: dict[int, list[PendingAnnouncement]] = defaultdict(list)
                for item in await self.outbox.pending(self.problems.now()):
                    by_guild[item.announcement.guild_id].append(item)
                if not by_guild:
                    break
                await asyncio.gather(*(self._deliver_guild(items, report) for items in by_guild.values()))
                if report.rerouted == rerouted:
                    break  # nothing moved to a fallback channel: nothing more to do in this turn
            return report

    async def _deliver_guild(self, items: list[PendingAnnouncement], report: DeliveryReport) -> None:
        async with self._semaphore:
            for item in items:
                try:
                    ok = await self._deliver_one(item, report)
                except Exception:
                    log.exception("unexpected error delivering review %s to guild %s",
                                  item.announcement.review_id, item.announcement.guild_id)  # fmt: skip
                    report.failed += 1
                    ok = False
                if not ok:
                    break  # keep this guild's order: later reviews wait for the earlier one

    async def _deliver_one(self, item: PendingAnnouncement, report: DeliveryReport) -> bool:
        ann = item.announcement
        review = await self.reviews.get(ann.review_id)
        if review is None:
            await self.outbox.drop(ann.review_id, ann.guild_id)
            report.dropped += 1
            return True
        try:
            found = await self.transport.find_existing(review, ann) if item.attempts > 0 else None
            if found is not None:
                log.info("review %s was already posted in guild %s; adopting it", review.id, ann.guild_id)
                await self._confirm(review, ann, found)
                report.adopted += 1
                return True
            await self.outbox.begin_attempt(ann.review_id, ann.guild_id)
        except DeliveryError as exc:
            return await self._failed(item, review, exc, report)
        try:
            delivered = await self.transport.send(review, ann)
        except DeliveryError as exc:
            found = await self._look_after_failure(review, ann, exc)
            if found is None:
                return await self._failed(item, review, exc, report)
            log.info("review %s reached guild %s although the send failed (%s); adopting it", review.id,
                     ann.guild_id, exc)  # fmt: skip
            await self._confirm(review, ann, found)
            report.adopted += 1
            return True
        await self._confirm(review, ann, delivered)
        report.sent += 1
        return True

    async def _look_after_failure(self, review: Review, ann: Announcement, exc: DeliveryError) -> Delivered | None:
        """After a send with no clear answer, the post Discord may have made anyway (None: not found)."""
        if exc.permanent:
            return None  # Discord said no: nothing was made
        try:
            return await self.transport.find_existing(review, ann)
        except DeliveryError as again:
            log.info("could not look for review %s in guild %s after a failed send: %s", review.id, ann.guild_id,
                     again)  # fmt: skip
            return None

    async def _failed(
        self, item: PendingAnnouncement, review: Review, exc: DeliveryError, report: DeliveryReport
    ) -> bool:
        """Decide what a failed send becomes; False stops this guild's turn (to keep its order)."""
        ann = item.announcement
        await self.outbox.record_error(ann.review_id, ann.guild_id, str(exc))
        error, retry = str(exc), True
        if exc.failure is Failure.GONE:
            fallback = await self.reroute(ann.guild_id, ann.channel_id) if self.reroute is not None else None
            if fallback is not None:
                log.info("channel %s of guild %s is gone; review %s goes to channel %s instead",
                         ann.channel_id, ann.guild_id, review.id, fallback)  # fmt: skip
                report.rerouted += 1
                return True
            error, retry = NO_FALLBACK, False  # waits for /matinee setup (which retries it)
        elif exc.failure is Failure.TRANSIENT:
            if not item.retrying and item.attempts + 1 < MAX_ATTEMPTS:
                report.failed += 1
                log.warning("announcing review %s in guild %s failed (will retry): %s", review.id, ann.guild_id, exc)
                return False
        elif exc.failure is Failure.REFUSED:
            retry = False
        problem = await self.problems.failed(
            ann.guild_id, ANNOUNCEMENT, review_id=review.id, channel_id=ann.channel_id, error=error,
            status=exc.status, retry=retry,
        )  # fmt: skip
        report.deferred += 1
        log.warning("could not announce review %s in guild %s (%s); %s", review.id, ann.guild_id, error,
                    f"next try {problem.next_retry_at}" if problem.retrying else "waiting for staff")  # fmt: skip
        return True

    async def _confirm(self, review: Review, ann: Announcement, delivered: Delivered) -> None:
        stored = await self.outbox.mark_sent(
            ann.review_id,
            ann.guild_id,
            channel_id=delivered.channel_id,
            message_id=delivered.message_id,
            thread_id=delivered.thread_id,
        )
        await self.problems.succeeded(ann.guild_id, ANNOUNCEMENT, review_id=review.id)
        await _call(self.on_sent, review, stored)

    async def propagate_edit(self, review: Review) -> int:
        """Edit every sent announcement of a changed review (never posts a second one)."""
        announcements = await self.outbox.sent_for_review(review.id)

        async def edit(ann: Announcement) -> bool:
            async with self._semaphore:
                try:
                    return await self.transport.edit(review, ann)
                except Exception:
                    log.exception("editing the announcement of review %s in guild %s failed", review.id, ann.guild_id)
                    return False

        results = await asyncio.gather(*(edit(a) for a in announcements))
        return sum(1 for r in results if r)
