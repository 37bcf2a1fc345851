"""Older comments re-checked in the background after downtime, at a pace that leaves Discord to others.

After a new session (or a server's return) the quick re-check reads the newest
``RECONCILE_WINDOW`` messages of each open thread at once, so a start-up costs
the same however long the discussions are. An edit, a deletion or a reaction made
while Matinee was down can be on any older comment too: this pass reads the rest
of each open thread, a history page at a time from newest to oldest, and mirrors
what changed (the same comparison as the quick re-check; messages never stored
are stored, unless their author asked to be forgotten before writing them).

Its position is durable, per thread (``RecheckPosition``, the ``*_recheck_and_openings`` migration): a
restart resumes where the walk stopped, and a gap that opens while a walk is under
way extends it so that every message is still re-read once after the latest gap.

The pace: at most one history page every ``PAGE_INTERVAL`` seconds across all
threads, and only when nobody else needs Discord. The pass waits while a catch-up
or backfill runs, and while the bot's shared REST budget is in use (a fan-out of
announcements, a command's answers, anything that took a token in the last
moment or waits for one): Discord's global limit is shared by the whole bot, and
interactive work comes first. Threads take turns, a page each. A thread that is
archived is skipped (its position is kept for when it reopens); one that is gone
is dropped; one Discord refuses is tried again with back-off.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from ..storage import DiscussionThreadRepository
from ..storage.comments import RecheckPosition
from ..text import HISTORY_PAGE
from .backfill import retry_delay
from .service import CommentService
from .transport import ThreadTransport, TransportError

__all__ = ["IDLE_WAKE", "PAGE_INTERVAL", "RECHECK_PAGE", "YIELD_DELAY", "OlderCommentsRecheck", "RestBudget"]

log = logging.getLogger(__name__)

RECHECK_PAGE = HISTORY_PAGE  # messages per history request: Discord's largest page
# One page a second at most: about 2% of the bot's 45 requests/s, so a thread of
# 10,000 messages is re-checked in about 100 s when nothing else needs Discord.
PAGE_INTERVAL = 1.0
YIELD_DELAY = 0.5  # while others use Discord, look again after this long
IDLE_WAKE = 300.0  # with nothing to do (or only archived threads), look again after this long


class RestBudget(Protocol):
    """The bot's shared Discord REST budget, as far as a background task needs to know it."""

    def idle(self) -> bool:
        """True when nobody is waiting for the budget or has just used it."""
        ...


@dataclass(slots=True)
class _Refused:
    attempts: int
    due: float


class OlderCommentsRecheck:
    """Walks open threads' older history at a bounded pace, mirroring edits, deletions and reactions.

    ``busy`` says whether a catch-up or backfill is running (the pass waits for it);
    ``budget`` is the shared REST budget (the pass waits while it is in use).
    ``clock`` and ``sleep`` are injectable so tests can drive the pace without waiting.
    """

    def __init__(
        self,
        transport: ThreadTransport,
        *,
        threads: DiscussionThreadRepository,
        comments: CommentService,
        busy: Callable[[], bool] = lambda: False,
        budget: RestBudget | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self._transport = transport
        self._threads = threads
        self._comments = comments
        self._busy = busy
        self._budget = budget
        self.clock = clock
        self.sleep = sleep
        self._last_page: float | None = None
        self._last_thread = 0
        self._refused: dict[int, _Refused] = {}
        self._task: asyncio.Task[None] | None = None
        self._wakeup = asyncio.Event()
        # Tunable (tests, benches); read on every turn.
        self.page_size = RECHECK_PAGE
        self.interval = PAGE_INTERVAL
        self.yield_delay = YIELD_DELAY
        self.idle_wake = IDLE_WAKE
        # Observable in tests and diagnostics:
        self.pages_read = 0
        self.yields = 0  # turns given up to a catch-up or to others' REST requests
        self.deleted = 0
        self.changed = 0
        self.recovered = 0  # stored, never stored before
        self.threads_done = 0  # walks finished

    # -- the background task ----------------------------------------------------------------

    def start(self) -> None:
        """Run the pass in the background (once); it sleeps while nothing is owed."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="matinee-recheck-older")

    def wake(self) -> None:
        """Something may be owed now (a catch-up recorded positions, a thread reopened)."""
        self._wakeup.set()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            self._wakeup.clear()  # a wake() from here on is kept for the wait below
            try:
                worked = await self.step()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("re-checking older comments failed; trying again later")
                worked = False
            if not worked:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), timeout=self._idle_wait())

    def _idle_wait(self) -> float:
        now = self.clock()
        soonest = min((r.due for r in self._refused.values()), default=now + self.idle_wake)
        return max(min(soonest - now, self.idle_wake), self.yield_delay)

    # -- one page -----------------------------------------------------------------------------

    async def step(self) -> bool:
        """Re-check one page of one thread, when its turn comes; False when nothing can be done now."""
        if await self._next() is None:
            return False
        await self._wait_turn()
        position = await self._next()  # again: a catch-up may have moved things while we waited
        if position is None:
            return False
        await self._read_page(position)
        return True

    async def drain(self) -> int:
        """Step until nothing can be done now (tests, benches); returns how many pages were read."""
        start = self.pages_read
        while await self.step():
            pass
        return self.pages_read - start

    async def _next(self) -> RecheckPosition | None:
        """The next thread's position, in turns by thread id: open threads only, not while refused."""
        owed = await self._threads.rechecks_owed()
        if not owed:
            return None
        now = self.clock()
        ready = [p for p in owed if (r := self._refused.get(p.thread_id)) is None or r.due <= now]
        open_ids = set(self._transport.open_threads([p.thread_id for p in ready]))
        candidates = [p for p in ready if p.thread_id in open_ids]
        if not candidates:
            return None
        later = [p for p in candidates if p.thread_id > self._last_thread]
        return (later or candidates)[0]

    async def _wait_turn(self) -> None:
        """Keep the pace: one page per ``interval``, never while a catch-up runs or others use Discord."""
        while True:
            now = self.clock()
            if self._last_page is not None and (wait := self._last_page + self.interval - now) > 0:
                await self.sleep(wait)
                continue
            if self._busy() or (self._budget is not None and not self._budget.idle()):
                self.yields += 1
                await self.sleep(self.yield_delay)
                continue
            self._last_page = now
            return

    async def _read_page(self, at: RecheckPosition) -> None:
        thread_id = at.thread_id
        self._last_thread = thread_id
        try:
            page = await self._transport.messages_before(thread_id, at.before, self.page_size)
        except TransportError as exc:
            if exc.status == 404:
                log.info("thread %s is gone; its older comments are no longer re-checked", thread_id)
                await self._threads.clear_recheck(thread_id)
            else:
                self._was_refused(thread_id, exc)
            return
        self.pages_read += 1
        self._refused.pop(thread_id, None)
        # A short page reaches the thread's start: the range it covers goes down to 0.
        start_reached = len(page) < self.page_size
        oldest = 0 if start_reached else min(m.message_id for m in page)
        deleted, changed = await self._comments.reconcile(thread_id, page, oldest_id=oldest, newest_id=at.before - 1)
        recovered = await self._comments.store_unseen(page)
        self.deleted += deleted
        self.changed += changed
        self.recovered += recovered
        if deleted or changed or recovered:
            log.info(
                "thread %s: %d older comments deleted, %d changed and %d never stored, found by the re-check",
                thread_id,
                deleted,
                changed,
                recovered,
            )
        before, until = await self._after(at, oldest, start_reached)
        await self._threads.move_recheck(at, before, until)
        if before is None:
            self.threads_done += 1

    async def _after(self, at: RecheckPosition, oldest: int, start_reached: bool) -> tuple[int | None, int | None]:
        """Where the walk goes after a page that read down to ``oldest``: (before, until), None when done."""
        if at.wrapped:
            return (None, None) if start_reached or oldest <= (at.until or 0) else (oldest, at.until)
        if not start_reached:
            return oldest, at.until
        if at.until is None:
            return None, None
        # The thread's start is reached with a later gap still owing its newer part: go on from the top.
        top = await self._threads.newest_known(at.thread_id) + 1
        return (top, at.until) if top > at.until else (None, None)

    def _was_refused(self, thread_id: int, exc: TransportError) -> None:
        previous = self._refused.get(thread_id)
        attempts = previous.attempts + 1 if previous else 1
        delay = retry_delay(attempts)  # like a refused backfill: 30 s, doubling up to every 30 minutes
        self._refused[thread_id] = _Refused(attempts, self.clock() + delay)
        log.info("could not re-check older comments of thread %s (%s); trying again in %.0f s", thread_id, exc, delay)
