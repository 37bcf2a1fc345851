"""Nothing lost while Matinee was not listening: backfill and reconcile after downtime.

Each review thread has a cursor, "read up to here" (``DiscussionThreadRepository``).
Whenever events may have been lost — the process starts, the gateway connection
drops, the bot is removed from a server or the server becomes unavailable — the
affected threads are marked as owing a backfill, durably, and a live message no
longer moves their cursor. A backfill reads each thread's history after its cursor,
page by page, moving the cursor as it stores; only once it has read to the end is
the debt settled. So the cursor never jumps over messages nobody has read, and a
backfill that fails (Discord answers 403, 5xx) leaves the thread owing one: it is
retried with back-off, at a bounded pace.

When catch-ups run: after every READY (a new session: events were lost) and RESUME
(Discord replayed them; the backfill is then cheap), for one server when the bot
joins it or it is available again (``guild_join``, ``guild_available``), for one
thread when it is unarchived, and for failed threads on retry.

After a new session or a (re)joined server, the newest stored comments are also
re-read (the re-check) to catch edits, deletions and reactions, and to store any
message found there that was never stored; open polls' voters are read to catch up
with votes; polls that ended meanwhile get their final counts. The re-check reads
only the newest ``RECONCILE_WINDOW`` messages, so a start-up stays bounded; it
records where the older ones begin, and ``bot/discussions/recheck.py`` re-reads
those in the background, at a pace. Members who asked to be forgotten are
respected throughout (``bot/storage/forgotten.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from ..backoff import capped
from ..storage import DiscussionThreadRepository, PollRepository
from ..timestamps import utc_iso
from .service import CommentService, DiscussionIndex, IncomingMessage, PollService
from .transport import ThreadTransport, TransportError

__all__ = [
    "BACKFILL_PAGE",
    "RECONCILE_WINDOW",
    "RETRY_BATCH",
    "RETRY_FIRST_DELAY",
    "RETRY_MAX_DELAY",
    "BackfillService",
    "CatchUpReason",
    "retry_delay",
]

log = logging.getLogger(__name__)

BACKFILL_PAGE = 100  # messages stored per batch while reading a thread's history
# After a fresh session the newest this many messages of each open thread are
# re-read at once. Older comments are re-checked in the background
# (bot/discussions/recheck.py): the cost of a start-up must stay bounded however
# long the discussions are.
RECONCILE_WINDOW = 100
# A failed backfill is retried after 30 s, then 1, 2, 4 ... minutes, at most every
# 30 minutes, and at most RETRY_BATCH threads at a time: a server that took away
# Read Message History costs a few requests an hour, not a loop.
RETRY_FIRST_DELAY = 30.0
RETRY_MAX_DELAY = 1800.0
RETRY_BATCH = 5

# "ready": a new gateway session (events were lost); "resumed": Discord replayed the
# missed events; "manual": asked for by hand.
CatchUpReason = Literal["ready", "resumed", "manual"]


def retry_delay(attempts: int, first: float = RETRY_FIRST_DELAY, most: float = RETRY_MAX_DELAY) -> float:
    """Seconds before retrying a backfill that has failed ``attempts`` times in a row (doubling, capped)."""
    return capped(first, attempts - 1, most)


@dataclass(slots=True)
class _Failure:
    attempts: int
    due: float  # on the service's clock
    full: bool  # the failed pass was to re-check comments and votes too


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
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._transport = transport
        self._index = index
        self._threads = threads
        self._comments = comments
        self._polls = polls
        self._poll_service = poll_service
        self._catch_up_task: asyncio.Task[int] | None = None
        self._guild_tasks: dict[int, asyncio.Task[int]] = {}
        self._thread_tasks: dict[int, asyncio.Task[None]] = {}
        self._locks: dict[int, asyncio.Lock] = {}
        self._failures: dict[int, _Failure] = {}
        self._retry_task: asyncio.Task[None] | None = None
        self._retry_wakeup = asyncio.Event()
        self._active = 0  # catch-ups, backfills and retries running now
        # Told when a catch-up or backfill is done (the background re-check of older comments wakes).
        self.on_caught_up: Callable[[], None] = lambda: None
        self.recheck_window = RECONCILE_WINDOW
        # Pacing of retries; tests may shorten the delays, or retry by hand with their own clock.
        self.clock = clock
        self.retry_first_delay = RETRY_FIRST_DELAY
        self.retry_max_delay = RETRY_MAX_DELAY
        self.retry_in_background = True
        # Observable in tests and diagnostics:
        self.backfilled_messages = 0  # stored by backfills
        self.recovered_messages = 0  # stored by the re-check: never stored before
        self.catch_ups_done = 0  # completed catch-up passes: what a test waits on before looking
        self.guild_catch_ups_done = 0  # completed catch-ups of one server (joined or available again)
        self.retries_done = 0  # failed backfills tried again

    @property
    def busy(self) -> bool:
        """A catch-up, backfill or retry is running: background work waits for it."""
        return self._active > 0

    @contextlib.asynccontextmanager
    async def _working(self) -> AsyncIterator[None]:
        self._active += 1
        try:
            yield
        finally:
            self._active -= 1

    # -- gaps --------------------------------------------------------------------------------

    async def gap_opened(self, guild_id: int | None = None) -> None:
        """Events may be lost from now on: every review thread (of one server) owes a backfill.

        Called before connecting, when the connection drops, and when the bot is
        removed from a server or the server becomes unavailable. Until a backfill
        has read a thread to its end, live messages do not move its cursor.
        """
        await self._threads.open_gap(guild_id)

    # -- catching up ------------------------------------------------------------------------

    def start_catch_up(self, reason: CatchUpReason) -> None:
        """Run :meth:`catch_up` in the background; a newer session replaces a pass still running."""
        if self._catch_up_task is not None and not self._catch_up_task.done():
            self._catch_up_task.cancel()
        self._catch_up_task = asyncio.create_task(self.catch_up(reason), name="matinee-backfill")

    def start_guild_catch_up(self, guild_id: int) -> None:
        """Run :meth:`catch_up_guild` in the background (a newer call for the server replaces a running one)."""
        running = self._guild_tasks.get(guild_id)
        if running is not None and not running.done():
            running.cancel()
        self._guild_tasks[guild_id] = asyncio.create_task(
            self.catch_up_guild(guild_id), name=f"matinee-backfill-guild-{guild_id}"
        )

    async def catch_up(self, reason: CatchUpReason = "manual") -> int:
        """Store what was said in every open review thread while we were not listening; returns how many."""
        async with self._working():
            open_threads = self._transport.open_threads(self._index.thread_ids)
            # A RESUME replays missed events, votes included; a new session does not.
            stored = await self._catch_up_threads(open_threads, full=reason == "ready")
            await self.collect_ended_polls()
        if stored:
            log.info("backfill (%s): stored %d messages from %d open threads", reason, stored, len(open_threads))
        self.catch_ups_done += 1
        self.on_caught_up()
        return stored

    async def catch_up_guild(self, guild_id: int) -> int:
        """The bot joined a server again, or it is available after an outage: catch up with its threads.

        Nothing of that server reached us meanwhile, so this is a full catch-up:
        backfill, the re-check of recent comments, and the polls' voters.
        """
        ids = [t for t in self._index.thread_ids if (ref := self._index.cached_thread(t)) and ref.guild_id == guild_id]
        async with self._working():
            open_threads = self._transport.open_threads(ids)
            stored = await self._catch_up_threads(open_threads, full=True)
            await self.collect_ended_polls()
        if stored:
            log.info("backfill (server %s is back): stored %d messages", guild_id, stored)
        self.guild_catch_ups_done += 1
        self.on_caught_up()
        return stored

    async def _catch_up_threads(self, thread_ids: Iterable[int], *, full: bool) -> int:
        stored = 0
        for thread_id in thread_ids:
            stored += await self.backfill_thread(thread_id, full=full)
            if full:
                await self.recheck(thread_id)
        return stored

    async def recheck(self, thread_id: int) -> None:
        """What no event told us: recent comments' edits, deletions and unseen messages; the poll's votes."""
        await self.reconcile_recent_comments(thread_id)
        await self.reconcile_poll_votes(thread_id)

    def _lock(self, thread_id: int) -> asyncio.Lock:
        return self._locks.setdefault(thread_id, asyncio.Lock())

    async def backfill_thread(self, thread_id: int, *, full: bool = False) -> int:
        """Store the thread's messages after its cursor, a page at a time; returns how many were stored.

        The cursor moves after each stored page. Reading to the end settles the
        thread's debt (unless a new gap opened meanwhile); a failure leaves it owed
        and schedules a retry (``full``: re-check comments and votes once it works).
        """
        async with self._working(), self._lock(thread_id):
            owed = await self._threads.owed(thread_id)
            after = await self._threads.last_message_id(thread_id) or thread_id
            stored = 0
            page: list[IncomingMessage] = []
            try:
                async for message in self._transport.messages_after(thread_id, after):
                    page.append(message)
                    if len(page) >= BACKFILL_PAGE:
                        stored += await self._store_page(thread_id, page)
                        page = []
                if page:
                    stored += await self._store_page(thread_id, page)
            except TransportError as exc:
                self._failed(thread_id, exc, full=full)
            else:
                await self._threads.settle(thread_id, owed)
                self._failures.pop(thread_id, None)
            self.backfilled_messages += stored
            return stored

    async def _store_page(self, thread_id: int, page: list[IncomingMessage]) -> int:
        stored = await self._comments.ingest_many(page)
        await self._threads.advance(thread_id, max(m.message_id for m in page))  # only once the page is durable
        return stored

    async def reconcile_recent_comments(self, thread_id: int) -> tuple[int, int]:
        """Edits, deletions and reactions of stored comments made while no events reached us.

        Also stores the messages of that window that were never stored (a gap no
        backfill could read, e.g. from a database an older Matinee left). Returns
        (deleted, changed) counts; ``recovered_messages`` counts what was stored.
        """
        newest = await self._threads.newest_known(thread_id)
        if not newest:
            return 0, 0
        window = self.recheck_window
        try:
            history = await self._transport.messages_before(thread_id, newest + 1, window)
        except TransportError as exc:
            log.info("could not re-read thread %s: %s", thread_id, exc)
            await self._threads.owe_recheck(thread_id, newest + 1)  # the background pass will read it all
            return 0, 0
        # A short page is the whole thread: anything stored and not in it was deleted.
        oldest = min((m.message_id for m in history), default=newest) if len(history) >= window else 0
        deleted, changed = await self._comments.reconcile(thread_id, history, oldest_id=oldest, newest_id=newest)
        if oldest:
            await self._threads.owe_recheck(thread_id, oldest)  # older comments: in the background, at a pace
        else:
            await self._threads.clear_recheck(thread_id)  # the whole thread was just re-read
        recovered = await self._comments.store_unseen(history)
        self.recovered_messages += recovered
        if deleted or changed or recovered:
            log.info(
                "thread %s: %d comments deleted, %d changed and %d never stored, found by the re-check",
                thread_id,
                deleted,
                changed,
                recovered,
            )
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

    # -- failed backfills, retried at a bounded pace -------------------------------------------

    def _failed(self, thread_id: int, exc: TransportError, *, full: bool) -> None:
        previous = self._failures.get(thread_id)
        attempts = previous.attempts + 1 if previous else 1
        delay = retry_delay(attempts, self.retry_first_delay, self.retry_max_delay)
        self._failures[thread_id] = _Failure(attempts, self.clock() + delay, full or bool(previous and previous.full))
        level = logging.WARNING if attempts == 1 else logging.INFO
        log.log(level, "could not backfill thread %s (%s); retrying in %.0f s", thread_id, exc, delay)
        if self.retry_in_background:
            if self._retry_task is None or self._retry_task.done():
                self._retry_task = asyncio.create_task(self._retry_loop(), name="matinee-backfill-retry")
            self._retry_wakeup.set()

    @property
    def failing(self) -> list[int]:
        """Threads whose last backfill failed and that wait for a retry."""
        return sorted(self._failures)

    async def retry_owed(self) -> int:
        """Backfill again the failed threads whose back-off has passed, at most RETRY_BATCH; how many were tried.

        A thread no longer open (archived, deleted, its server away) is dropped from
        the retries: unarchiving it or the server's return backfills it.
        """
        now = self.clock()
        due = sorted((f.due, t) for t, f in self._failures.items() if f.due <= now)[:RETRY_BATCH]
        open_ids = set(self._transport.open_threads([t for _, t in due]))
        tried = 0
        async with self._working():
            for _, thread_id in due:
                failure = self._failures.get(thread_id)
                if failure is None:
                    continue  # settled by another backfill meanwhile
                if thread_id not in open_ids:
                    del self._failures[thread_id]
                    continue
                await self.backfill_thread(thread_id, full=failure.full)
                if failure.full and thread_id not in self._failures:
                    await self.recheck(thread_id)
                tried += 1
        self.retries_done += tried
        return tried

    async def _retry_loop(self) -> None:
        while self._failures:
            wait = min(f.due for f in self._failures.values()) - self.clock()
            if wait > 0:
                self._retry_wakeup.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._retry_wakeup.wait(), timeout=wait)
                continue
            try:
                await self.retry_owed()
            except Exception:
                log.exception("retrying owed backfills failed")
                await asyncio.sleep(self.retry_first_delay)

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
                await self.backfill_thread(thread_id)
        except Exception:
            log.exception("backfill of thread %s failed", thread_id)
        finally:
            self._thread_tasks.pop(thread_id, None)
        self.on_caught_up()  # e.g. a reopened thread: its older comments may be owed a re-check

    async def close(self) -> None:
        """Stop every backfill still running (on unload)."""
        tasks = [
            t
            for t in [self._catch_up_task, self._retry_task, *self._guild_tasks.values(), *self._thread_tasks.values()]
            if t is not None
        ]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
