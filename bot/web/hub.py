"""The change-log tailer: how every HTTP process learns that a discussion changed.

One :class:`ChangeHub` per process reads ``web_changes`` a few times a second on
the read connection and does two things with what it finds: it tells the
:class:`~bot.web.public.PublicDiscussions` service which reviews changed (so
cached pages are rebuilt), and it turns the changes of reviews that have live
readers into events, encoded once and handed to every subscriber of that review.

The bot's own server and any number of ``matinee web`` processes run this same
code against the same database file; nothing is pushed between processes, so
there is no second path that could disagree. A subscriber is a tiny object (a
list and an :class:`asyncio.Event`): a thousand open streams cost a thousand of
those and no tasks beyond the requests' own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Sequence

from ..storage.web import Change, WebRepository
from .public import Event, PublicDiscussions

__all__ = ["ChangeHub", "Subscription"]

log = logging.getLogger(__name__)

MAX_PENDING = 256  # events queued for one slow reader before it is told to reload instead
REPLAY_LIMIT = 2000  # changes replayed after Last-Event-ID before "reload" is cheaper
_BATCH = 5000


class Subscription:
    """One live reader of one review: events wait here until the stream writes them."""

    __slots__ = ("_wake", "closed", "overflowed", "pending", "review_id")

    def __init__(self, review_id: int) -> None:
        self.review_id = review_id
        self.pending: list[tuple[int, bytes]] = []
        self.overflowed = False
        self.closed = False
        self._wake = asyncio.Event()

    def push(self, frames: Sequence[tuple[int, bytes]]) -> None:
        """Queue encoded events (seq, bytes); a reader too far behind is marked to reload instead."""
        if len(self.pending) + len(frames) > MAX_PENDING:
            self.overflowed = True
            self.pending.clear()
        else:
            self.pending.extend(frames)
        self._wake.set()

    def close(self) -> None:
        self.closed = True
        self._wake.set()

    async def wait(self, timeout: float) -> None:
        """Until something is pending, the stream is closed, or ``timeout`` seconds pass."""
        if self.pending or self.closed or self.overflowed:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout)
        self._wake.clear()

    def take(self) -> list[tuple[int, bytes]]:
        frames, self.pending = self.pending, []
        return frames


class ChangeHub:
    """Tails the change log for this process and fans events out to live readers."""

    def __init__(self, repository: WebRepository, service: PublicDiscussions, *, interval: float = 0.1) -> None:
        self.repository = repository
        self.service = service
        self.interval = interval
        self.position = 0  # the newest seq this process has seen
        self._subscribers: dict[int, set[Subscription]] = defaultdict(set)
        self._task: asyncio.Task[None] | None = None
        self._started = asyncio.Event()
        self.ticks = 0

    @property
    def subscriber_count(self) -> int:
        return sum(len(s) for s in self._subscribers.values())

    async def start(self) -> None:
        """Begin tailing at the log's current end (history is served by replay, not by the tailer)."""
        if self._task is not None:
            return
        self.position = await self.repository.max_seq()
        self._task = asyncio.create_task(self._run(), name="matinee-web-tailer")
        self._started.set()

    async def close(self) -> None:
        """Stop tailing and end every stream (each handler returns at once)."""
        for subscribers in self._subscribers.values():
            for subscription in subscribers:
                subscription.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def subscribe(self, review_id: int) -> Subscription:
        subscription = Subscription(review_id)
        self._subscribers[review_id].add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        subscribers = self._subscribers.get(subscription.review_id)
        if subscribers is not None:
            subscribers.discard(subscription)
            if not subscribers:
                del self._subscribers[subscription.review_id]

    async def replay(self, review_id: int, since: int) -> list[Event]:
        """Events of ``review_id`` after ``since`` (Last-Event-ID), as the review stands now.

        When the log no longer reaches back that far (pruned), or the gap is long,
        one "reload" is cheaper and just as correct.
        """
        changes, newest, horizon = await self.repository.review_changes_after(review_id, since, REPLAY_LIMIT)
        if since < horizon or len(changes) >= REPLAY_LIMIT or since > newest:
            return [Event(max(newest, self.position), "reload", {"review_id": review_id})]
        return await self.service.events(review_id, changes)

    async def _run(self) -> None:
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reading the web change log failed; retrying")
                await asyncio.sleep(min(5.0, self.interval * 20))
            await asyncio.sleep(self.interval)

    async def tick(self) -> int:
        """Read and deliver what changed since the last tick; returns how many changes were read."""
        self.ticks += 1
        changes = await self.repository.changes_after(self.position, _BATCH)
        if not changes:
            return 0
        self.service.changed(changes)
        by_review: dict[int, list[Change]] = defaultdict(list)
        for change in changes:
            by_review[change.review_id].append(change)
        for review_id, review_changes in by_review.items():
            subscribers = self._subscribers.get(review_id)
            if not subscribers:
                continue
            try:
                events = await self.service.events(review_id, review_changes)
            except Exception:
                log.exception("could not build live events for review %s; its readers reload", review_id)
                events = [Event(review_changes[-1].seq, "reload", {"review_id": review_id})]
            frames = [(event.seq, event.encode()) for event in events]
            for subscription in list(subscribers):
                subscription.push(frames)
        self.position = changes[-1].seq
        return len(changes)
