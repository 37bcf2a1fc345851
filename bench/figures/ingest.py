"""Figure 1: a burst of member messages in review threads, from gateway JSON to a committed row.

The path is the real one: the Discord double writes MESSAGE_CREATE frames on
the websocket, the unmodified discord.py client parses them, the comments cog
(whatever extension handles review-thread messages) turns them into comments,
the batched writer commits them. The bench only *observes* commits, by wrapping
``BatchedWriter._flush`` to note when each batch's transaction returned.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import sqlite3
import tempfile
import time
from pathlib import Path

from bench.harness import Row, Stat, percentile, ratio_of, verdict
from bench.world import (
    COMMENT_INSERT,
    FeatureMissing,
    comment_rows,
    connect,
    migrated_database,
    running_bot,
    seed_announcements,
    seed_reviews,
)
from bot.discord_double import DiscordDouble, make_snowflake
from bot.storage import BatchedWriter, Database

NUMBER = "1"
TITLE = "Comment ingest"
NOTES = [
    "Event = the double writing the MESSAGE_CREATE frame on the websocket (timestamp taken just before); "
    "durable = the batched writer's transaction holding that row has committed (observed by wrapping "
    "`BatchedWriter._flush`, which is what callers of `write()` wait for). The double, discord.py and the bot "
    "share one process and one event loop, so the double's own cost is charged to Matinee: a conservative figure.",
    "Frames are written straight to the live gateway session, skipping the double's per-dispatch deep copy "
    "(a test-isolation measure, not part of Discord's work).",
    "The burst is sent as fast as the socket accepts it, so latencies include queueing behind the burst; "
    "throughput = messages ÷ (first frame sent → last row committed).",
    "Baseline: stdlib `sqlite3.executemany` of the same rows (same schema with its FTS triggers, WAL, "
    "synchronous=NORMAL, one transaction) into a fresh database.",
    "All cogs in `cogs/` are loaded, as in production.",
]
SIZES = {
    "full": {
        "messages": 50_000,
        "threads": 100,
        "authors": 200,
        "paced_rate": 1_000,
        "paced_seconds": 3.0,
        "stall_seconds": 5.0,
        "settle_seconds": 0.5,
        "runs": 3,
        "budget_seconds": 220,
    },
    "smoke": {
        "messages": 300,
        "threads": 6,
        "authors": 5,
        "paced_rate": 200,
        "paced_seconds": 0.5,
        "stall_seconds": 3.0,
        "settle_seconds": 0.2,
        "runs": 2,
        "budget_seconds": 60,
    },
}
PLANNED = [
    ("1a", "Ingest throughput, end to end", "≥ 5,000 msg/s"),
    ("1b", "Event → durable row in the burst, p50", "report"),
    ("1c", "Event → durable row in the burst, p99", "report"),
    ("1d", "Storage stage alone (comments repository → batched writer)", "≥ 0.5× raw"),
    ("1e", "Rows present after the burst", "every row"),
    ("1f", "Event → durable row at a steady rate, p50", "report"),
    ("1g", "Event → durable row at a steady rate, p99", "report"),
]


class CommitClock:
    """Notes when each watched message id's row was committed."""

    def __init__(self) -> None:
        self.watched: dict[int, float] = {}  # message id -> sent time
        self.committed: dict[int, float] = {}
        self.done = asyncio.Event()
        self._original = BatchedWriter._flush

    def install(self) -> None:
        original = self._original
        clock = self

        async def _flush(writer: BatchedWriter, batch: list) -> None:
            await original(writer, batch)
            now = time.perf_counter()
            for pending in batch:
                future = pending.future
                if future.done() and not future.cancelled() and future.exception() is None:
                    clock._note(pending.params, now)

        BatchedWriter._flush = _flush  # type: ignore[method-assign]

    def watch(self, message_id: int, sent_at: float) -> None:
        self.watched[message_id] = sent_at
        self.done.clear()

    def uninstall(self) -> None:
        BatchedWriter._flush = self._original  # type: ignore[method-assign]

    def _note(self, params: object, when: float) -> None:
        values = params.values() if isinstance(params, dict) else params
        for value in values:  # type: ignore[union-attr]
            if isinstance(value, int) and value in self.watched and value not in self.committed:
                self.committed[value] = when
                if len(self.committed) == len(self.watched):
                    self.done.set()
                return


async def _prepare_world(double: DiscordDouble, conn: sqlite3.Connection, sizes: dict) -> tuple[list, list]:
    guild = double.add_guild("Bench Film Club")
    gid = int(guild["id"])
    channel = await double.add_text_channel(gid, "reviews")
    authors = []
    for i in range(sizes["authors"]):
        member = await double.add_member(gid, name=f"member{i}")
        authors.append(member)
    review_ids = seed_reviews(conn, sizes["threads"], body_words=40)
    threads = []
    announcements = []
    for review_id in review_ids:
        starter = await double.post_message(
            int(channel["id"]), int(double.bot_user["id"]), f"review {review_id}", dispatch=False
        )
        thread = await double.add_thread(
            int(channel["id"]), f"What did you think of film {review_id}?", message_id=int(starter["id"])
        )
        threads.append((review_id, gid, int(thread["id"])))
        announcements.append((review_id, gid, int(channel["id"]), int(starter["id"]), int(thread["id"])))
    seed_announcements(conn, announcements)
    return threads, authors


def _frame_sender(double: DiscordDouble):
    """Write MESSAGE_CREATE frames to the bot's live gateway session.

    ``DiscordDouble.dispatch`` deep-copies every payload (a test-isolation measure
    that costs ~20% of this figure's CPU and is no part of Discord); the payloads
    here are built fresh per message, so the bench hands them to the session's
    frame writer directly. Sequence numbers, the resume log and the websocket
    write are the double's own. Falls back to ``dispatch`` if that API changes.
    """
    sessions = getattr(double, "_live_sessions", None)
    writer = getattr(double, "_send_dispatch", None)
    live = sessions() if sessions is not None else []
    if writer is None or len(live) != 1:
        return lambda payload: double.dispatch("MESSAGE_CREATE", payload)
    session = live[0]
    return lambda payload: writer(session, "MESSAGE_CREATE", payload)


async def _settle(double: DiscordDouble, quiet: float = 0.5, limit: float = 30.0) -> None:
    """Wait until the bot stops making start-up requests (e.g. a backfill), so they don't overlap the burst."""
    deadline = time.monotonic() + limit
    seen = -1
    while time.monotonic() < deadline:
        if len(double.requests) == seen:
            return
        seen = len(double.requests)
        await asyncio.sleep(quiet)


async def _wait_for_commits(clock: CommitClock, *, stall_seconds: float) -> None:
    """Wait for every watched row, giving up only when commits stop progressing for ``stall_seconds``."""
    seen, last_progress = -1, time.monotonic()
    while not clock.done.is_set():
        if len(clock.committed) != seen:
            seen, last_progress = len(clock.committed), time.monotonic()
        elif time.monotonic() - last_progress > stall_seconds:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(clock.done.wait(), 0.25)


async def one_e2e_run(sizes: dict, tmp: Path) -> dict:
    database = tmp / "ingest.db"
    await migrated_database(database)
    conn = connect(database)
    clock = CommitClock()
    async with DiscordDouble() as double:
        threads, authors = await _prepare_world(double, conn, sizes)
        conn.close()
        async with running_bot(double, database) as bot:
            await _settle(double, quiet=sizes["settle_seconds"])
            template_msg = await double.post_message(threads[0][2], int(authors[0]["user"]["id"]), "x", dispatch=False)
            template = double._gateway_message(template_msg)
            send = _frame_sender(double)
            clock.install()
            try:
                counter = iter(range(10**9))

                async def send_one() -> int:
                    i = next(counter)
                    review_id, _guild, thread_id = threads[i % len(threads)]
                    author = authors[i % len(authors)]
                    payload = copy.copy(template)
                    mid = make_snowflake()
                    payload["id"] = str(mid)
                    payload["channel_id"] = str(thread_id)
                    payload["content"] = f"Message {i}: the final scene of film {review_id} stayed with me."
                    payload["author"] = author["user"]
                    payload["member"] = {k: v for k, v in author.items() if k != "user"}
                    clock.watch(mid, time.perf_counter())
                    await send(payload)
                    return mid

                # Phase 1: the burst, as fast as the socket takes it.
                first_sent = time.perf_counter()
                burst_ids = []
                for i in range(sizes["messages"]):
                    burst_ids.append(await send_one())
                    if i % 200 == 199:
                        await asyncio.sleep(0)  # the double is ours; let the bot's reader run like a peer would
                await _wait_for_commits(clock, stall_seconds=sizes["stall_seconds"])
                burst_last = max((clock.committed[m] for m in burst_ids if m in clock.committed), default=first_sent)
                # Phase 2: a steady, busy-but-sustainable rate, so latency is measured without a queue.
                paced_ids = []
                rate, seconds = sizes["paced_rate"], sizes["paced_seconds"]
                tick = 0.01
                start = time.perf_counter()
                for step in range(int(seconds / tick)):
                    for _ in range(max(1, round(rate * tick))):
                        paced_ids.append(await send_one())
                    delay = start + (step + 1) * tick - time.perf_counter()
                    await asyncio.sleep(max(0.0, delay))
                await _wait_for_commits(clock, stall_seconds=sizes["stall_seconds"])
            finally:
                clock.uninstall()
            cogs = sorted(bot.cogs)
    if not clock.committed:
        raise FeatureMissing(
            f"no message reached a committed comment row (cogs loaded: {', '.join(cogs) or 'none'}); "
            "the comments cog from feature/discussions is not in this checkout"
        )
    conn = connect(database)
    present = conn.execute(
        "SELECT count(*) FROM comments WHERE message_id BETWEEN ? AND ?", (min(burst_ids), max(burst_ids))
    ).fetchone()[0]
    conn.close()
    burst = [clock.committed[m] - clock.watched[m] for m in burst_ids if m in clock.committed]
    paced = [clock.committed[m] - clock.watched[m] for m in paced_ids if m in clock.committed]
    return {
        "throughput": len(burst) / (burst_last - first_sent),
        "p50": percentile(burst, 50) * 1000,
        "p99": percentile(burst, 99) * 1000,
        "paced_p50": percentile(paced, 50) * 1000 if paced else float("nan"),
        "paced_p99": percentile(paced, 99) * 1000 if paced else float("nan"),
        "paced_lost": len(paced_ids) - len(paced),
        "present": present,
    }


def raw_baseline(rows: list[tuple], tmp: Path) -> float:
    """rows/s of one stdlib ``executemany`` transaction into the same schema.

    The BEGIN is explicit: ``connect`` opens the connection in autocommit mode
    (``isolation_level=None``), where ``with conn:`` starts no transaction, so the
    rows used to commit one by one and the baseline measured a WAL commit per row
    (which grows with every page a trigger touches) rather than the insert.
    """
    conn = connect(tmp / "raw.db")
    started = time.perf_counter()
    conn.execute("BEGIN")
    try:
        conn.executemany(COMMENT_INSERT, rows)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    count = conn.execute("SELECT count(*) FROM comments").fetchone()[0]
    conn.close()
    assert count == len(rows), "raw baseline lost rows"
    return len(rows) / elapsed


async def storage_stage(rows: list[tuple], database: Path) -> float:
    """rows/s through the comments repository (or, without it, the batched writer) as the cog uses it."""
    db = await Database.open(database)
    writer = BatchedWriter(db)
    writer.start()
    try:
        store = _comment_store(db, writer)
        started = time.perf_counter()
        await asyncio.gather(*(store(row) for row in rows))
        elapsed = time.perf_counter() - started
        count = await db.fetchval("SELECT count(*) FROM comments")
    finally:
        await writer.close()
        await db.close()
    assert count == len(rows), f"storage stage lost rows ({count} of {len(rows)})"
    return len(rows) / elapsed


def _comment_store(db: Database, writer: BatchedWriter):
    """The comments feature's own store path when present; the plain insert through the writer otherwise."""
    try:
        from bot.models import Comment
        from bot.storage.comments import CommentRepository
    except ImportError:
        return lambda row: writer.write(COMMENT_INSERT, row)
    repo = CommentRepository(db, writer)

    async def store(row: tuple) -> None:
        await repo.store(
            Comment(
                message_id=row[0],
                review_id=row[1],
                guild_id=row[2],
                thread_id=row[3],
                author_id=row[4],
                author_name=row[5],
                content=row[6],
                created_at=row[7],
                edited_at=row[8],
                reply_to_id=row[9],
                attachments=(),
                reactions={},
                deleted=False,
            )
        )

    return store


async def run(sizes: dict) -> list[Row]:
    raw_rates, storage_rates = [], []
    e2e: list[dict] = []
    e2e_error: str | None = None
    n = sizes["messages"]
    for run_index in range(sizes["runs"]):
        with tempfile.TemporaryDirectory(prefix="bench-ingest-") as name:
            tmp = Path(name)
            await migrated_database(tmp / "raw.db")
            conn = connect(tmp / "raw.db")
            review_ids = seed_reviews(conn, sizes["threads"], body_words=40)
            conn.close()
            threads = [(r, 1, 10**12 + r) for r in review_ids]
            rows = comment_rows(n, threads, seed=run_index)
            raw_rates.append(raw_baseline(rows, tmp))
            await migrated_database(tmp / "stage.db")
            conn = connect(tmp / "stage.db")
            seed_reviews(conn, sizes["threads"], body_words=40)
            conn.close()
            storage_rates.append(await storage_stage(rows, tmp / "stage.db"))
            if e2e_error is None:
                try:
                    e2e.append(await one_e2e_run(sizes, tmp))
                except FeatureMissing as exc:
                    e2e_error = str(exc)
    raw = Stat.of(raw_rates, "rows/s")
    stage = Stat.of(storage_rates, "rows/s")
    stage_ratio = ratio_of(stage, raw)
    spec = {fid: (name, target) for fid, name, target in PLANNED}

    def row(fid: str, value: Stat, verdict_text: str, **kwargs) -> Row:
        name, target = spec[fid]
        kwargs.setdefault("baseline", None)
        kwargs.setdefault("baseline_name", "")
        kwargs.setdefault("ratio", None)
        return Row(fid, name, value, target=target, verdict=verdict_text, **kwargs)

    out: list[Row] = []
    if e2e_error is not None or not e2e:
        reason = e2e_error or "no run completed"
        out += [Row.not_measured(fid, *spec[fid], reason) for fid in ("1a", "1b", "1c", "1f", "1g")]
    else:
        thr = Stat.of([r["throughput"] for r in e2e], "msg/s")
        out.append(
            row(
                "1a",
                thr,
                verdict(thr.median >= 5000),
                baseline=raw,
                baseline_name="raw executemany",
                ratio=ratio_of(thr, raw),
                method=f"{n:,} messages over {sizes['threads']} review threads, {sizes['authors']} authors; "
                f"{len(e2e)} runs; throughput = messages ÷ (first frame → last row committed).",
            )
        )
        out.append(row("1b", Stat.of([r["p50"] for r in e2e], "ms"), "reported", method="Burst: includes queueing."))
        out.append(row("1c", Stat.of([r["p99"] for r in e2e], "ms"), "reported"))
        lost = sum(r["paced_lost"] for r in e2e)
        out.append(
            row(
                "1f",
                Stat.of([r["paced_p50"] for r in e2e], "ms"),
                "reported",
                method=f"After each burst: {sizes['paced_rate']:,} msg/s offered for {sizes['paced_seconds']:g} s "
                "(paced every 10 ms), a busy but sustainable rate, so the latency has no queue in it.",
                details=[f"paced messages never committed: {lost}"] if lost else [],
            )
        )
        out.append(row("1g", Stat.of([r["paced_p99"] for r in e2e], "ms"), "reported"))
    out.append(
        row(
            "1d",
            stage,
            verdict(stage_ratio is not None and stage_ratio >= 0.5),
            baseline=raw,
            baseline_name="raw executemany",
            ratio=stage_ratio,
            method=f"{n:,} concurrent `store()` calls awaited together on a fresh database; "
            "ratio = stage rows/s ÷ raw rows/s (higher is better).",
        )
    )
    target_1e = f"all {n:,}"
    if e2e:
        out.append(
            Row(
                "1e",
                spec["1e"][0],
                Stat.of([r["present"] for r in e2e], "rows"),
                None,
                "",
                None,
                target_1e,
                verdict(all(r["present"] == n for r in e2e)),
                method="`SELECT count(*)` of the burst's message ids after the bot closed, every run.",
            )
        )
    else:
        out.append(Row.not_measured("1e", spec["1e"][0], target_1e, e2e_error or "no run completed"))
    order = [fid for fid, _, _ in PLANNED]
    return sorted(out, key=lambda r: order.index(r.figure))
