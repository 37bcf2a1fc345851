"""The one SQLite connection Matinee uses, and the numbered migrations that shape it.

Why a single connection: SQLite allows one writer at a time anyway, and aiosqlite
runs every call on one worker thread per connection. A single connection plus an
asyncio lock around transactions gives us serialised writes without
``database is locked`` errors between our own coroutines; the busy timeout covers
other processes (``matinee export`` while the bot runs, for instance).
"""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from ..urls import normalize_post_url
from .reader import ReadConnection

__all__ = ["Database", "Migration", "MigrationError", "StorageError", "load_migrations"]

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 10_000
T = TypeVar("T")
_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


class StorageError(RuntimeError):
    """The database cannot be used; the message says why in plain words."""


class MigrationError(StorageError):
    """A migration failed and was rolled back; the database is at the previous version."""


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str

    def statements(self) -> list[str]:
        """Split the script into complete statements (triggers included).

        ``executescript`` would commit any open transaction first, so it cannot
        make a migration atomic; running the statements one by one inside our own
        ``BEGIN`` can.
        """
        statements: list[str] = []
        buffer = ""
        for line in self.sql.splitlines(keepends=True):
            buffer += line
            if sqlite3.complete_statement(buffer):
                if buffer.strip():
                    statements.append(buffer.strip())
                buffer = ""
        if buffer.strip() and not _only_comments(buffer):
            raise MigrationError(f"migration {self.name} ends with an incomplete statement")
        return statements


_SQLITE_BUSY, _SQLITE_LOCKED = 5, 6


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    """True for SQLITE_BUSY/SQLITE_LOCKED (and their extended codes): the lock is someone else's."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (_SQLITE_BUSY, _SQLITE_LOCKED)
    return "locked" in str(exc) or "busy" in str(exc)


def _only_comments(text: str) -> bool:
    return all(not line.strip() or line.strip().startswith("--") for line in text.splitlines())


def load_migrations(directory: Path | None = None) -> list[Migration]:
    """Read ``NNNN_name.sql`` files in version order; versions must be unique."""
    if directory is None:
        root = resources.files("bot.storage") / "migrations"
        entries = [(p.name, p.read_text(encoding="utf-8")) for p in root.iterdir() if p.name.endswith(".sql")]
    else:
        entries = [(p.name, p.read_text(encoding="utf-8")) for p in directory.glob("*.sql")]
    migrations: dict[int, Migration] = {}
    for name, sql in entries:
        match = _MIGRATION_NAME.match(name)
        if not match:
            raise MigrationError(f"migration file {name!r} is not named NNNN_description.sql")
        version = int(match.group(1))
        if version in migrations:
            raise MigrationError(f"two migrations share version {version}")
        migrations[version] = Migration(version, name, sql)
    return [migrations[v] for v in sorted(migrations)]


class Database:
    """An open SQLite database with WAL, foreign keys and a busy timeout.

    Use :meth:`transaction` for anything that writes; use :meth:`fetchall` /
    :meth:`fetchone` for reads. Repositories in ``bot/storage`` are the only
    callers; nothing outside the storage layer writes SQL.
    """

    def __init__(self, conn: aiosqlite.Connection, path: Path | str) -> None:
        self._conn = conn
        self.path = path
        self._lock = asyncio.Lock()
        self._closed = False
        self._reader: ReadConnection | None = None

    @classmethod
    async def open(cls, path: Path | str) -> Database:
        """Open (creating if needed) and configure the database at ``path``.

        A file that exists but is not a readable SQLite database raises
        :class:`StorageError`; we never create a fresh database over it.
        """
        memory = str(path) == ":memory:"
        if not memory:
            file = Path(path)
            file.parent.mkdir(parents=True, exist_ok=True)
            if file.exists() and not file.is_file():
                raise StorageError(f"database path {file} is not a file")
        try:
            conn = await aiosqlite.connect(str(path), isolation_level=None)
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open the database at {path}: {exc}") from exc
        db = cls(conn, path)
        try:
            conn.row_factory = aiosqlite.Row
            # SQL that must agree with Python on what one post address is (migration 0010).
            await conn.create_function("matinee_url_key", 1, normalize_post_url, deterministic=True)
            await db.fetchall(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS:d}")
            # Reading the schema is the first thing that fails on a corrupt or foreign file.
            await db.fetchall("SELECT count(*) FROM sqlite_master")
            if not memory:
                await db.fetchall("PRAGMA journal_mode = WAL")
            await db.fetchall("PRAGMA foreign_keys = ON")
            await db.fetchall("PRAGMA synchronous = NORMAL")
        except sqlite3.DatabaseError as exc:
            await db.close()
            raise StorageError(
                f"the database file {path} is unreadable or not a SQLite database ({exc}); "
                "Matinee will not overwrite it: restore it from a backup or point DATABASE_PATH elsewhere"
            ) from exc
        return db

    @property
    def connection(self) -> aiosqlite.Connection:
        return self._conn

    async def close(self) -> None:
        """Close the connection; an open aiosqlite connection can hang interpreter exit."""
        if self._closed:
            return
        self._closed = True
        if self._reader is not None:
            try:
                await self._reader.close()
            except Exception:  # pragma: no cover - closing must never mask the real error
                log.exception("error while closing the read connection")
        try:
            await self._conn.close()
        except Exception:  # pragma: no cover - closing must never mask the real error
            log.exception("error while closing the database")

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(connection)``, a latency-critical read-only look-up, in one thread hop.

        File databases use a dedicated read connection (see :mod:`.reader`), so the
        look-up never queues behind writes; ``fn`` may run several statements.
        An in-memory database cannot be shared, so ``fn`` runs on the main
        connection's thread instead (still one hop).
        """
        if str(self.path) == ":memory:":
            raw = self._conn._conn  # aiosqlite's sqlite3 connection (private), used on its own thread
            return await self._conn._execute(fn, raw)
        if self._reader is None:
            self._reader = ReadConnection(self.path)
        return await self._reader.run(fn)

    # -- transactions -------------------------------------------------------------

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """Run a block inside ``BEGIN IMMEDIATE``; commit on success, roll back on error.

        IMMEDIATE takes the write lock up front, so a busy database makes us wait
        (up to the busy timeout) at the start instead of failing mid-way.
        """
        async with self._lock:
            try:
                await self._begin_immediate()
            except BaseException:
                # Cancelled while BEGIN was queued on the worker thread: it still runs, and
                # would leave the connection inside a transaction holding the write lock.
                await self._rollback(force=True)
                raise
            try:
                yield self._conn
            except BaseException:
                await self._rollback()
                raise
            await self._commit()

    async def _commit(self) -> None:
        """COMMIT, or roll back if it fails; a cancel cannot split the two.

        Once COMMIT is queued on the worker thread it runs whatever happens to
        the awaiting task; rolling back "after" it would report a committed
        transaction as failed. So a cancellation waits for the COMMIT's outcome
        (rolling back only if it failed) and is re-raised afterwards.
        """
        commit = asyncio.ensure_future(self._run("COMMIT"))
        try:
            await asyncio.shield(commit)
        except asyncio.CancelledError:
            try:
                await commit
            except sqlite3.Error:
                await self._rollback()
            raise
        except BaseException:
            await self._rollback()
            raise

    async def _run(self, sql: str) -> None:
        await (await self._conn.execute(sql)).close()

    async def _begin_immediate(self) -> None:
        """``BEGIN IMMEDIATE``, waiting up to the busy timeout for another process's lock.

        SQLite's busy handler does not cover every case: when a read cursor of
        this same connection is still open (a concurrent ``fetchall`` from
        another coroutine) while another process holds the write lock, SQLite
        reports ``SQLITE_BUSY`` at once instead of waiting, to avoid a deadlock.
        So we retry with a short back-off until the busy timeout has passed.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + BUSY_TIMEOUT_MS / 1000
        delay = 0.005
        while True:
            try:
                await (await self._conn.execute("BEGIN IMMEDIATE")).close()
                return
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc) or loop.time() + delay > deadline:
                    raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.1)

    async def _rollback(self, *, force: bool = False) -> None:
        """Roll back; ``force`` queues ROLLBACK even if no transaction is visible yet.

        aiosqlite runs calls in order on one thread, so a forced ROLLBACK lands
        after a BEGIN that is still queued; "no transaction is active" is fine.
        """
        try:
            if force or self._conn.in_transaction:
                await self._run("ROLLBACK")
        except sqlite3.OperationalError as exc:
            if "no transaction is active" not in str(exc):
                log.exception("rollback failed")
        except sqlite3.Error:  # pragma: no cover - nothing more we can do
            log.exception("rollback failed")

    async def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> int:
        """Run one write in its own transaction; returns the number of changed rows."""
        async with self.transaction() as conn, conn.execute(sql, params) as cursor:
            return cursor.rowcount

    async def execute_atomic(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> None:
        """Run ONE write statement as its own transaction, in a single trip to the database thread.

        Outside ``BEGIN`` SQLite commits a lone statement atomically when it finishes
        (autocommit), and a write statement takes the write lock as it starts, as
        ``BEGIN IMMEDIATE`` would (waiting up to the busy timeout). Skipping the
        explicit BEGIN/COMMIT saves four round trips to aiosqlite's thread, each of
        which waits for a turn of the event loop. The transaction lock keeps the
        statement out of another coroutine's open transaction.
        """
        async with self._lock:
            await self._conn.execute(sql, params)

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        async with self.transaction() as conn:
            await conn.executemany(sql, rows)

    async def fetchall(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[aiosqlite.Row]:
        async with self._conn.execute(sql, params) as cursor:
            return list(await cursor.fetchall())

    async def fetchone(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> aiosqlite.Row | None:
        async with self._conn.execute(sql, params) as cursor:
            return await cursor.fetchone()

    async def fetchval(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> Any:
        row = await self.fetchone(sql, params)
        return None if row is None else row[0]

    # -- migrations -----------------------------------------------------------------

    async def user_version(self) -> int:
        return int(await self.fetchval("PRAGMA user_version"))

    async def migrate(self, migrations: list[Migration] | None = None) -> int:
        """Apply every migration newer than ``PRAGMA user_version``, each atomically.

        Each migration's statements and the ``user_version`` bump run in one
        transaction, so a failure leaves the database exactly at the previous
        version. Returns the resulting version.
        """
        migrations = load_migrations() if migrations is None else migrations
        current = await self.user_version()
        latest = migrations[-1].version if migrations else 0
        if current > latest:
            raise StorageError(
                f"the database is at schema version {current}, newer than this Matinee ({latest}); "
                "upgrade Matinee instead of downgrading the database"
            )
        for migration in migrations:
            if migration.version <= current:
                continue
            statements = migration.statements()
            try:
                async with self.transaction() as conn:
                    for statement in statements:
                        await (await conn.execute(statement)).close()
                    await (await conn.execute(f"PRAGMA user_version = {migration.version:d}")).close()
            except sqlite3.Error as exc:
                raise MigrationError(
                    f"migration {migration.name} failed and was rolled back (database left at version {current}): {exc}"
                ) from exc
            log.info("applied migration %s", migration.name)
            current = migration.version
        return current

    async def size_bytes(self) -> int:
        """The database's size as SQLite sees it (pages × page size)."""
        pages = await self.fetchval("PRAGMA page_count")
        page_size = await self.fetchval("PRAGMA page_size")
        return int(pages) * int(page_size)
