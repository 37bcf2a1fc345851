"""SQLite faults: a lock held by another process, corrupt or unreadable files, newer schemas.

Matinee's promise: writes wait for a busy database and then succeed, and a
database it cannot read is reported at start-up in one clear line and is never
overwritten (a corrupt file may be someone's only copy of years of comments).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import sqlite3
import sys
from pathlib import Path

import pytest

from bot.storage import BatchedWriter, Database, MetaRepository, StorageError

LOCKER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
conn.execute("BEGIN EXCLUSIVE")
conn.execute("INSERT INTO meta (key, value) VALUES ('locker', 'held')")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("COMMIT")
print("released", flush=True)
"""


async def make_database(path: Path) -> None:
    db = await Database.open(path)
    await db.migrate()
    await db.close()


class Locker:
    """Another process holding SQLite's write lock (BEGIN EXCLUSIVE) for ``seconds``."""

    def __init__(self, path: Path, seconds: float = 2.0) -> None:
        self.path = path
        self.seconds = seconds
        self.proc: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> Locker:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", LOCKER, str(self.path), str(self.seconds), stdout=asyncio.subprocess.PIPE
        )
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), 15)
        assert line.strip() == b"locked"
        return self

    async def released(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        rest = await asyncio.wait_for(self.proc.stdout.read(), 30)
        assert b"released" in rest
        assert await self.proc.wait() == 0

    async def __aexit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.returncode is None:
            await self.released()


async def test_writes_wait_for_another_process_lock_and_succeed(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    await make_database(path)
    db = await Database.open(path)
    meta = MetaRepository(db)
    writer = BatchedWriter(db)
    try:
        async with Locker(path, 2.0) as locker:
            single = asyncio.create_task(meta.set("ours", "single write"))
            batched = [
                asyncio.create_task(writer.write("INSERT INTO meta (key, value) VALUES (?, ?)", (f"b{i}", "x")))
                for i in range(200)
            ]
            # Reads are not blocked in WAL mode while the other process writes.
            assert await db.fetchval("SELECT count(*) FROM meta WHERE key = 'locker'") == 0
            await asyncio.sleep(0.5)
            assert not single.done(), "the write should be waiting for the lock, not failing or finishing"
            assert not any(t.done() for t in batched)
            await single
            await asyncio.gather(*batched)
            await locker.released()
        # Both the other process's write and all of ours are there: nothing lost, nothing failed.
        assert await meta.get("locker") == "held"
        assert await meta.get("ours") == "single write"
        assert await db.fetchval("SELECT count(*) FROM meta WHERE key LIKE 'b%'") == 200
    finally:
        await writer.close()
        await db.close()


async def test_write_racing_a_read_on_the_same_connection_still_waits_for_the_lock(tmp_path: Path) -> None:
    """Regression: an open read cursor made BEGIN IMMEDIATE fail at once with 'database is locked'."""
    path = tmp_path / "m.db"
    await make_database(path)
    db = await Database.open(path)
    try:
        async with Locker(path, 2.0) as locker:
            write = asyncio.create_task(MetaRepository(db).set("raced", "yes"))
            # The read is queued on the connection before the write's BEGIN, as with concurrent commands.
            reads = await asyncio.gather(*(db.fetchval("SELECT count(*) FROM meta") for _ in range(20)))
            assert all(r is not None for r in reads)
            await write
            await locker.released()
        assert await MetaRepository(db).get("raced") == "yes"
    finally:
        await db.close()


async def test_startup_and_migrations_wait_for_a_held_lock(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    await make_database(path)
    async with Locker(path, 2.0):
        db = await Database.open(path)
        try:
            version = await db.migrate()
            assert version >= 1
            await MetaRepository(db).set("after-start", "ok")
        finally:
            await db.close()
    check = sqlite3.connect(path)
    assert check.execute("SELECT value FROM meta WHERE key = 'after-start'").fetchone() == ("ok",)
    check.close()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _garbage(path: Path) -> None:
    path.write_bytes(os.urandom(64 * 1024))


def _text_file(path: Path) -> None:
    path.write_text("these are my film notes, not a database\n" * 100)


def _wrong_magic(path: Path) -> None:
    sqlite3.connect(path).close()
    real = sqlite3.connect(path)
    real.execute("CREATE TABLE t (x)")
    real.commit()
    real.close()
    data = bytearray(path.read_bytes())
    data[0:16] = b"NOT SQLITE 3\x00\x00\x00\x00"
    path.write_bytes(bytes(data))


def _bad_page_size(path: Path) -> None:
    real = sqlite3.connect(path)
    real.execute("CREATE TABLE t (x)")
    real.commit()
    real.close()
    data = bytearray(path.read_bytes())
    data[16:18] = b"\x00\x07"  # page size 7 is impossible
    path.write_bytes(bytes(data))


def _schema_page_trashed(path: Path) -> None:
    real = sqlite3.connect(path)
    for i in range(20):
        real.execute(f"CREATE TABLE t{i} (x TEXT)")
    real.commit()
    real.close()
    data = bytearray(path.read_bytes())
    data[100:4096] = os.urandom(4096 - 100)  # the sqlite_master b-tree on page 1
    path.write_bytes(bytes(data))


CORRUPTIONS = {
    "random bytes": _garbage,
    "a text file": _text_file,
    "wrong magic header": _wrong_magic,
    "impossible page size": _bad_page_size,
    "schema page overwritten": _schema_page_trashed,
}


@pytest.mark.parametrize("corruption", sorted(CORRUPTIONS))
async def test_corrupt_database_is_reported_and_never_overwritten(tmp_path: Path, corruption: str) -> None:
    path = tmp_path / "matinee.db"
    CORRUPTIONS[corruption](path)
    before = digest(path)
    with pytest.raises(StorageError) as info:
        db = await Database.open(path)
        try:
            await db.migrate()  # if opening slipped through, migrating must fail, not "repair"
        finally:
            await db.close()
    message = str(info.value)
    assert str(path) in message
    assert "not overwrite" in message or "unreadable" in message
    assert "\n" not in message
    assert digest(path) == before
    assert not (tmp_path / "matinee.db-wal").exists() or (tmp_path / "matinee.db-wal").stat().st_size == 0


async def test_database_path_that_is_a_directory_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "matinee.db"
    path.mkdir()
    with pytest.raises(StorageError, match="not a file"):
        await Database.open(path)
    assert path.is_dir() and list(path.iterdir()) == []


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root can read a mode-000 file")
async def test_unreadable_database_file_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "matinee.db"
    await make_database(path)
    before = digest(path)
    path.chmod(0)
    try:
        with pytest.raises(StorageError):
            db = await Database.open(path)
            await db.close()
    finally:
        path.chmod(0o600)
    assert digest(path) == before


async def test_database_from_a_newer_matinee_is_refused_not_downgraded(tmp_path: Path) -> None:
    path = tmp_path / "matinee.db"
    await make_database(path)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 999")
    conn.commit()
    conn.close()
    before = digest(path)
    db = await Database.open(path)
    try:
        with pytest.raises(StorageError, match="newer than this Matinee"):
            await db.migrate()
    finally:
        await db.close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone() == (999,)
    conn.close()
    assert digest(path) == before or path.stat().st_size > 0


@pytest.mark.slow
@pytest.mark.parametrize("corruption", ["random bytes", "wrong magic header"])
async def test_matinee_run_exits_with_one_clear_line_on_a_corrupt_database(
    bot_process, double, world, corruption: str
) -> None:
    CORRUPTIONS[corruption](bot_process.database_path)
    before = digest(bot_process.database_path)
    proc = await bot_process.spawn()
    rc = await proc.wait_exit(60)
    assert rc == 2, proc.output
    errors = [line for line in proc.stderr if line.startswith("matinee: ")]
    assert len(errors) == 1, proc.output
    assert str(bot_process.database_path) in errors[0]
    assert "will not overwrite" in errors[0]
    assert "Traceback" not in proc.output
    assert digest(bot_process.database_path) == before
    assert double.identify_count == 0  # it never went online with a broken database


@pytest.mark.e2e
async def test_comments_and_ratings_during_a_two_second_lock_are_all_stored(double, world, run_bot) -> None:
    from bot.storage import FilmRepository
    from tests.e2e._discussions import open_thread, wait_rows

    bot = await run_bot()
    film = await FilmRepository(bot.db).add("Heat", year=1995)
    opened = await open_thread(bot, double, world)
    async with Locker(run_bot.database_path, 2.0) as locker:
        sent = [await double.post_message(opened.thread_id, world.member_id, f"during the lock {i}") for i in range(50)]
        record = await double.invoke_command(world.guild_id, world.text_channel_id, world.member_id, "rate",
                                             {"film": str(film.id), "stars": "4"})  # fmt: skip
        await locker.released()
    answer = await record.wait_final_message(timeout=20)
    assert "Something went wrong" not in answer.get("content", "")
    rows = await wait_rows(bot, double, "SELECT message_id FROM comments ORDER BY message_id", count=50, timeout=20)
    assert [r[0] for r in rows] == [int(m["id"]) for m in sent]
    assert await bot.db.fetchval("SELECT stars FROM film_ratings WHERE user_id = ?", (world.member_id,)) == 4.0
    await run_bot.stop(bot)
