"""Graceful shutdown in the middle of a write batch: committed or retried, never half-applied.

The batched writer commits rows in batches; a SIGTERM (or a task cancellation)
can land while a batch's transaction is open. The invariant checked here: the
rows in the database are exactly whole batches, in order (a contiguous prefix of
what was queued, no gaps), every acknowledged write is stored, and no caller is
told "stored" for a row that is not.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import pytest

from bot.storage import BatchedWriter, Database, WriterClosedError

INSERT_A = "INSERT INTO meta (key, value) VALUES (?, 'a')"
INSERT_B = "INSERT INTO meta (key, value) VALUES (?, 'b')"


async def open_db(path: Path) -> Database:
    db = await Database.open(path)
    await db.migrate()
    return db


async def stored_keys(db: Database, prefix: str) -> set[str]:
    rows = await db.fetchall("SELECT key FROM meta WHERE key LIKE ?", (f"{prefix}%",))
    return {r[0] for r in rows}


async def test_close_commits_everything_queued(tmp_path: Path) -> None:
    db = await open_db(tmp_path / "m.db")
    writer = BatchedWriter(db, max_batch=100)
    tasks = [asyncio.create_task(writer.write(INSERT_A, (f"k{i:05d}",))) for i in range(2500)]
    await asyncio.sleep(0)  # queued, not yet flushed
    await writer.close()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(r is None for r in results)
    assert len(await stored_keys(db, "k")) == 2500
    with pytest.raises(WriterClosedError):
        await writer.write(INSERT_A, ("late",))
    assert await stored_keys(db, "late") == set()
    await db.close()


async def test_cancellation_inside_a_batch_finishes_that_batch_and_loses_nothing(tmp_path: Path) -> None:
    db = await open_db(tmp_path / "m.db")
    writer = BatchedWriter(db, max_batch=400)
    # Alternating statements make each batch hundreds of executemany calls, so the cancel lands mid-batch.
    keys = [f"k{i:05d}" for i in range(2000)]
    tasks = [asyncio.create_task(writer.write(INSERT_A if i % 2 else INSERT_B, (k,))) for i, k in enumerate(keys)]
    await asyncio.wait_for(_until(lambda: db.connection.in_transaction and writer.batches_committed >= 1), 10)
    assert writer._task is not None
    writer._task.cancel()  # what a hard shutdown of the event loop does to the writer
    await asyncio.gather(writer._task, return_exceptions=True)
    assert not db.connection.in_transaction, "a cancelled batch left the connection inside a transaction"
    await writer.close()  # the rows still queued are committed on close

    results = dict(zip(keys, await asyncio.gather(*tasks, return_exceptions=True), strict=True))
    stored = await stored_keys(db, "k")
    acknowledged = {k for k, r in results.items() if r is None}
    assert stored == acknowledged, "stored rows are exactly the acknowledged ones"
    assert stored == set(keys), "the batch in flight was finished and the queued rest committed on close"
    # The database is usable afterwards: no transaction left open, no lock held.
    await db.execute(INSERT_A, ("after",))
    await db.close()


async def test_cancelled_transaction_start_does_not_leave_a_transaction_open(tmp_path: Path) -> None:
    """Regression: a cancel while BEGIN IMMEDIATE was queued left the connection in a transaction."""
    db = await open_db(tmp_path / "m.db")
    for _ in range(50):
        task = asyncio.create_task(db.execute(INSERT_A, ("x",)))
        await asyncio.sleep(0)  # BEGIN is now queued on the worker thread
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await db.fetchval("SELECT 1")  # let the worker catch up
        assert not db.connection.in_transaction
        await db.execute("DELETE FROM meta WHERE key = 'x'")
    await db.close()


async def _until(predicate) -> None:
    while not predicate():
        await asyncio.sleep(0)


async def test_bot_close_during_a_burst_keeps_every_acknowledged_write(double, world, run_bot) -> None:
    bot = await run_bot()
    outcomes: dict[str, object] = {}

    async def one(key: str) -> None:
        try:
            await bot.writer.write(INSERT_A, (key,))
            outcomes[key] = "ok"
        except WriterClosedError as exc:
            outcomes[key] = exc

    burst = [asyncio.create_task(one(f"c:{i:05d}")) for i in range(3000)]
    await asyncio.sleep(0)
    await run_bot.stop(bot)  # the same close() SIGTERM triggers
    await asyncio.gather(*burst)
    conn = sqlite3.connect(run_bot.database_path)
    stored = {r[0] for r in conn.execute("SELECT key FROM meta WHERE key LIKE 'c:%'")}
    conn.close()
    assert stored == {k for k, v in outcomes.items() if v == "ok"}
    assert len(stored) == 3000, "writes queued before close are committed by close"


@pytest.mark.slow
async def test_sigterm_in_the_middle_of_a_write_burst(bot_process, double, world, tmp_path: Path) -> None:
    out = tmp_path / "acknowledged.json"
    proc = await bot_process.start(MATINEE_TEST_BURST="40000", MATINEE_TEST_BURST_OUT=str(out))
    await asyncio.wait_for(_until_line(proc, "BURST_STARTED"), 30)
    rc = await proc.terminate()
    assert rc == 0, proc.output
    acknowledged = set(json.loads(out.read_text()))
    conn = sqlite3.connect(bot_process.database_path)
    stored = {r[0] for r in conn.execute("SELECT key FROM meta WHERE key LIKE 'burst:%'")}
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    conn.close()
    assert acknowledged <= stored, "an acknowledged write was lost"
    assert len(stored) < 40000, "SIGTERM landed after the burst; the test proved nothing"
    # Whole batches in queue order: the stored keys are a contiguous prefix, no gap, no half batch.
    indexes = sorted(int(k.split(":")[1]) for k in stored)
    assert indexes == list(range(len(indexes)))
    assert "received SIGTERM" in proc.output


async def _until_line(proc, text: str) -> None:
    while text not in proc.stdout:
        await asyncio.sleep(0.01)


@pytest.mark.parametrize(
    "bad_params", [(2**70,), ({"not": "bindable"},), (object(),)], ids=["int overflow", "dict", "object"]
)
async def test_one_unbindable_row_fails_only_its_caller_and_the_writer_keeps_going(tmp_path: Path, bad_params) -> None:
    """Regression: a non-sqlite3 error (OverflowError) in a batch killed the writer task for good;
    every later write waited forever."""
    db = await open_db(tmp_path / "m.db")
    writer = BatchedWriter(db)
    good = [asyncio.create_task(writer.write(INSERT_A, (f"g{i}",))) for i in range(10)]
    bad = asyncio.create_task(writer.write("INSERT INTO meta (key, value) VALUES ('bad', ?)", bad_params))
    results = await asyncio.wait_for(asyncio.gather(*good, bad, return_exceptions=True), 10)
    assert all(r is None for r in results[:-1])
    assert isinstance(results[-1], Exception) and not isinstance(results[-1], WriterClosedError)
    await asyncio.wait_for(writer.write(INSERT_A, ("after",)), 10)  # the writer is still alive
    assert await stored_keys(db, "g") == {f"g{i}" for i in range(10)}
    assert await stored_keys(db, "after") == {"after"}
    await writer.close()
    await db.close()
