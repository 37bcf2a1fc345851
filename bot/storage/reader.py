"""Read-only SQLite connections on their own threads: where every read outside a transaction runs.

Why not the writer's aiosqlite connection:

* **Isolation.** The writer connection is inside another coroutine's
  ``BEGIN IMMEDIATE`` whenever a transaction is open, and a read on it would see
  rows that may yet be rolled back. In WAL mode a second connection reads a
  consistent snapshot of *committed* data while the writer writes, which is what
  every reader outside a transaction should see. (Writes commit before their
  await returns, so a coroutine still reads its own writes.)
* **Latency.** The writer's queue is first-come first-served, so a /film
  autocomplete typed during a catalog import or a comment burst would wait
  behind whole write transactions.

Why threads and not the event loop: even a sub-millisecond indexed read can
block — a cold page cache hits the disk, a WAL checkpoint or recovery briefly
holds locks (then the busy timeout waits), and a 1M-film catalog has multi-ms
tails. Blocking the loop would stall every other interaction and the gateway
heartbeat. A whole multi-statement read (``fn``) is handed over at once, so it
costs one thread hop however many statements it runs; sqlite3 releases the GIL
while SQLite works. There are :data:`READ_THREADS` of them, each with its own
connection, so one long read (an export, a retrieval scan) does not queue an
autocomplete behind it.

Rules for ``fn``: it runs on a reader thread with that thread's connection,
must only read, and must finish its cursors (``fetchall``, iterate, or
``close``): an unfinished statement keeps its read transaction, and with it an
old snapshot, open.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

__all__ = ["READ_THREADS", "ReadConnection", "read_only_uri"]

T = TypeVar("T")
# Autocomplete must answer within Discord's 3 s; wait for a lock well inside that.
# (A WAL reader only waits during recovery or a checkpoint that truncates the log.)
READ_BUSY_TIMEOUT_MS = 1_000
READ_THREADS = 2


def read_only_uri(path: Path | str) -> str:
    """The SQLite URI that opens the existing file ``path`` read-only: it never creates or writes it."""
    return f"{Path(path).resolve().as_uri()}?mode=ro"


class ReadConnection:
    """A small pool of ``query_only`` sqlite3 connections, one per worker thread, opened lazily.

    Each connection is used only from the thread that opened it; :meth:`close`
    closes them all once the threads are idle.
    """

    def __init__(self, path: Path | str, *, threads: int = READ_THREADS, read_only: bool = False) -> None:
        self.path = str(path)
        self._read_only = read_only  # open the file with mode=ro (a database only looked at)
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="matinee-read")
        self._local = threading.local()
        self._opened: list[sqlite3.Connection] = []
        self._opened_lock = threading.Lock()
        self._closed = False

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            # check_same_thread=False only so close() may close it from another thread once idle.
            if self._read_only:
                conn = sqlite3.connect(read_only_uri(self.path), uri=True, isolation_level=None,
                                       check_same_thread=False)  # fmt: skip
            else:
                conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {READ_BUSY_TIMEOUT_MS:d}")
            conn.execute("PRAGMA query_only = ON")  # a bug here can never write
            conn.execute("PRAGMA foreign_keys = ON")  # like the writer, so PRAGMA reads agree
            with self._opened_lock:
                self._opened.append(conn)
            self._local.conn = conn
        return conn

    def _call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._closed:  # queued before close() and not yet started: fail fast, don't open a connection
            raise sqlite3.ProgrammingError("the read connection is closed")
        return fn(self._connection())

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(connection)`` on a reader thread and return its result."""
        if self._closed:
            raise sqlite3.ProgrammingError("the read connection is closed")
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._call, fn)

    def _close_all(self) -> None:
        # Reads still running are interrupted (their callers get "interrupted"): shutdown must
        # not wait for a long export. Reads still queued fail in _call. Once the threads are
        # idle, every connection is closed.
        with self._opened_lock:
            running = list(self._opened)
        for conn in running:
            conn.interrupt()
        self._executor.shutdown(wait=True)
        with self._opened_lock:
            opened, self._opened = self._opened, []
        for conn in opened:
            conn.close()

    async def close(self) -> None:
        """Stop taking reads, interrupt any still running, and close every connection."""
        if self._closed:
            return
        self._closed = True
        await asyncio.to_thread(self._close_all)
