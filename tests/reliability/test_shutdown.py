"""Graceful shutdown: bounded in time, and in the middle of a write batch committed or retried.

The batched writer commits rows in batches; a SIGTERM (or a task cancellation)
can land while a batch's transaction is open. The invariant checked here: the
rows in the database are exactly whole batches, in order (a contiguous prefix of
what was queued, no gaps), every acknowledged write is stored, and no caller is
told "stored" for a row that is not.

And the bound: ``matinee run`` exits within 8 s of SIGTERM (Docker's SIGKILL
comes at 10 s) even in the middle of a burst of thousands of messages, and every
message Discord delivered is stored, before the exit or by the next start's
backfill.
"""

from __future__ import annotations

import asyncio
import json
import os
import select
import signal
import sqlite3
import time
from pathlib import Path

import pytest

from bot.shutdown import SHUTDOWN_SECONDS, ShutdownBudget
from bot.storage import BatchedWriter, Database, WriterClosedError
from tests.reliability.test_crash import query, start_with_a_review_thread, until

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


async def test_close_with_a_time_limit_finishes_the_batch_in_flight_and_fails_only_the_rest(tmp_path: Path) -> None:
    db = await open_db(tmp_path / "m.db")
    writer = BatchedWriter(db, max_batch=100)
    keys = [f"k{i:05d}" for i in range(3000)]
    tasks = [asyncio.create_task(writer.write(INSERT_A, (k,))) for k in keys]
    await asyncio.sleep(0)  # all queued
    left = await writer.close(timeout=0)  # no time for the queue: the batch in flight only
    results = dict(zip(keys, await asyncio.gather(*tasks, return_exceptions=True), strict=True))
    stored = await stored_keys(db, "k")
    assert stored == {k for k, r in results.items() if r is None}, "acknowledged == stored"
    assert all(isinstance(r, WriterClosedError) for k, r in results.items() if k not in stored)
    assert left == len(keys) - len(stored) > 0
    # What was cut is the newest rows, after everything stored: a prefix was kept.
    assert sorted(stored) == keys[: len(stored)]
    assert not db.connection.in_transaction
    await db.close()


async def test_a_hung_shutdown_step_does_not_cost_the_queued_writes(double, world, run_bot, caplog) -> None:
    bot = await run_bot(extensions=["tests.reliability._stuck_cog"])
    burst = [asyncio.create_task(bot.writer.write(INSERT_A, (f"h:{i:04d}",))) for i in range(1000)]
    await asyncio.sleep(0)
    budget = ShutdownBudget(6.0)
    await bot.close(budget)
    results = await asyncio.gather(*burst, return_exceptions=True)
    assert budget.cut_short == ["unload extensions"]
    assert "unload extensions cut short" in caplog.text
    assert all(r is None for r in results)
    conn = sqlite3.connect(run_bot.database_path)
    stored = conn.execute("SELECT count(*) FROM meta WHERE key LIKE 'h:%'").fetchone()[0]
    conn.close()
    assert stored == 1000
    assert bot.outbound.closed


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


BURST = 5000


def _seconds_until_exit(pidfd: int, since: float, limit: float) -> float | None:
    """Block until the process behind ``pidfd`` exits; seconds since ``since``, or None after ``limit``.

    Measured on its own thread, so a busy event loop in this process (posting the
    burst) can neither hide nor inflate the child's exit time.
    """
    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    if not poller.poll(limit * 1000):
        return None
    return time.monotonic() - since


@pytest.mark.e2e
@pytest.mark.slow
async def test_sigterm_during_a_5000_message_burst_exits_within_8_s_and_loses_nothing(
    bot_process, double, world
) -> None:
    proc, thread_id = await start_with_a_review_thread(bot_process, double, world)
    db = bot_process.database_path

    def stored() -> list[int]:
        return [r[0] for r in query(db, "SELECT message_id FROM comments ORDER BY message_id")]

    sent: list[int] = []

    async def post(count: int) -> None:
        for i in range(count):
            sent.append(int((await double.post_message(thread_id, world.member_id, f"comment {len(sent)}"))["id"]))
            if i % 100 == 0:
                await asyncio.sleep(0)  # let the double's gateway writes go out

    burst = asyncio.create_task(post(BURST))
    # Half-way through, with the bot ingesting (and the rest still coming during the shutdown).
    await until(lambda: len(sent) >= BURST // 2 and stored(), timeout=120)
    pidfd = os.pidfd_open(proc.proc.pid)
    try:
        signalled = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        took = await asyncio.to_thread(_seconds_until_exit, pidfd, signalled, 60)
    finally:
        os.close(pidfd)
    rc = await proc.wait_exit()
    await burst
    stored_at_exit = len(stored())
    summary = [line for line in proc.output.splitlines() if "shut" in line]
    assert rc == 0, proc.output
    assert took is not None and took < SHUTDOWN_SECONDS, (took, summary)
    assert stored_at_exit < BURST, "the burst was over before the shutdown; the test proved nothing"

    await bot_process.start(FEED_POLL_SECONDS="10")
    await until(lambda: len(stored()) >= BURST, timeout=120)
    assert stored() == sorted(sent), f"stored {len(stored())} of {len(sent)} ({stored_at_exit} before the exit)"
    print(f"SIGTERM to exit: {took:.2f} s; stored {stored_at_exit} of {BURST} before the exit; {summary}")


@pytest.mark.slow
async def test_sigterm_during_start_up_stops_start_up_and_exits_cleanly(bot_process, double) -> None:
    proc = await bot_process.spawn()
    await asyncio.wait_for(_until_line_in(proc, "applied migration"), 60)
    proc.send_signal(signal.SIGTERM)
    rc = await proc.wait_exit(60)
    assert rc == 0, proc.output
    assert "shut down in" in proc.output, proc.output
    assert "MATINEE_READY" not in proc.stdout
    conn = sqlite3.connect(bot_process.database_path)
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    conn.close()


async def _until_line_in(proc, text: str) -> None:
    while not any(text in line for line in proc.stderr):
        await asyncio.sleep(0.01)
