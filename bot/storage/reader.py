"""A read-only SQLite connection on its own thread, for latency-critical reads.

Why not the main aiosqlite connection: it serves writes too, and its queue is
first-come first-served, so a /film autocomplete typed during a catalog import
or a comment burst would wait behind whole write transactions. In WAL mode a
second connection reads a consistent snapshot while the writer writes.

Why a thread and not the event loop: even a sub-millisecond indexed read can
block — a cold page cache hits the disk, a WAL checkpoint or recovery briefly
holds locks (then the busy timeout waits), and a 1M-film catalog has multi-ms
tails. Blocking the loop would stall every other interaction and the gateway
heartbeat, so reads run on one dedicated worker thread. A whole multi-statement
read (``fn``) is handed over at once, so it costs one thread hop however many
statements it runs. sqlite3 releases the GIL while SQLite works.

The connection sees committed data only, which is what readers of other
features' writes see anyway (every write commits before its await returns).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

__all__ = ["ReadConnection"]

T = TypeVar("T")
# Autocomplete must answer within Discord's 3 s; wait for a lock well inside that.
READ_BUSY_TIMEOUT_MS = 1_000


class ReadConnection:
    """One ``query_only`` sqlite3 connection, opened lazily and used only from its worker thread."""

    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="matinee-read")
        self._conn: sqlite3.Connection | None = None
        self._closed = False

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            # check_same_thread=False only so close() may run from the same single worker; no sharing.
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout = {READ_BUSY_TIMEOUT_MS:d}")
            conn.execute("PRAGMA query_only = ON")  # a bug here can never write
            self._conn = conn
        return self._conn

    def _call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return fn(self._connection())

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(connection)`` on the reader thread and return its result."""
        if self._closed:
            raise sqlite3.ProgrammingError("the read connection is closed")
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._call, fn)

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            await asyncio.get_running_loop().run_in_executor(self._executor, self._close)
        finally:
            self._executor.shutdown(wait=False)
