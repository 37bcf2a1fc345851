"""Exactly-once delivery of announcements: the outbox worker.

The protocol, per (review, guild) intent:

1. the intent (a pending ``announcements`` row with a random nonce) already
   exists - it was written with the review, before anything was sent;
2. if the intent was attempted before (``attempts > 0``) a send may have reached
   Discord before a crash, so the channel's recent history is checked first
   (the nonce, else the embed URL) and a found post is adopted, not re-sent;
3. ``attempts`` is bumped durably, then the post is sent (with ``nonce`` +
   ``enforce_nonce``, so even a retry within Discord's dedupe window is safe);
4. ``state = 'sent'`` and the message/thread ids are stored, and ``on_sent`` is
   called (the cog dispatches ``review_announced``).

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
from typing import Protocol

from ..models import Announcement, Review
from ..storage import OutboxRepository, PendingAnnouncement, ReviewRepository

__all__ = ["Delivered", "DeliveryError", "DeliveryReport", "DeliveryService", "Transport"]

log = logging.getLogger(__name__)

DEFAULT_CONCURRENCY = 8
MAX_ATTEMPTS = 8  # transient failures beyond this drop the intent (and tell the log channel)


@dataclass(frozen=True, slots=True)
class Delivered:
    channel_id: int
    message_id: int
    thread_id: int | None = None


class DeliveryError(Exception):
    """Sending failed. ``permanent``: retrying can't help (channel deleted, access revoked)."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class Transport(Protocol):
    async def send(self, review: Review, announcement: Announcement) -> Delivered: ...

    async def find_existing(self, review: Review, announcement: Announcement) -> Delivered | None: ...

    async def edit(self, review: Review, announcement: Announcement) -> bool: ...


@dataclass
class DeliveryReport:
    sent: int = 0
    adopted: int = 0  # found already posted during reconciliation
    failed: int = 0
    dropped: int = 0


SentCallback = Callable[[Review, Announcement], Awaitable[None] | None]
DroppedCallback = Callable[[Review, Announcement, str], Awaitable[None] | None]


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
        concurrency: int = DEFAULT_CONCURRENCY,
        on_sent: SentCallback | None = None,
        on_dropped: DroppedCallback | None = None,
    ) -> None:
        self.outbox = outbox
        self.reviews = reviews
        self.transport = transport
        self.on_sent = on_sent
        self.on_dropped = on_dropped
        self._semaphore = asyncio.Semaphore(concurrency)
        self._run_lock = asyncio.Lock()  # one delivery pass at a time: two would double-send

    async def deliver_pending(self) -> DeliveryReport:
        """Deliver every pending intent (reconciling previously attempted ones first)."""
        async with self._run_lock:
            report = DeliveryReport()
            by_guild: dict[int, list[PendingAnnouncement]] = defaultdict(list)
            for item in await self.outbox.pending():
                by_guild[item.announcement.guild_id].append(item)
            if not by_guild:
                return report
            await asyncio.gather(*(self._deliver_guild(items, report) for items in by_guild.values()))
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
            return True
        try:
            found = await self.transport.find_existing(review, ann) if item.attempts > 0 else None
            if found is not None:
                log.info("review %s was already posted in guild %s; adopting it", review.id, ann.guild_id)
                await self._confirm(review, ann, found)
                report.adopted += 1
                return True
            if item.attempts >= MAX_ATTEMPTS:
                raise DeliveryError(f"gave up after {item.attempts} attempts", permanent=True)
            await self.outbox.begin_attempt(ann.review_id, ann.guild_id)
            delivered = await self.transport.send(review, ann)
        except DeliveryError as exc:
            if exc.permanent:
                await self.outbox.drop(ann.review_id, ann.guild_id)
                report.dropped += 1
                log.warning("dropped the announcement of review %s in guild %s: %s", review.id, ann.guild_id, exc)
                await _call(self.on_dropped, review, ann, str(exc))
                return True
            await self.outbox.record_error(ann.review_id, ann.guild_id, str(exc))
            report.failed += 1
            log.warning("announcing review %s in guild %s failed (will retry): %s", review.id, ann.guild_id, exc)
            return False
        await self._confirm(review, ann, delivered)
        report.sent += 1
        return True

    async def _confirm(self, review: Review, ann: Announcement, delivered: Delivered) -> None:
        stored = await self.outbox.mark_sent(
            ann.review_id,
            ann.guild_id,
            channel_id=delivered.channel_id,
            message_id=delivered.message_id,
            thread_id=delivered.thread_id,
        )
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
