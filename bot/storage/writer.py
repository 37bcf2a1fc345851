"""A batched writer for bursty inserts (comments, poll votes).

A busy review thread can deliver hundreds of messages a second. One transaction
per message costs a commit (an fsync in WAL mode) and ~90 µs of aiosqlite thread
hand-off per awaited call; grouping rows into one transaction and one
``executemany`` per statement makes the same burst two orders of magnitude cheaper.

Callers ``await writer.write(...)`` and resume only after the batch holding their
row has committed, so "stored" always means durable.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
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
        self.batches_committed = 0
        self.rows_committed = 0

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="matinee-batched-writer")

    async def write(self, sql: str, params: Sequence[Any]) -> None:
        """Queue one row and wait until it is committed (or its write failed)."""
        if self._closing:
            raise WriterClosedError("the batched writer is closed")
        self.start()
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append(_Pending(sql, params, future))
        if len(self._queue) == 1 or len(self._queue) >= self._max_batch:
            self._wakeup.set()
        await asyncio.shield(future)

    async def write_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Queue several rows of one statement and wait for all of them."""
        await asyncio.gather(*(self.write(sql, row) for row in rows))

    @property
    def pending(self) -> int:
        return len(self._queue)

    async def close(self) -> None:
        """Commit everything queued, then stop. Safe to call twice."""
        self._closing = True
        self._wakeup.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        while self._queue:  # rows queued after the loop ended (or left by a cancelled loop)
            await self._flush(self._take_batch())

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
            while self._queue:
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
        try:
            async with self._db.transaction() as conn:
                for sql, group in groupby(batch, key=lambda p: p.sql):
                    await conn.executemany(sql, [p.params for p in group])
        except (sqlite3.Error, ValueError, TypeError, OverflowError):
            # Not only SQLite's own errors: an unbindable parameter (an int beyond 64 bits raises
            # OverflowError) must fail its own row, not abort the batch and kill the writer task.
            log.warning("batch of %d rows failed; retrying row by row", len(batch), exc_info=True)
            await self._flush_one_by_one(batch)
            return
        except BaseException as exc:
            # Cancellation or shutdown mid-batch: the transaction was rolled back, so
            # nothing is half-applied; tell every caller and re-raise.
            for pending in batch:
                if not pending.future.done():
                    pending.future.set_exception(WriterClosedError(f"batch aborted: {exc!r}"))
            raise
        self.batches_committed += 1
        self.rows_committed += len(batch)
        for pending in batch:
            if not pending.future.done():
                pending.future.set_result(None)

    async def _flush_one_by_one(self, batch: list[_Pending]) -> None:
        for pending in batch:
            try:
                await self._db.execute(pending.sql, pending.params)
            except (sqlite3.Error, ValueError, TypeError, OverflowError) as exc:
                if not pending.future.done():
                    pending.future.set_exception(exc)
            else:
                self.rows_committed += 1
                if not pending.future.done():
                    pending.future.set_result(None)
