"""The batched writer: many concurrent writers, no lost rows, failures isolated."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from bot.storage import BatchedWriter, Database, Migration, WriterClosedError

SCHEMA = Migration(1, "0001_t.sql", "CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT NOT NULL);")
INSERT = "INSERT INTO t (id, body) VALUES (?, ?)"


@pytest.fixture
async def db(tmp_path: Path):
    database = await Database.open(tmp_path / "w.db")
    await database.migrate([SCHEMA])
    yield database
    await database.close()


async def test_many_concurrent_writers_lose_nothing(db: Database) -> None:
    writer = BatchedWriter(db, max_batch=200, max_delay=0.002)
    try:
        await asyncio.gather(*(writer.write(INSERT, (i, f"row {i}")) for i in range(5000)))
        assert await db.fetchval("SELECT count(*) FROM t") == 5000
        # Batching really happened: far fewer commits than rows.
        assert writer.batches_committed < 100
        assert writer.rows_committed == 5000
    finally:
        await writer.close()


async def test_write_returns_only_after_commit(db: Database, tmp_path: Path) -> None:
    writer = BatchedWriter(db, max_delay=0.05)
    try:
        await writer.write(INSERT, (1, "durable"))
        # A second, independent connection sees the row: it was committed, not just queued.
        conn = sqlite3.connect(tmp_path / "w.db")
        try:
            assert conn.execute("SELECT body FROM t WHERE id = 1").fetchone() == ("durable",)
        finally:
            conn.close()
    finally:
        await writer.close()


async def test_bad_row_fails_alone(db: Database) -> None:
    writer = BatchedWriter(db, max_delay=0.01)
    try:
        results = await asyncio.gather(
            writer.write(INSERT, (1, "a")),
            writer.write(INSERT, (1, "duplicate id")),
            writer.write(INSERT, (2, "b")),
            return_exceptions=True,
        )
        assert results[0] is None and results[2] is None
        assert isinstance(results[1], sqlite3.IntegrityError)
        assert [r[0] for r in await db.fetchall("SELECT body FROM t ORDER BY id")] == ["a", "b"]
    finally:
        await writer.close()


async def test_order_of_writes_is_kept(db: Database) -> None:
    writer = BatchedWriter(db, max_delay=0.01)
    try:
        await asyncio.gather(
            writer.write(INSERT, (1, "first")),
            writer.write("UPDATE t SET body = ? WHERE id = ?", ("edited", 1)),
        )
        assert await db.fetchval("SELECT body FROM t WHERE id = 1") == "edited"
    finally:
        await writer.close()


async def test_close_flushes_pending_and_refuses_new_rows(db: Database) -> None:
    writer = BatchedWriter(db, max_delay=10.0, max_batch=10_000)
    tasks = [asyncio.create_task(writer.write(INSERT, (i, "x"))) for i in range(50)]
    await asyncio.sleep(0)
    await writer.close()
    await asyncio.gather(*tasks)
    assert await db.fetchval("SELECT count(*) FROM t") == 50
    with pytest.raises(WriterClosedError):
        await writer.write(INSERT, (99, "late"))
