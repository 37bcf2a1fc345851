"""Figure 5: one poll cycle over 1,000 subscribed feeds served on loopback.

Measured at the service level (``ReviewService.poll_due``, what the reviews
cog's loop calls each turn) with the bot's own fetcher, parser and storage;
Discord is not involved in polling. The feed server runs in a separate process
so the CPU time measured is Matinee's alone.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sys
import tempfile
import time
from pathlib import Path

from bench.harness import Row, Stat, verdict
from bench.world import FeatureMissing, connect, migrated_database, require, seed_guild_settings
from bot.outbound import NetworkPolicy, create_session
from bot.storage import Database

NUMBER = "5"
TITLE = "Feed polling"
NOTES = [
    "Set-up: N feeds (WordPress-style RSS 2.0, 10 items with `content:encoded`, ~20 KB each) served with ETag and "
    "Last-Modified by `bench/feed_server.py` in its own process; 25 feeds subscribed per guild, as many guilds as "
    "needed. A first cycle (not measured) reads every feed once, recording entries without announcing.",
    "One cycle = `ReviewService.poll_due()` with the service's clock moved a day ahead, so every feed is due. "
    "Cycle time is wall time; CPU time is this process's user+system time over the cycle (fetching, parsing in "
    "worker threads, SQLite); bytes parsed = bytes handed to `parse_feed` (counted by wrapping it).",
    "Cases: unchanged (every feed answers 304) and 10% new (a tenth of the feeds publish one new entry).",
    "No baseline exists for a poll cycle; the unchanged cycle's target is absolute (0 bytes parsed, ≤ 5 s).",
]
SIZES = {
    "full": {"feeds": 1000, "new_fraction": 0.10, "runs": 3, "budget_seconds": 150},
    "smoke": {"feeds": 20, "new_fraction": 0.10, "runs": 2, "budget_seconds": 60},
}
PLANNED = [
    ("5a", "Unchanged cycle (all 304): time", "≤ 5 s"),
    ("5b", "Unchanged cycle: bytes parsed", "0 bytes"),
    ("5c", "Unchanged cycle: CPU time", "report"),
    ("5d", "10%-new cycle: time", "report"),
    ("5e", "10%-new cycle: bytes parsed", "report"),
    ("5f", "10%-new cycle: CPU time", "report"),
]
FEEDS_PER_GUILD = 25


class ParseCounter:
    """Counts the bytes the service hands to its feed parser (``module.<name>``)."""

    def __init__(self, module, name: str = "parse_feed") -> None:
        self.module = module
        self.name = name
        self.original = getattr(module, name)
        self.bytes = 0
        self.calls = 0

    def __enter__(self) -> ParseCounter:
        original = self.original

        def counting(data: bytes, *args, **kwargs):
            self.bytes += len(data or b"")
            self.calls += 1
            return original(data, *args, **kwargs)

        setattr(self.module, self.name, counting)
        return self

    def __exit__(self, *exc: object) -> None:
        setattr(self.module, self.name, self.original)


async def start_feed_server(count: int) -> tuple[asyncio.subprocess.Process, int]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.feed_server", "--feeds", str(count),
        stdout=asyncio.subprocess.PIPE, cwd=str(Path(__file__).resolve().parents[2]),
    )  # fmt: skip
    assert proc.stdout is not None
    line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode().split()
    if len(line) != 2 or line[0] != "PORT":
        proc.kill()
        raise RuntimeError(f"feed server did not start: {line}")
    return proc, int(line[1])


async def run(sizes: dict) -> list[Row]:
    service_mod = require("bot.reviews.service", "ReviewService", "parse_feed")
    count = sizes["feeds"]
    new_count = max(1, round(count * sizes["new_fraction"]))
    proc, port = await start_feed_server(count)
    base = f"http://127.0.0.1:{port}"
    try:
        with tempfile.TemporaryDirectory(prefix="bench-feeds-") as name:
            database = Path(name) / "feeds.db"
            await migrated_database(database)
            guilds = feed_guilds(count)
            conn = connect(database)
            seed_guild_settings(conn, guilds)
            conn.close()
            db = await Database.open(database)
            session = create_session(NetworkPolicy(allow_private=True))  # the feed server is on loopback
            clock = {"now": dt.datetime.now(dt.UTC)}
            try:
                service = await subscribed_review_feeds(db, session, base, count, guilds, clock)
                unchanged, fresh = [], []
                for run_index in range(sizes["runs"]):
                    unchanged.append(await _cycle(service, service_mod, clock, session, base, count, 0))
                    async with session.post(f"{base}/_admin/bump", params={"first": 0, "count": new_count}) as r:
                        r.raise_for_status()
                    fresh.append(await _cycle(service, service_mod, clock, session, base, count, new_count))
                    del run_index
            finally:
                await session.close()
                await db.close()
    finally:
        proc.terminate()
        await proc.wait()
    return _rows(unchanged, fresh, count, new_count, sizes["runs"])


def feed_guilds(count: int) -> list[tuple[int, int]]:
    """(guild id, announcement channel id) for ``count`` feeds, 25 a guild."""
    return [(900_000 + g, 800_000 + g) for g in range((count + FEEDS_PER_GUILD - 1) // FEEDS_PER_GUILD)]


async def subscribed_review_feeds(db: Database, session, base: str, count: int, guilds, clock: dict):
    """A ReviewService subscribed to the server's ``count`` feeds, 25 a guild, each read once already."""
    service_mod = require("bot.reviews.service", "ReviewService", "parse_feed")
    fetch_mod = require("bot.reviews.fetch", "FeedFetcher")
    service = service_mod.ReviewService(
        db, fetch_mod.FeedFetcher(session), poll_seconds=300, clock=lambda: clock["now"]
    )
    for i in range(count):
        feed = await service.feeds.ensure(f"{base}/feed/{i}.xml")
        gid, cid = guilds[i // FEEDS_PER_GUILD]
        await service.feeds.subscribe(gid, feed.id, channel_id=cid)
    first = await service.poll_due()  # initial read: records entries, announces nothing
    errors = [r.error for r in first if r.error]
    if errors:
        raise RuntimeError(f"{len(errors)} feeds failed on the first read, e.g. {errors[0]}")
    return service


async def _cycle(service, service_mod, clock, session, base, count: int, expect_new: int) -> dict:
    clock["now"] = clock["now"] + dt.timedelta(days=1)
    async with session.post(f"{base}/_admin/reset-stats") as r:
        r.raise_for_status()
    with ParseCounter(service_mod) as parsed:
        cpu0, wall0 = time.process_time(), time.perf_counter()
        results = await service.poll_due()
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    async with session.get(f"{base}/_admin/stats") as r:
        served = json.loads(await r.text())
    errors = [r.error for r in results if r.error]
    announced = sum(len(r.announced) for r in results)
    if len(results) != count:
        raise RuntimeError(f"the cycle polled {len(results)} of {count} feeds")
    if errors:
        raise RuntimeError(f"{len(errors)} feeds failed in a measured cycle, e.g. {errors[0]}")
    if announced != expect_new:
        raise RuntimeError(f"expected {expect_new} new reviews, the cycle announced {announced}")
    return {"wall": wall, "cpu": cpu, "parsed": parsed.bytes, "served": served, "announced": announced}


def _rows(unchanged: list[dict], fresh: list[dict], count: int, new_count: int, runs: int) -> list[Row]:
    if not unchanged:
        raise FeatureMissing("no cycle completed")
    u_wall = Stat.of([c["wall"] for c in unchanged], "s")
    u_bytes = Stat.of([c["parsed"] for c in unchanged], "bytes")
    u_cpu = Stat.of([c["cpu"] for c in unchanged], "s CPU")
    f_wall = Stat.of([c["wall"] for c in fresh], "s")
    f_bytes = Stat.of([c["parsed"] for c in fresh], "bytes")
    f_cpu = Stat.of([c["cpu"] for c in fresh], "s CPU")
    u_served = unchanged[-1]["served"]
    f_served = fresh[-1]["served"]
    return [
        Row(
            "5a",
            PLANNED[0][1],
            u_wall,
            None,
            "",
            None,
            PLANNED[0][2],
            verdict(u_wall.median <= 5.0),
            method=f"{count:,} feeds, {runs} runs; the server answered {u_served['not_modified']:,} × 304 and "
            f"{u_served['ok']:,} × 200 in the last run.",
        ),
        Row(
            "5b",
            PLANNED[1][1],
            u_bytes,
            None,
            "",
            None,
            PLANNED[1][2],
            verdict(u_bytes.max == 0),
            method="Bytes passed to the feed parser (verdict uses the worst run).",
        ),
        Row(
            "5c",
            PLANNED[2][1],
            u_cpu,
            u_wall,
            "wall time",
            u_cpu.median / u_wall.median if u_wall.median else None,
            PLANNED[2][2],
            "reported",
            method="Ratio = CPU ÷ wall: how busy the cycle keeps a core.",
        ),
        Row(
            "5d",
            PLANNED[3][1],
            f_wall,
            u_wall,
            "unchanged cycle",
            f_wall.median / u_wall.median,
            PLANNED[3][2],
            "reported",
            method=f"{new_count:,} of {count:,} feeds have one new entry; each run's {fresh[-1]['announced']} new "
            "reviews are recorded with their announcement intents (delivery to Discord is not part of the "
            f"cycle); the server sent {f_served['ok']:,} × 200 ({f_served['bytes']:,} bytes) in the last run.",
        ),
        Row(
            "5e",
            PLANNED[4][1],
            f_bytes,
            None,
            "",
            None,
            PLANNED[4][2],
            "reported",
            method="Only the changed feeds' documents should be parsed.",
        ),
        Row(
            "5f",
            PLANNED[5][1],
            f_cpu,
            f_wall,
            "wall time",
            f_cpu.median / f_wall.median if f_wall.median else None,
            PLANNED[5][2],
            "reported",
        ),
    ]
