"""Nothing lost while Matinee was not listening: backfill and reconcile after downtime.

On start-up and after every reconnect, each open review thread's history after
its cursor (the newest stored message) is read and stored. After a fresh session
(not a RESUME, which replays missed events) the newest stored comments are
re-read to catch edits, deletions and reactions, open polls' voters are read to
catch up with votes, and polls that ended meanwhile get their final counts. An
archived thread is read again when it is unarchived.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Mapping
from typing import Literal

from ..storage import DiscussionThreadRepository, PollRepository
from ..timestamps import utc_iso
from .service import CommentService, DiscussionIndex, IncomingMessage, PollService, plan_backfill
from .transport import ThreadTransport, TransportError

__all__ = ["BACKFILL_PAGE", "RECONCILE_WINDOW", "BackfillService", "CatchUpReason"]

log = logging.getLogger(__name__)

BACKFILL_PAGE = 100  # messages stored per batch while reading a thread's history
# After a fresh session the newest this many messages of each open thread are
# re-read. Older comments are not re-checked: the cost of a start-up must stay
# bounded however long the discussions are.
RECONCILE_WINDOW = 100

# "ready": a new gateway session (events were lost); "resumed": Discord replayed the
# missed events; "manual": asked for by hand.
CatchUpReason = Literal["ready", "resumed", "manual"]


class BackfillService:
    def __init__(
        self,
        transport: ThreadTransport,
        *,
        index: DiscussionIndex,
        threads: DiscussionThreadRepository,
        comments: CommentService,
        polls: PollRepository,
        poll_service: PollService,
    ) -> None:
        self._transport = transport
        self._index = index
        self._threads = threads
        self._comments = comments
        self._polls = polls
        self._poll_service = poll_service
        self._snapshot: dict[int, int] | None = None
        self._catch_up_task: asyncio.Task[int] | None = None
        self._thread_tasks: dict[int, asyncio.Task[None]] = {}
        self.backfilled_messages = 0  # observable in tests and diagnostics
        self.catch_ups_done = 0  # completed catch-up passes: what a test waits on before looking

    # -- cursors --------------------------------------------------------------------------

    async def remember_cursors(self) -> None:
        """Note where each thread stood, once, before live messages can move the cursors.

        Called before connecting and when the connection drops: messages that
        arrive live right after reconnecting must not move the next backfill's
        starting point past what was said while we were away.
        """
        if self._snapshot is None:
            self._snapshot = await self._threads.cursors()

    # -- catching up ------------------------------------------------------------------------

    def start_catch_up(self, reason: CatchUpReason) -> None:
        """Run :meth:`catch_up` in the background; a newer session replaces a pass still running."""
        if self._catch_up_task is not None and not self._catch_up_task.done():
            self._catch_up_task.cancel()
        self._catch_up_task = asyncio.create_task(self.catch_up(reason), name="matinee-backfill")

    async def catch_up(self, reason: CatchUpReason = "manual") -> int:
        """Store what was said in every open review thread while we were not listening; returns how many."""
        snapshot, self._snapshot = self._snapshot, None
        open_threads = self._transport.open_threads(self._index.thread_ids)
        stored = 0
        for plan in await plan_backfill(self._threads, open_threads, snapshot):
            stored += await self.backfill_thread(plan.thread_id, plan.after_id)
        if reason == "ready":  # a RESUME replays missed events, votes included; a new session does not
            for thread_id in open_threads:
                await self.reconcile_recent_comments(thread_id)
                await self.reconcile_poll_votes(thread_id)
        await self.collect_ended_polls()
        if stored:
            log.info("backfill (%s): stored %d messages from %d open threads", reason, stored, len(open_threads))
        self.catch_ups_done += 1
        return stored

    async def backfill_thread(self, thread_id: int, after_id: int) -> int:
        """Store the thread's messages newer than ``after_id``, a page at a time; returns how many were comments."""
        stored = 0
        page: list[IncomingMessage] = []
        try:
            async for message in self._transport.messages_after(thread_id, after_id):
                page.append(message)
                if len(page) >= BACKFILL_PAGE:
                    stored += await self._comments.ingest_many(page)
                    page = []
            if page:
                stored += await self._comments.ingest_many(page)
        except TransportError as exc:
            log.warning("could not backfill thread %s: %s", thread_id, exc)
        self.backfilled_messages += stored
        return stored

    async def reconcile_recent_comments(self, thread_id: int) -> tuple[int, int]:
        """Edits, deletions and reactions of stored comments made while no events reached us.

        Returns (deleted, changed) counts.
        """
        newest = await self._threads.last_message_id(thread_id)
        if not newest:
            return 0, 0
        try:
            history = await self._transport.messages_before(thread_id, newest + 1, RECONCILE_WINDOW)
        except TransportError as exc:
            log.info("could not re-read thread %s: %s", thread_id, exc)
            return 0, 0
        # A short page is the whole thread: anything stored and not in it was deleted.
        oldest = min((m.message_id for m in history), default=newest) if len(history) >= RECONCILE_WINDOW else 0
        deleted, changed = await self._comments.reconcile(thread_id, history, oldest_id=oldest, newest_id=newest)
        if deleted or changed:
            log.info("thread %s: %d comments deleted and %d changed while we were away", thread_id, deleted, changed)
        return deleted, changed

    async def reconcile_poll_votes(self, thread_id: int) -> int:
        """Votes cast or retracted while we were down: read the open poll's voters and catch up."""
        record = await self._threads.get(thread_id)
        if record is None or not record.opening_message_id:
            return 0
        info = await self._polls.get_poll(record.opening_message_id)
        if info is None or info.finalized:
            return 0
        try:
            voters: Mapping[int, int] | None = await self._transport.poll_voters(thread_id, info.message_id)
        except TransportError as exc:
            log.info("could not read the voters of poll %s: %s", info.message_id, exc)
            return 0
        if voters is None:
            return 0  # ended meanwhile: collect_ended_polls records its final counts
        changes = await self._poll_service.reconcile(info.message_id, voters)
        if changes:
            log.info("poll %s: caught up with %d vote changes made while disconnected", info.message_id, changes)
        return changes

    async def collect_ended_polls(self) -> int:
        """Polls that ended while we were down: read their final counts once; returns how many."""
        collected = 0
        for info in await self._polls.expired_open_polls(utc_iso(dt.datetime.now(dt.UTC))):
            try:
                counts = await self._transport.poll_results(info.thread_id, info.message_id)
            except TransportError as exc:
                log.info("could not read the ended poll %s: %s", info.message_id, exc)
                continue
            if counts is not None:
                collected += await self._poll_service.finalize(info.message_id, counts)
        return collected

    # -- one thread, in the background ----------------------------------------------------

    async def thread_unarchived(self, thread_id: int) -> bool:
        """A review thread that was archived and is open again may hold messages we never saw."""
        if await self._index.thread(thread_id) is None:
            return False
        self.schedule(thread_id)
        return True

    def schedule(self, thread_id: int) -> None:
        """Backfill one thread from its cursor in the background (once at a time per thread)."""
        running = self._thread_tasks.get(thread_id)
        if running is not None and not running.done():
            return
        self._thread_tasks[thread_id] = asyncio.create_task(self._backfill_one(thread_id))

    async def _backfill_one(self, thread_id: int) -> None:
        try:
            if await self._transport.get_thread(thread_id) is not None:
                after = await self._threads.last_message_id(thread_id) or thread_id
                await self.backfill_thread(thread_id, after)
        except Exception:
            log.exception("backfill of thread %s failed", thread_id)
        finally:
            self._thread_tasks.pop(thread_id, None)

    async def close(self) -> None:
        """Stop every backfill still running (on unload)."""
        tasks = [t for t in [self._catch_up_task, *self._thread_tasks.values()] if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
