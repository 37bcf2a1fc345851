"""Consistent copies of the live database (``matinee backup``), and putting one back (``matinee restore``).

Backup uses SQLite's online backup API (:meth:`sqlite3.Connection.backup`) in a single step:
the whole copy is read inside one read transaction, so it is the database exactly as of one
moment, whatever the bot commits meanwhile; in WAL mode that reader never blocks the bot's
writers. A plain ``cp`` of a live database can copy a torn file, or miss what is still in
``-wal``. The copy is written to a temporary file beside the target, switched to a single-file
journal mode, checked with ``PRAGMA integrity_check`` and only then renamed into place, so a
backup path holds either nothing or a complete, checked backup.

Restore refuses while a bot holds the database's lock (:mod:`.runlock`) and holds that lock
itself, so no bot can start half-way. It checks the backup the same way (a SQLite database, a
Matinee one, intact, not from a newer Matinee) on a copy in the database's directory, keeps the
database it replaces (hard-linked, with its ``-wal``) under a dated name, removes the old
``-wal``/``-shm`` (a stale log would be replayed into the restored file) and renames the copy
over the database: an atomic switch.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from .database import BUSY_TIMEOUT_MS, StorageError, load_migrations
from .runlock import DatabaseLock

__all__ = [
    "BackupError",
    "DatabaseInfo",
    "RestoreResult",
    "backup_database",
    "default_backup_name",
    "latest_schema_version",
    "restore_database",
]

SIDE_FILES = ("-wal", "-shm", "-journal")


class BackupError(StorageError):
    """A backup or restore was refused or failed; nothing was changed. The message says why."""


@dataclass(frozen=True, slots=True)
class DatabaseInfo:
    """What a backup holds: where it is, its schema version and its size."""

    path: Path
    schema_version: int
    size_bytes: int


@dataclass(frozen=True, slots=True)
class RestoreResult:
    restored: DatabaseInfo
    previous: Path | None  # where the replaced database was kept, if there was one


def latest_schema_version() -> int:
    """The schema version this Matinee migrates databases to."""
    return max((m.version for m in load_migrations()), default=0)


def default_backup_name(now: datetime | None = None) -> str:
    """``matinee-20261125T030000Z.db``: sorts by date, safe in every file system."""
    return f"matinee-{(now or datetime.now(UTC)):%Y%m%dT%H%M%SZ}.db"


# --------------------------------------------------------------------------- backup


def backup_database(source: Path, target: Path, *, force: bool = False) -> DatabaseInfo:
    """Copy the database at ``source`` to ``target`` (a file, or a directory for a dated file).

    Safe while the bot runs. Refuses an existing ``target`` file unless ``force``.
    """
    source = Path(source)
    if not source.is_file():
        raise BackupError(f"no database at {source} (check DATABASE_PATH)")
    target = Path(target)
    if target.is_dir():
        target = target / default_backup_name()
    if not target.parent.is_dir():
        raise BackupError(f"the directory {target.parent} does not exist; create it first")
    if target.exists() and target.resolve() == source.resolve():
        raise BackupError(f"{target} is the database itself; give another path")
    if target.exists() and not force:
        raise BackupError(f"{target} already exists; add --force to overwrite it")
    with _temporary_file(target) as temporary:
        # Read-only: a backup never writes to the live database.
        with contextlib.closing(_connect(source, "ro")) as src, contextlib.closing(sqlite3.connect(temporary)) as dst:
            try:
                src.backup(dst)  # pages=-1: one step, one read transaction, one consistent snapshot
            except sqlite3.DatabaseError as exc:
                raise BackupError(f"cannot back up {source}: {_reason(exc)}") from exc
            info = _finish_copy(dst, temporary, origin=source)
        _publish(temporary, target, replace=force)
    return DatabaseInfo(target, info.schema_version, info.size_bytes)


def _publish(temporary: Path, target: Path, *, replace: bool) -> None:
    """Move the finished copy to ``target``; without ``replace``, never over a file that appeared meanwhile."""
    if replace:
        os.replace(temporary, target)
    else:
        try:
            os.link(temporary, target)  # fails if target exists, atomically: no check-then-write race
        except FileExistsError:
            raise BackupError(f"{target} already exists; add --force to overwrite it") from None
        except OSError:  # a file system without hard links
            if target.exists():
                raise BackupError(f"{target} already exists; add --force to overwrite it") from None
            os.replace(temporary, target)
    _fsync_directory(target.parent)


# --------------------------------------------------------------------------- restore


def restore_database(backup: Path, database: Path) -> RestoreResult:
    """Replace ``database`` with the checked contents of ``backup``; refuses while a bot uses it."""
    backup, database = Path(backup), Path(database)
    if not backup.is_file():
        raise BackupError(f"no backup at {backup}")
    if database.exists() and not database.is_file():
        raise BackupError(f"the database path {database} is not a file")
    if database.exists() and backup.resolve() == database.resolve():
        raise BackupError(f"{backup} is the database itself; restore from a backup copy")
    with DatabaseLock(database, "matinee restore"), _temporary_file(database) as temporary:
        with _reading(backup) as src, contextlib.closing(sqlite3.connect(temporary)) as dst:
            try:
                src.backup(dst)
            except sqlite3.DatabaseError as exc:
                raise BackupError(f"cannot restore {backup}: {_reason(exc)}") from exc
            info = _finish_copy(dst, temporary, origin=backup)
        _check_restorable(backup, info)
        previous = _keep_previous(database)
        for suffix in SIDE_FILES:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f"{database}{suffix}")
        os.replace(temporary, database)
        _fsync_directory(database.parent)
    return RestoreResult(DatabaseInfo(database, info.schema_version, info.size_bytes), previous)


def _check_restorable(backup: Path, info: DatabaseInfo) -> None:
    latest = latest_schema_version()
    if info.schema_version > latest:
        raise BackupError(
            f"the backup {backup} is at schema version {info.schema_version}, newer than this Matinee "
            f"({latest}); upgrade Matinee, then restore"
        )
    if info.schema_version < 1:
        raise BackupError(f"{backup} is a SQLite database but not a Matinee one (schema version 0)")


def _keep_previous(database: Path) -> Path | None:
    """Keep the database being replaced as ``<name>.before-restore-<time>`` (with its ``-wal``)."""
    if not database.exists():
        return None
    kept = database.with_name(f"{database.name}.before-restore-{datetime.now(UTC):%Y%m%dT%H%M%SZ}")
    for suffix in ("", "-wal"):
        original, copy = Path(f"{database}{suffix}"), Path(f"{kept}{suffix}")
        if not original.exists():
            continue
        try:
            os.link(original, copy)  # costs no space; the restore then renames a new file over the name
        except FileExistsError:
            raise BackupError(f"{copy} already exists; try again in a second") from None
        except OSError:
            shutil.copy2(original, copy)
    return kept


# --------------------------------------------------------------------------- shared steps


def _connect(path: Path, mode: str) -> sqlite3.Connection:
    """Open an existing file (``mode`` ``rw`` or ``ro``); never creates one."""
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode={mode}", uri=True, timeout=BUSY_TIMEOUT_MS / 1000)
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS:d}")
    except sqlite3.Error as exc:
        raise BackupError(f"cannot open {path}: {_reason(exc)}") from exc
    return conn


@contextlib.contextmanager
def _reading(path: Path) -> Iterator[sqlite3.Connection]:
    """A read-only connection to a backup file that leaves no ``-wal``/``-shm`` of its own behind.

    Reading a backup in WAL mode (say, a ``cp`` of a live database) makes SQLite create
    those files beside it; the ones that were not there before are removed again.
    """
    existed = {suffix for suffix in SIDE_FILES if Path(f"{path}{suffix}").exists()}
    conn = _connect(path, "ro")
    try:
        yield conn
    finally:
        conn.close()
        for suffix in set(SIDE_FILES) - existed:
            with contextlib.suppress(OSError):
                os.unlink(f"{path}{suffix}")


def _finish_copy(dst: sqlite3.Connection, temporary: Path, *, origin: Path) -> DatabaseInfo:
    """Make the fresh copy one self-contained file, check it, and flush it to disk."""
    try:
        dst.execute("PRAGMA journal_mode = DELETE")  # the copy carries the source's WAL flag
        verdict = [row[0] for row in dst.execute("PRAGMA integrity_check")]
        version = int(dst.execute("PRAGMA user_version").fetchone()[0])
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{origin} is damaged: {_reason(exc)}") from exc
    if verdict != ["ok"]:
        raise BackupError(f"{origin} failed its integrity check: {'; '.join(verdict[:3])}")
    dst.close()
    with open(temporary, "rb+") as handle:
        os.fsync(handle.fileno())
    return DatabaseInfo(temporary, version, temporary.stat().st_size)


@contextlib.contextmanager
def _temporary_file(beside: Path) -> Iterator[Path]:
    """An empty temporary file in ``beside``'s directory (so the final rename is atomic), removed on failure."""
    try:
        fd, name = tempfile.mkstemp(prefix=f".{beside.name}.", suffix=".tmp", dir=beside.parent)
    except OSError as exc:
        raise BackupError(f"cannot write in {beside.parent}: {exc.strerror or exc}") from exc
    os.close(fd)
    temporary = Path(name)
    try:
        yield temporary
    finally:
        for suffix in ("", *SIDE_FILES):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f"{temporary}{suffix}")


def _fsync_directory(directory: Path) -> None:
    """Make a rename in ``directory`` durable (a no-op where directories cannot be opened)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _reason(exc: sqlite3.Error) -> str:
    text = str(exc)
    if "file is not a database" in text:
        return "not a SQLite database"
    return text
