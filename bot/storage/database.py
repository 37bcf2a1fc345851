"""The SQLite database Matinee uses: one writer connection, read connections, numbered migrations.

Writes: one aiosqlite connection and an asyncio lock around transactions.
SQLite allows one writer at a time anyway; a single writer connection gives us
serialised writes without ``database is locked`` errors between our own
coroutines, and the busy timeout covers other processes (``matinee export``
while the bot runs, for instance).

Reads follow three rules:

* **Outside a transaction, a read sees committed data only.** ``fetchall``,
  ``fetchone``, ``fetchval`` and ``read`` run on the read connections
  (:mod:`.reader`), a WAL snapshot taken when the read starts. Another
  coroutine's open transaction, which may yet roll back, is invisible to them.
* **A coroutine reads its own writes.** Every write commits before its await
  returns (``execute``, ``transaction()``, the batched writer's ``write``), so the
  next read's snapshot includes it.
* **Inside ``transaction()``, reads stay on the writer.** Use the ``conn`` it
  yields; ``fetch*`` called by the task that holds the transaction also run on
  the writer, so they see the transaction's own uncommitted rows (and its
  ``TEMP`` tables). ``read(fn)`` always reads committed data.

Connection settings are read and changed with :meth:`Database.pragma`, which
runs on the writer connection. ``":memory:"`` opens a throwaway database in a
temporary file (deleted on close): an in-memory database cannot be shared with
the read connections, and private aiosqlite internals are not used.
"""

from __future__ import annotations

import asyncio
import logging
import re
import shutil
import sqlite3
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from ..urls import normalize_post_url
from .access import database_access_problem
from .reader import ReadConnection, read_only_uri
from .review_names import adopt_url_slugs

__all__ = ["Database", "Migration", "MigrationError", "StorageError", "load_migrations"]

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 10_000
MEMORY = ":memory:"
T = TypeVar("T")
_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
_PRAGMA_NAME = re.compile(r"^[a-z_]+$")
_PRAGMA_VALUE = re.compile(r"^(-?\d+|[A-Za-z_]+)$")
Params = Sequence[Any] | dict[str, Any]
MigrationStep = Callable[[aiosqlite.Connection], Awaitable[None]]
"""Python run after a migration's SQL, in its transaction: for data SQL alone cannot compute."""

# A migration's Python step, by the migration's name without its number (the number is
# given at merge time; the name is what the migration is). Keep steps rare and small.
MIGRATION_STEPS: Mapping[str, MigrationStep] = {
    "review_slugs_from_urls": adopt_url_slugs,
}


class StorageError(RuntimeError):
    """The database cannot be used; the message says why in plain words."""


class MigrationError(StorageError):
    """A migration failed and was rolled back; the database is at the previous version."""


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str
    step: MigrationStep | None = None

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


_SQLITE_PERM, _SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_READONLY, _SQLITE_IOERR, _SQLITE_CANTOPEN = 3, 5, 6, 8, 10, 14


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    """True for SQLITE_BUSY/SQLITE_LOCKED (and their extended codes): the lock is someone else's."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (_SQLITE_BUSY, _SQLITE_LOCKED)
    return "locked" in str(exc) or "busy" in str(exc)


def _open_failure(path: Path, exc: sqlite3.DatabaseError) -> StorageError:
    """What a failed open means for the operator: only a file SQLite cannot read is "restore a backup".

    A read-only file or directory, or a lock held elsewhere, is not damage, and saying
    "corrupt" would send the operator to restore a database that is fine.
    """
    code = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF
    if code in (_SQLITE_READONLY, _SQLITE_CANTOPEN, _SQLITE_PERM, _SQLITE_IOERR):
        problem = database_access_problem(path)
        return StorageError(problem or f"cannot open the database {path} for writing ({exc})")
    if code in (_SQLITE_BUSY, _SQLITE_LOCKED):
        return StorageError(f"the database {path} is locked by another program ({exc}); stop it and try again")
    return StorageError(
        f"the database file {path} is unreadable or not a SQLite database ({exc}); "
        "Matinee will not overwrite it: restore it from a backup or point DATABASE_PATH elsewhere"
    )


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
        step = MIGRATION_STEPS.get(name[5:].removesuffix(".sql"))
        migrations[version] = Migration(version, name, sql, step)
    return [migrations[v] for v in sorted(migrations)]


class Database:
    """An open SQLite database with WAL, foreign keys and a busy timeout.

    Use :meth:`transaction` (or :meth:`execute`) for anything that writes, and
    :meth:`fetchall` / :meth:`fetchone` / :meth:`fetchval` / :meth:`read` for
    reads (see the module docstring for which connection serves which read).
    Repositories in ``bot/storage`` are the only callers; nothing outside the
    storage layer writes SQL.
    """

    def __init__(
        self, conn: aiosqlite.Connection, path: Path, *, scratch: Path | None = None, read_only: bool = False
    ) -> None:
        self._conn = conn
        self.path = path
        self._scratch = scratch  # the temporary directory of a ":memory:" database
        self._lock = asyncio.Lock()
        self._owner: asyncio.Task[Any] | None = None  # the task inside transaction(), if any
        self._closed = False
        self._reader = ReadConnection(path, read_only=read_only)

    @classmethod
    async def open(cls, path: Path | str, *, read_only: bool = False) -> Database:
        """Open (creating if needed) and configure the database at ``path``.

        A file that exists but is not a readable SQLite database raises
        :class:`StorageError`; we never create a fresh database over it.
        ``":memory:"`` opens a fresh database in a temporary file, removed on close.

        ``read_only`` opens an existing file to look at it (``matinee doctor``): every
        connection is ``mode=ro``, and the journal mode is left as it is, so no ``-wal``
        or ``-shm`` file appears beside a database in rollback-journal mode.
        """
        scratch = None
        if read_only:
            file = Path(path)
            if not file.is_file():
                raise StorageError(f"there is no database file at {file}")
        elif str(path) == MEMORY:
            scratch = Path(tempfile.mkdtemp(prefix="matinee-memory-"))
            file = scratch / "matinee.db"
        else:
            file = Path(path)
            # Said in words before SQLite says it in codes: which of path, directory or file is wrong.
            if (problem := database_access_problem(file)) is not None:
                raise StorageError(problem)
            try:
                file.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StorageError(f"cannot create the directory {file.parent}: {exc.strerror or exc}") from exc
            if file.exists() and not file.is_file():
                raise StorageError(f"database path {file} is not a file")
        try:
            if read_only:
                conn = await aiosqlite.connect(read_only_uri(file), uri=True, isolation_level=None)
            else:
                conn = await aiosqlite.connect(str(file), isolation_level=None)
        except sqlite3.Error as exc:
            if scratch is not None:
                shutil.rmtree(scratch, ignore_errors=True)
            raise StorageError(f"cannot open the database at {path}: {exc}") from exc
        db = cls(conn, file, scratch=scratch, read_only=read_only)
        try:
            conn.row_factory = aiosqlite.Row
            # SQL that must agree with Python on what one post address is (migration 0009).
            await conn.create_function("matinee_url_key", 1, normalize_post_url, deterministic=True)
            await db.pragma("busy_timeout", BUSY_TIMEOUT_MS)
            # Reading the schema is the first thing that fails on a corrupt or foreign file.
            await db._fetch_on_writer("SELECT count(*) FROM sqlite_master")
            if not read_only:
                mode = await db.pragma("journal_mode", "WAL")
                if str(mode).lower() != "wal":
                    log.warning("%s cannot use WAL (journal mode %s): reads may wait for writes", file, mode)
                await db.pragma("synchronous", "NORMAL")
            await db.pragma("foreign_keys", "ON")
        except sqlite3.DatabaseError as exc:
            await db.close()
            raise _open_failure(file, exc) from exc
        return db

    @property
    def connection(self) -> aiosqlite.Connection:
        """The writer connection (tests look at ``in_transaction``); repositories use the methods."""
        return self._conn

    async def close(self) -> None:
        """Close the read connections, then the writer; an open aiosqlite connection can hang exit."""
        if self._closed:
            return
        self._closed = True
        try:
            await self._reader.close()
        except Exception:  # pragma: no cover - closing must never mask the real error
            log.exception("error while closing the read connections")
        try:
            await self._conn.close()
        except Exception:  # pragma: no cover - closing must never mask the real error
            log.exception("error while closing the database")
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)

    # -- reads ----------------------------------------------------------------------

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(connection)``, a read-only look-up of committed data, in one thread hop.

        ``fn`` may run several statements (the autocomplete path does); it runs on
        a read connection (see :mod:`.reader` for its rules), never queues behind
        writes and never sees an open transaction's rows.
        """
        return await self._reader.run(fn)

    async def fetchall(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        if self._holds_transaction():
            return await self._fetch_on_writer(sql, params)
        return await self._reader.run(lambda conn: _fetchall(conn, sql, params))

    async def fetchone(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        if self._holds_transaction():
            rows = await self._fetch_on_writer(sql, params, one=True)
            return rows[0] if rows else None
        return await self._reader.run(lambda conn: _fetchone(conn, sql, params))

    async def fetchval(self, sql: str, params: Params = ()) -> Any:
        row = await self.fetchone(sql, params)
        return None if row is None else row[0]

    async def pragma(self, name: str, value: int | str | None = None) -> Any:
        """Read (or set, with ``value``) a PRAGMA of the writer connection; returns its first value.

        PRAGMAs configure a connection (``busy_timeout``, ``foreign_keys``) or the
        file (``user_version``, ``journal_mode``), so they run on the writer, the
        connection that matters, and wait for an open transaction to end.
        """
        if not _PRAGMA_NAME.match(name):
            raise ValueError(f"not a PRAGMA name: {name!r}")
        sql = f"PRAGMA {name}"
        if value is not None:
            if not _PRAGMA_VALUE.match(str(value)):
                raise ValueError(f"not a PRAGMA value: {value!r}")
            sql += f" = {value}"
        if self._holds_transaction():
            rows = await self._fetch_on_writer(sql)
        else:
            async with self._lock:
                rows = await self._fetch_on_writer(sql)
        return rows[0][0] if rows else None

    def _holds_transaction(self) -> bool:
        """True when the calling task is inside :meth:`transaction` (its reads belong on the writer)."""
        return self._owner is not None and self._owner is asyncio.current_task()

    async def _fetch_on_writer(self, sql: str, params: Params = (), *, one: bool = False) -> list[sqlite3.Row]:
        async with self._conn.execute(sql, params) as cursor:
            if one:
                row = await cursor.fetchone()
                return [] if row is None else [row]
            return list(await cursor.fetchall())

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
            self._owner = asyncio.current_task()
            try:
                try:
                    yield self._conn
                except BaseException:
                    await self._rollback()
                    raise
                await self._commit()
            finally:
                self._owner = None

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

        SQLite skips its busy handler where waiting could deadlock (a read of
        this connection still open while another process holds the write lock)
        and reports ``SQLITE_BUSY`` at once. Reads outside transactions no longer
        run on this connection, so that should not happen; the retry with a
        short back-off, until the busy timeout has passed, keeps a surprise
        from becoming an error.
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

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one write in its own transaction; returns the number of changed rows."""
        async with self.transaction() as conn, conn.execute(sql, params) as cursor:
            return cursor.rowcount

    async def execute_atomic(self, sql: str, params: Params = ()) -> None:
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

    # -- migrations -----------------------------------------------------------------

    async def user_version(self) -> int:
        return int(await self.pragma("user_version"))

    async def migrate(self, migrations: list[Migration] | None = None) -> int:
        """Apply every migration newer than ``PRAGMA user_version``, each atomically.

        Each migration's statements, its Python step if it has one
        (:data:`MIGRATION_STEPS`) and the ``user_version`` bump run in one
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
                    if migration.step is not None:
                        await migration.step(conn)
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
        sql = "SELECT c.page_count * s.page_size FROM pragma_page_count() c, pragma_page_size() s"
        return int(await self.fetchval(sql))


def _fetchall(conn: sqlite3.Connection, sql: str, params: Params) -> list[sqlite3.Row]:
    cursor = conn.execute(sql, params)
    try:
        return cursor.fetchall()
    finally:
        cursor.close()


def _fetchone(conn: sqlite3.Connection, sql: str, params: Params) -> sqlite3.Row | None:
    # close() resets the statement: a half-read result would keep an old snapshot open.
    cursor = conn.execute(sql, params)
    try:
        return cursor.fetchone()
    finally:
        cursor.close()
