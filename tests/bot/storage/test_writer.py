"""The batched writer: many concurrent writers, no lost rows, failures isolated."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from bot.storage import BatchedWriter, Database, Migration, WriterClosedError

SCHEMA = Migration(1, "0001_t.sql", "CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT NOT NULL);")
INSERT = "INSERT INTO t (id, body) VALUES (?, ?)"
BULK_INSERT = "INSERT INTO t (id, body) SELECT value ->> 0, value ->> 1 FROM json_each(?) WHERE true ORDER BY key"


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


@pytest.mark.parametrize("bulk", [False, True], ids=["executemany", "bulk json run"])
async def test_bad_row_fails_alone(db: Database, bulk: bool) -> None:
    writer = BatchedWriter(db, max_delay=0.01)
    if bulk:
        writer.register_bulk(INSERT, BULK_INSERT)
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


# -- bulk statements (register_bulk) -----------------------------------------------------


@pytest.fixture
def atomic_calls(db: Database, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records the statements run through Database.execute_atomic (the one-trip bulk path)."""
    calls: list[str] = []
    original = db.execute_atomic

    async def spy(sql: str, params=()) -> None:
        calls.append(sql)
        await original(sql, params)

    monkeypatch.setattr(db, "execute_atomic", spy)
    return calls


async def test_runs_of_a_registered_statement_go_through_its_bulk_form(db: Database, atomic_calls: list[str]) -> None:
    writer = BatchedWriter(db, max_batch=500, max_delay=0.01)
    writer.register_bulk(INSERT, BULK_INSERT)
    bodies = ["plain", "é 漢字 🎬 \U0001f600", 'quote " and \\ backslash', "tab\tline\nbreak\r\u2028", '{"a": 1}', ""]
    try:
        await asyncio.gather(*(writer.write(INSERT, (i, bodies[i % len(bodies)])) for i in range(1200)))
        rows = await db.fetchall("SELECT id, body FROM t ORDER BY id")
        assert [(r[0], r[1]) for r in rows] == [(i, bodies[i % len(bodies)]) for i in range(1200)]
        assert atomic_calls and set(atomic_calls) == {BULK_INSERT}
        assert len(atomic_calls) <= writer.batches_committed < 100
    finally:
        await writer.close()


async def test_a_bulk_write_is_durable_when_it_returns(db: Database, tmp_path: Path, atomic_calls: list[str]) -> None:
    writer = BatchedWriter(db, max_delay=0.05)
    writer.register_bulk(INSERT, BULK_INSERT)
    try:
        await asyncio.gather(*(writer.write(INSERT, (i, f"durable {i}")) for i in range(3)))
        assert atomic_calls == [BULK_INSERT]
        # A second, independent connection sees the rows: committed, not just queued.
        conn = sqlite3.connect(tmp_path / "w.db")
        try:
            assert conn.execute("SELECT count(*) FROM t").fetchone() == (3,)
        finally:
            conn.close()
    finally:
        await writer.close()


async def test_mixed_batches_use_the_bulk_form_inside_one_transaction(db: Database) -> None:
    writer = BatchedWriter(db, max_delay=0.05)
    writer.register_bulk(INSERT, BULK_INSERT)
    try:
        await asyncio.gather(
            writer.write(INSERT, (1, "first")),
            writer.write(INSERT, (2, "second")),
            writer.write("UPDATE t SET body = ? WHERE id = ?", ("edited", 1)),
            writer.write(INSERT, (3, "third")),
            writer.write(INSERT, (4, "fourth")),
        )
        rows = await db.fetchall("SELECT id, body FROM t ORDER BY id")
        assert [tuple(r) for r in rows] == [(1, "edited"), (2, "second"), (3, "third"), (4, "fourth")]
        assert writer.batches_committed == 1
    finally:
        await writer.close()


async def test_rows_json_cannot_carry_fall_back_to_plain_binding(db: Database) -> None:
    writer = BatchedWriter(db, max_delay=0.01)
    writer.register_bulk(INSERT, BULK_INSERT)
    try:
        await asyncio.gather(writer.write(INSERT, (1, b"bytes")), writer.write(INSERT, (2, "text")))
        rows = await db.fetchall("SELECT id, body FROM t ORDER BY id")
        assert [tuple(r) for r in rows] == [(1, b"bytes"), (2, "text")]
    finally:
        await writer.close()


async def test_an_unencodable_row_fails_alone_and_the_writer_keeps_going(db: Database) -> None:
    writer = BatchedWriter(db, max_delay=0.01)
    writer.register_bulk(INSERT, BULK_INSERT)
    try:
        results = await asyncio.gather(
            writer.write(INSERT, (1, "ok")), writer.write(INSERT, (2, "lone \ud800 surrogate")), return_exceptions=True
        )
        assert results[0] is None and isinstance(results[1], UnicodeEncodeError)
        await writer.write(INSERT, (3, "still writing"))
        assert [r[0] for r in await db.fetchall("SELECT id FROM t ORDER BY id")] == [1, 3]
    finally:
        await writer.close()


async def test_a_cancelled_caller_does_not_stop_its_row_or_the_others(db: Database) -> None:
    writer = BatchedWriter(db, max_delay=0.05)
    try:
        doomed = asyncio.create_task(writer.write(INSERT, (1, "caller gave up")))
        others = [asyncio.create_task(writer.write(INSERT, (i, "x"))) for i in range(2, 5)]
        await asyncio.sleep(0)
        doomed.cancel()
        await asyncio.gather(*others)
        assert doomed.cancelled()
        assert await db.fetchval("SELECT count(*) FROM t") == 4
    finally:
        await writer.close()
