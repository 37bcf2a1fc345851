"""A batched writer for bursty inserts (comments, poll votes).

A busy review thread can deliver hundreds of messages a second. One transaction
per message costs a commit (an fsync in WAL mode) and ~90 µs of aiosqlite thread
hand-off per awaited call; grouping rows into one transaction and one
``executemany`` per statement makes the same burst two orders of magnitude cheaper.

Callers ``await writer.write(...)`` and resume only after the batch holding their
row has committed, so "stored" always means durable.

On shutdown :meth:`BatchedWriter.close` finishes the batch in flight and
commits what is queued, within a time limit if it is given one. Rows still queued
when the time is up are *not* stored and their callers get
:class:`WriterClosedError`: batches commit in queue order, so what is left is the
newest rows, after everything stored. For comments that is what the next start's
backfill reads (a thread's history after its newest stored message).

Hot statements (the comment upsert) can register a *bulk form* that takes the
whole run of rows as one JSON array: see :meth:`BatchedWriter.register_bulk` for
why that matters when the event loop is busy.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import groupby
from typing import Any

from .database import Database

__all__ = ["BatchedWriter", "WriterClosedError"]

log = logging.getLogger(__name__)


class WriterClosedError(RuntimeError):
    """The writer is shutting down and takes no more rows."""


@dataclass(slots=True)
class _Pending:
    sql: str
    params: Sequence[Any]
    future: asyncio.Future[None] = field(repr=False)


class BatchedWriter:
    """Collects writes and commits them in batches.

    A batch is flushed when it reaches ``max_batch`` rows or ``max_delay``
    seconds after its first row, whichever comes first. Consecutive rows with the
    same statement go through one ``executemany``; the order of writes is kept,
    so an insert followed by an update of the same row applies in that order.

    If a batch fails, its rows are retried one by one in separate transactions,
    so one bad row fails only its own caller and never takes the others with it.
    """

    def __init__(self, db: Database, *, max_batch: int = 1000, max_delay: float = 0.005) -> None:
        self._db = db
        self._max_batch = max_batch
        self._max_delay = max_delay
        self._queue: list[_Pending] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._abandon = False  # close() ran out of time: stop after the batch in flight
        self._bulk: dict[str, str] = {}
        self.batches_committed = 0
        self.rows_committed = 0

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="matinee-batched-writer")

    def register_bulk(self, sql: str, bulk_sql: str) -> None:
        """Flush runs of ``sql`` rows as ONE ``bulk_sql`` statement whose single parameter
        is those rows as a JSON array (read it with ``json_each(?)``, in ``key`` order).

        Why: ``executemany`` binds every row with the GIL held and releases the GIL
        around each ``sqlite3_step``, so the writer thread must win the GIL back once
        per row. While the event loop is busy (a burst of gateway events being
        parsed) each of those hand-backs can wait for the interpreter's switch
        interval: in the ingest benchmark a 1,000-row batch took 0.5-1.5 s during a
        burst instead of ~80 ms once the loop was idle, so the queue, and every task
        waiting on it, grew until garbage collection alone ate half the CPU. One
        statement over ``json_each`` runs the whole batch in a single step with the
        GIL released, and is no slower for SQLite itself.

        ``bulk_sql`` must have the same effect as running ``sql`` once per row, in
        order. If it fails (or a row can't be encoded as JSON), the batch falls back
        to ``sql`` row by row, so a bad row still fails only its own caller.
        """
        self._bulk[sql] = bulk_sql

    async def write(self, sql: str, params: Sequence[Any]) -> None:
        """Queue one row and wait until it is committed (or its write failed)."""
        if self._closing:
            raise WriterClosedError("the batched writer is closed")
        self.start()
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append(_Pending(sql, params, future))
        if len(self._queue) == 1 or len(self._queue) >= self._max_batch:
            self._wakeup.set()
        # No asyncio.shield: each row has its own future, so a cancelled caller only
        # cancels that future (the flush skips done futures) and its row is still
        # written. Shielding cost an extra future and callback hop per row.
        await future

    async def write_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Queue several rows of one statement and wait for all of them."""
        await asyncio.gather(*(self.write(sql, row) for row in rows))

    @property
    def pending(self) -> int:
        return len(self._queue)

    async def close(self, timeout: float | None = None) -> int:
        """Commit everything queued, then stop; returns how many rows were left unstored.

        With a ``timeout``, queued batches are committed until it runs out; then the
        batch in flight is finished (never cut in half) and the rows still queued
        fail with :class:`WriterClosedError`. Without one, everything is committed.
        New writes are refused from the start. Safe to call twice.
        """
        self._closing = True
        self._wakeup.set()
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        if self._task is not None:
            done, _ = await asyncio.wait({self._task}, timeout=timeout)
            if not done:
                self._abandon = True  # the loop checks this between batches
                await asyncio.wait({self._task})
            self._task = None
        # Rows queued after the loop ended, or left by a cancelled loop.
        while self._queue and not self._abandon:
            if deadline is not None and loop.time() >= deadline:
                self._abandon = True
                break
            await self._flush(self._take_batch())
        return self._fail_queued()

    def _fail_queued(self) -> int:
        left, self._queue = self._queue, []
        for pending in left:
            if not pending.future.done():
                pending.future.set_exception(WriterClosedError("shutting down before this row was stored"))
        if left:
            log.warning("shutdown: %d queued rows were not stored (time ran out); their callers were told", len(left))
        return len(left)

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            if not self._queue:
                if self._closing:
                    return
                continue
            if len(self._queue) < self._max_batch and not self._closing:
                # Let the burst gather: the first row waits at most max_delay.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._batch_full(), timeout=self._max_delay)
            while self._queue and not self._abandon:
                await self._flush(self._take_batch())
            if self._closing:
                return

    async def _batch_full(self) -> None:
        while len(self._queue) < self._max_batch and not self._closing:
            self._wakeup.clear()
            await self._wakeup.wait()

    def _take_batch(self) -> list[_Pending]:
        batch, self._queue = self._queue[: self._max_batch], self._queue[self._max_batch :]
        return batch

    async def _flush(self, batch: list[_Pending]) -> None:
        """Commit one batch; a cancellation (shutdown) lets the batch finish first.

        Without the shield, a cancel landing between the batch's statements
        rolled the batch back and failed every caller in it, so a SIGTERM during
        a burst turned already-received comments into errors. Finishing the one
        batch in flight costs milliseconds and keeps "acknowledged == stored".
        """
        if not batch:
            return
        flush = asyncio.ensure_future(self._flush_now(batch))
        try:
            await asyncio.shield(flush)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await flush
            raise

    async def _flush_now(self, batch: list[_Pending]) -> None:
        groups = [(sql, [p.params for p in group]) for sql, group in groupby(batch, key=lambda p: p.sql)]
        try:
            if len(groups) == 1 and (single := self._bulk_statement(*groups[0])) is not None:
                # The usual burst: one run of one bulk statement. A lone statement is its
                # own atomic transaction, so skip BEGIN/COMMIT: one trip to the database
                # thread instead of five, and each trip waits a whole event-loop
                # iteration, which is long exactly when a burst is being parsed.
                await self._db.execute_atomic(*single)
            else:
                async with self._db.transaction() as conn:
                    for sql, rows in groups:
                        bulk = self._bulk_statement(sql, rows)
                        if bulk is not None:
                            await conn.execute(*bulk)
                        else:
                            await conn.executemany(sql, rows)
        except Exception:
            # sqlite3.Error from a bad row, or a value that can't be bound or encoded
            # (e.g. a lone surrogate): retry alone so only the bad row's caller fails.
            log.warning("batch of %d rows failed; retrying row by row", len(batch), exc_info=True)
            await self._flush_one_by_one(batch)
            return
        except BaseException as exc:
            # Cancellation or shutdown mid-batch: nothing is half-applied (the transaction
            # was rolled back; a lone bulk statement commits whole or not at all, and may
            # still finish on the database thread); tell every caller and re-raise.
            for pending in batch:
                if not pending.future.done():
                    pending.future.set_exception(WriterClosedError(f"batch aborted: {exc!r}"))
            raise
        self.batches_committed += 1
        self.rows_committed += len(batch)
        for pending in batch:
            if not pending.future.done():
                pending.future.set_result(None)

    def _bulk_statement(self, sql: str, rows: list[Sequence[Any]]) -> tuple[str, tuple[str]] | None:
        """The registered bulk form of ``rows`` (two or more), or None to use ``executemany``."""
        bulk_sql = self._bulk.get(sql)
        if bulk_sql is None or len(rows) < 2:
            return None
        # Raw UTF-8 rather than \u escapes: the text SQLite reads back is then exactly
        # the str we were given (astral characters included).
        return bulk_sql, (json.dumps(rows, ensure_ascii=False),)

    async def _flush_one_by_one(self, batch: list[_Pending]) -> None:
        for pending in batch:
            try:
                await self._db.execute(pending.sql, pending.params)
            except Exception as exc:
                if not pending.future.done():
                    pending.future.set_exception(exc)
            else:
                self.rows_committed += 1
                if not pending.future.done():
                    pending.future.set_result(None)
