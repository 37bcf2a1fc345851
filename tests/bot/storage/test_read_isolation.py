"""Reads outside a transaction see committed data only; a coroutine still reads its own writes.

The writer connection is inside another coroutine's ``BEGIN IMMEDIATE`` whenever a
transaction is open. Reads used to share it, so a read made meanwhile (a
``/matinee feed add`` polling outside the reviews loop's turn lock, say) saw rows
that were then rolled back.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from bot.storage import BatchedWriter, Database

INSERT = "INSERT INTO meta (key, value) VALUES (?, ?)"
SELECT = "SELECT value FROM meta WHERE key = ?"


class Rollback(Exception):
    """Raised inside a transaction to roll it back."""


async def test_a_rolled_back_write_is_never_seen_by_a_concurrent_read(db: Database) -> None:
    inserted = asyncio.Event()
    reads_done = asyncio.Event()

    async def write_then_roll_back() -> None:
        with pytest.raises(Rollback):
            async with db.transaction() as conn:
                await conn.execute(INSERT, ("ghost", "uncommitted"))
                inserted.set()
                await reads_done.wait()  # keep the transaction open while the others read
                raise Rollback

    async def read_meanwhile() -> list[object]:
        await inserted.wait()
        seen = [
            await db.fetchval(SELECT, ("ghost",)),
            await db.fetchone(SELECT, ("ghost",)),
            await db.fetchall(SELECT, ("ghost",)),
            await db.fetchval("SELECT count(*) FROM meta WHERE key = 'ghost'"),
            await db.read(lambda conn: conn.execute(SELECT, ("ghost",)).fetchall()),
        ]
        reads_done.set()
        return seen

    writer = asyncio.create_task(write_then_roll_back())
    # The reads must answer while the transaction is still open (no waiting for its lock).
    seen = await asyncio.wait_for(read_meanwhile(), 10)
    await writer
    assert seen == [None, None, [], 0, []]
    assert await db.fetchval(SELECT, ("ghost",)) is None
    assert not db.connection.in_transaction


async def test_the_task_inside_a_transaction_reads_its_own_uncommitted_rows(db: Database) -> None:
    with pytest.raises(Rollback):
        async with db.transaction() as conn:
            await conn.execute(INSERT, ("mine", "pending"))
            assert await db.fetchval(SELECT, ("mine",)) == "pending"
            assert [tuple(r) for r in await db.fetchall(SELECT, ("mine",))] == [("pending",)]
            assert (await db.fetchone(SELECT, ("mine",)))["value"] == "pending"
            raise Rollback
    assert await db.fetchval(SELECT, ("mine",)) is None


async def test_a_task_started_inside_a_transaction_does_not_read_through_it(db: Database) -> None:
    """Only the task that holds the transaction reads on the writer; a task it spawns reads committed data."""
    with pytest.raises(Rollback):
        async with db.transaction() as conn:
            await conn.execute(INSERT, ("spawned", "pending"))
            seen = await asyncio.wait_for(asyncio.create_task(db.fetchval(SELECT, ("spawned",))), 10)
            assert seen is None
            raise Rollback


async def test_every_write_is_visible_to_the_next_read(db: Database) -> None:
    writer = BatchedWriter(db)
    try:
        for i in range(50):
            await db.execute(INSERT, (f"execute:{i}", "x"))
            assert await db.fetchval(SELECT, (f"execute:{i}",)) == "x"
            async with db.transaction() as conn:
                await conn.execute(INSERT, (f"transaction:{i}", "y"))
            assert await db.fetchval(SELECT, (f"transaction:{i}",)) == "y"
            await writer.write(INSERT, (f"writer:{i}", "z"))
            assert await db.fetchval(SELECT, (f"writer:{i}",)) == "z"
    finally:
        await writer.close()


async def test_a_half_read_result_does_not_pin_an_old_snapshot(db: Database) -> None:
    """fetchone over many rows must end its statement, or the reader keeps reading the past."""
    await db.executemany(INSERT, [(f"row:{i:03d}", "old") for i in range(100)])
    for i in range(20):
        assert await db.fetchone("SELECT key FROM meta WHERE key LIKE 'row:%' ORDER BY key") is not None
        await db.execute("UPDATE meta SET value = ? WHERE key = 'row:000'", (f"new {i}",))
        assert await db.fetchval(SELECT, ("row:000",)) == f"new {i}"


async def test_reads_cannot_write(db: Database) -> None:
    with pytest.raises(sqlite3.OperationalError):
        await db.fetchall("DELETE FROM meta")
    with pytest.raises(sqlite3.OperationalError):
        await db.read(lambda conn: conn.execute("DELETE FROM meta"))


async def test_pragmas_describe_and_set_the_writer_connection(db: Database) -> None:
    assert await db.pragma("foreign_keys") == 1
    assert await db.pragma("busy_timeout") >= 5000
    await db.pragma("user_version", 41)
    assert await db.user_version() == 41
    for bad in ("user_version; DROP TABLE meta", "1"):
        with pytest.raises(ValueError):
            await db.pragma(bad)
    with pytest.raises(ValueError):
        await db.pragma("user_version", "1; DROP TABLE meta")


async def test_a_memory_database_is_a_throwaway_file_that_reads_share() -> None:
    db = await Database.open(":memory:")
    try:
        await db.migrate()
        path = Path(db.path)
        assert path.is_file()
        await db.execute(INSERT, ("k", "v"))
        assert await db.fetchval(SELECT, ("k",)) == "v"
        assert await db.read(lambda conn: conn.execute(SELECT, ("k",)).fetchone()[0]) == "v"
    finally:
        await db.close()
    assert not path.exists() and not path.parent.exists()
    again = await Database.open(":memory:")
    try:
        await again.migrate()
        assert await again.fetchval(SELECT, ("k",)) is None  # every ":memory:" database starts empty
    finally:
        await again.close()
