"""Backups are consistent snapshots of a database being written; restores are checked and atomic."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from bot.storage import Database
from bot.storage.backup import BackupError, backup_database, latest_schema_version, restore_database
from bot.storage.runlock import DatabaseInUseError, DatabaseLock, lock_path
from tests._environment import child_environment


def read(path: Path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def counter_snapshot(path: Path) -> tuple[int, int]:
    """(rows written, the counter those writes kept): equal in every consistent state."""
    rows = read(path, "SELECT count(*) FROM meta WHERE key LIKE 'row:%'")[0][0]
    counter = read(path, "SELECT coalesce((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'counter'), 0)")[0][0]
    return rows, counter


async def matinee_db(path: Path, **meta: str) -> Path:
    """A migrated Matinee database at ``path`` (created or opened), with ``meta`` rows added."""
    db = await Database.open(path)
    try:
        await db.migrate()
        for key, value in meta.items():
            await db.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (key, value))
    finally:
        await db.close()
    return path


async def test_backups_taken_during_writes_are_consistent_snapshots(tmp_path: Path) -> None:
    source = tmp_path / "matinee.db"
    db = await Database.open(source)
    await db.migrate()
    # Some bulk, so a backup is not instantaneous next to the writer.
    await db.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", [(f"pad:{i}", "x" * 500) for i in range(4000)])
    committed = 0
    stop = asyncio.Event()

    async def write_forever() -> None:
        nonlocal committed
        while not stop.is_set():
            n = committed + 1
            async with db.transaction() as conn:  # two writes that only make sense together
                await conn.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (f"row:{n}", "v"))
                await conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('counter', ?)", (str(n),))
            committed = n

    writer = asyncio.create_task(write_forever())
    copies: list[tuple[Path, int, int]] = []
    try:
        while committed < 5:
            await asyncio.sleep(0.01)
        started_at = committed
        # Keep backing up until the writer has committed plenty while backups were running.
        while committed < started_at + 30 or len(copies) < 3:
            before = committed
            target = tmp_path / f"copy-{len(copies)}.db"
            info = await asyncio.to_thread(backup_database, source, target)
            copies.append((info.path, before, committed))
            assert len(copies) < 500, "the writer made no progress while backups ran"
    finally:
        stop.set()
        await writer
        await db.close()

    for path, before, after in copies:
        assert read(path, "PRAGMA integrity_check") == [("ok",)]
        assert read(path, "PRAGMA journal_mode") == [("delete",)], "a backup is one self-contained file"
        assert not Path(f"{path}-wal").exists()
        rows, counter = counter_snapshot(path)
        assert rows == counter, f"{path.name} holds half a transaction: {rows} rows, counter {counter}"
        assert before <= counter <= after
        assert read(path, "PRAGMA user_version") == [(latest_schema_version(),)]


async def test_backup_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    source = tmp_path / "matinee.db"
    await matinee_db(source, greeting="first")
    target = tmp_path / "backup.db"
    target.write_text("precious")
    with pytest.raises(BackupError, match="already exists; add --force"):
        backup_database(source, target)
    assert target.read_text() == "precious"
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []

    info = backup_database(source, target, force=True)
    assert info.path == target and info.schema_version == latest_schema_version() and info.size_bytes > 0
    assert read(target, "SELECT value FROM meta WHERE key = 'greeting'") == [("first",)]


async def test_backup_into_a_directory_writes_a_dated_file(tmp_path: Path) -> None:
    source = tmp_path / "matinee.db"
    await matinee_db(source)
    folder = tmp_path / "backups"
    folder.mkdir()
    info = backup_database(source, folder)
    assert info.path.parent == folder and info.path.name.startswith("matinee-") and info.path.suffix == ".db"
    assert list(folder.iterdir()) == [info.path]


@pytest.mark.parametrize("case", ["no source", "not sqlite", "no directory", "itself"])
async def test_backup_refusals_say_why(tmp_path: Path, case: str) -> None:
    source = tmp_path / "matinee.db"
    target = tmp_path / "backup.db"
    if case == "not sqlite":
        source.write_text("hello, I am a text file, not a database" * 50)
    elif case != "no source":
        await matinee_db(source)
    if case == "no directory":
        target = tmp_path / "missing" / "backup.db"
    if case == "itself":
        target = source
    expected = {
        "no source": "no database at",
        "not sqlite": "not a SQLite database",
        "no directory": "does not exist; create it first",
        "itself": "is the database itself",
    }[case]
    with pytest.raises(BackupError, match=expected):
        backup_database(source, target, force=True)
    assert not (tmp_path / "backup.db").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def crashed_writer(path: Path, key: str) -> None:
    """A process that commits a row in WAL mode and dies without checkpointing: the row lives in ``-wal``."""
    code = (
        "import os, sqlite3, sys\n"
        "conn = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
        "conn.execute('PRAGMA journal_mode = WAL'); conn.execute('PRAGMA wal_autocheckpoint = 0')\n"
        "conn.execute('INSERT INTO meta (key, value) VALUES (?, ?)', (sys.argv[2], 'in the wal'))\n"
        "os._exit(0)\n"
    )
    subprocess.run([sys.executable, "-c", code, str(path), key], check=True, timeout=60)


async def test_restore_replaces_the_database_and_keeps_the_old_one(tmp_path: Path) -> None:
    backup = tmp_path / "backup.db"
    await matinee_db(tmp_path / "source.db", era="backup")
    backup_database(tmp_path / "source.db", backup)
    database = tmp_path / "data" / "matinee.db"
    database.parent.mkdir()
    await matinee_db(database, era="current")
    crashed_writer(database, "unsaved")
    assert Path(f"{database}-wal").stat().st_size > 0
    Path(f"{database}-shm").write_bytes(b"\x00" * 100)  # whatever the crash left

    result = restore_database(backup, database)

    assert result.restored.schema_version == latest_schema_version()
    assert not Path(f"{database}-wal").exists() and not Path(f"{database}-shm").exists()
    assert read(database, "SELECT value FROM meta WHERE key = 'era'") == [("backup",)]
    assert read(database, "PRAGMA integrity_check") == [("ok",)]
    # The replaced database is kept, its write-ahead log with it.
    assert result.previous is not None and result.previous.parent == database.parent
    assert read(result.previous, "SELECT key FROM meta WHERE key IN ('era', 'unsaved') ORDER BY key") == [
        ("era",),
        ("unsaved",),
    ]
    assert sorted(p.name for p in database.parent.iterdir() if ".tmp" in p.name) == []
    # The bot opens the restored file as usual.
    await matinee_db(database, after="restore")
    assert read(database, "SELECT count(*) FROM meta WHERE key IN ('era', 'after')") == [(2,)]


async def test_restore_onto_a_fresh_machine(tmp_path: Path) -> None:
    await matinee_db(tmp_path / "source.db", era="backup")
    backup_database(tmp_path / "source.db", tmp_path / "backup.db")
    database = tmp_path / "new" / "place" / "matinee.db"
    result = restore_database(tmp_path / "backup.db", database)
    assert result.previous is None
    assert read(database, "SELECT value FROM meta WHERE key = 'era'") == [("backup",)]


async def test_restore_reads_a_copied_wal_mode_backup_without_leaving_files(tmp_path: Path) -> None:
    """A `cp` of a stopped bot's database is in WAL mode; restore reads it and leaves its folder as it was."""
    folder = tmp_path / "backups"
    folder.mkdir()
    await matinee_db(folder / "copied.db", era="copied")
    assert read(folder / "copied.db", "PRAGMA journal_mode") == [("wal",)]
    before = sorted(p.name for p in folder.iterdir())
    restore_database(folder / "copied.db", tmp_path / "matinee.db")
    assert sorted(p.name for p in folder.iterdir()) == before
    assert read(tmp_path / "matinee.db", "SELECT value FROM meta WHERE key = 'era'") == [("copied",)]


@pytest.mark.parametrize("case", ["text file", "empty sqlite", "newer", "corrupt", "missing", "itself"])
async def test_restore_refuses_a_bad_backup_and_changes_nothing(tmp_path: Path, case: str) -> None:
    database = tmp_path / "matinee.db"
    await matinee_db(database, era="current")
    original = database.read_bytes()
    backup = tmp_path / "backup.db"
    if case == "text file":
        backup.write_text("SQLite format 3? no, a shopping list\n" * 100)
    elif case == "empty sqlite":
        sqlite3.connect(backup).close()
    elif case == "newer":
        await matinee_db(tmp_path / "source.db")
        backup_database(tmp_path / "source.db", backup)
        conn = sqlite3.connect(backup)
        conn.execute(f"PRAGMA user_version = {latest_schema_version() + 1}")
        conn.close()
    elif case == "corrupt":
        await matinee_db(tmp_path / "source.db", **{f"k{i}": "v" * 200 for i in range(300)})
        backup_database(tmp_path / "source.db", backup)
        data = bytearray(backup.read_bytes())
        page = 4096
        data[page * 3 : page * 3 + 2000] = os.urandom(2000)  # scribble over a b-tree page
        backup.write_bytes(bytes(data))
    elif case == "itself":
        backup = database
    expected = {
        "text file": "not a SQLite database",
        "empty sqlite": "not a Matinee one",
        "newer": "newer than this Matinee",
        "corrupt": "integrity|malformed|not a SQLite",
        "missing": "no backup at",
        "itself": "is the database itself",
    }[case]
    with pytest.raises(BackupError, match=expected):
        restore_database(backup, database)
    assert database.read_bytes() == original
    assert sorted(p.name for p in tmp_path.iterdir() if ".tmp" in p.name or "before-restore" in p.name) == []


async def test_restore_refuses_while_a_bot_holds_the_lock(tmp_path: Path) -> None:
    database = tmp_path / "matinee.db"
    await matinee_db(database, era="current")
    backup_database(database, tmp_path / "backup.db")
    with (
        DatabaseLock(database, "matinee run"),
        pytest.raises(DatabaseInUseError, match=rf"matinee run \(pid {os.getpid()}\)"),
    ):
        restore_database(tmp_path / "backup.db", database)
    assert restore_database(tmp_path / "backup.db", database).previous is not None


def test_the_lock_is_exclusive_and_released_with_its_holder(tmp_path: Path) -> None:
    database = tmp_path / "matinee.db"
    first = DatabaseLock(database, "matinee run")
    first.acquire()
    with pytest.raises(DatabaseInUseError, match="stop it first"):
        DatabaseLock(database, "matinee restore").acquire()
    first.release()
    with DatabaseLock(database, "matinee restore"):
        assert lock_path(database).read_text().split() == [str(os.getpid()), "matinee", "restore"]
    assert lock_path(database).exists() and lock_path(database).read_text() == ""


def test_a_killed_holder_leaves_no_lock_behind(tmp_path: Path) -> None:
    """SIGKILL runs no clean-up; the kernel still drops the lock, so the stale file blocks nothing."""
    database = tmp_path / "matinee.db"
    code = (
        "import sys, time\n"
        "from bot.storage.runlock import DatabaseLock\n"
        "DatabaseLock(sys.argv[1], 'matinee run').acquire()\n"
        "print('locked', flush=True)\n"
        "time.sleep(600)\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code, str(database)],
        stdout=subprocess.PIPE,
        text=True,
        env=child_environment(),
        cwd=tmp_path,
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "locked"
        with pytest.raises(DatabaseInUseError, match=rf"matinee run \(pid {child.pid}\)"):
            DatabaseLock(database, "matinee restore").acquire()
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        child.stdout.close()
    assert str(child.pid) in lock_path(database).read_text(), "the file still names the dead holder"
    with DatabaseLock(database, "matinee restore"):
        pass
