"""Figure 3: one review announced in 1,000 guilds under Discord's global limit of 50 requests a second.

The trigger is the real one: a new Markdown review appears in ``REVIEWS_DIR``
(every guild with an announce channel receives those) and the reviews cog's
loop is woken, as it is on its own timer. The double answers 429 (global) to
any request beyond 50 in a sliding second, exactly as Discord does.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import tempfile
import time
from pathlib import Path

from bench.harness import Row, Stat, verdict
from bench.world import FeatureMissing, connect, migrated_database, running_bot, seed_guild_settings
from bot.discord_double import DiscordDouble

NUMBER = "3"
TITLE = "Announcement fan-out"
NOTES = [
    "Set-up: N guilds on the Discord double, each with a text channel configured as its announce channel "
    "(`guild_settings`); the bot runs with the reviews cog only, so every request counted is the announcer's.",
    "Each run drops one new Markdown review into `REVIEWS_DIR` and wakes the reviews loop; total time = wake → "
    "the double's last successful `POST /channels/{id}/messages` of that review. Requests made and 429s are "
    "counted by the double over the run (every REST request, retries included).",
    "Baseline (the floor): requests made ÷ 50 s, the fastest any client can go under the global limit.",
    "3d/3e repeat the fan-out as production runs it, with every cog loaded: each announcement also makes the "
    "discussions cog open a thread and post its opening message with the poll. Fewer guilds keep the run short; "
    "total time = wake → the double's last successful request once the bot has gone quiet for 2 s.",
]
SIZES = {
    "full": {
        "guilds": 1000,
        "runs": 3,
        "all_cogs_guilds": 100,
        "all_cogs_runs": 2,
        "quiet_seconds": 2.0,
        "gap_seconds": 1.1,  # an empty rate-limit window, and a new second for the Markdown scanner
        "budget_seconds": 230,
    },
    "smoke": {
        "guilds": 12,
        "runs": 2,
        "all_cogs_guilds": 4,
        "all_cogs_runs": 2,
        "quiet_seconds": 0.3,
        "gap_seconds": 1.1,
        "budget_seconds": 60,
    },
}
GLOBAL_LIMIT = 50
PLANNED = [
    ("3a", "Fan-out total time", "≤ 1.15× floor"),
    ("3b", "429 responses received", "< 1% of requests"),
    ("3c", "Requests made", "report"),
    ("3d", "With every cog (discussion threads open too): total time", "≤ 1.15× floor"),
    ("3e", "With every cog: 429 responses received", "< 1% of requests"),
]

REVIEW_TEMPLATE = """---
title: "Bench review {n}: a slow burn worth the wait"
film: Bench Film {n}
year: 1999
rating: 4
author: Bench Reviewer
date: {date}
url: https://blog.example/reviews/bench-{n}
---
The final scene of Bench Film {n} stays with you long after the lights come up. A review written by the bench.
"""


async def _wait_initialized(bot, limit: float = 30.0) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if await bot.meta.get("reviews.markdown_initialized") == "1":
            return
        await asyncio.sleep(0.05)
    raise FeatureMissing("the reviews cog never finished its first Markdown scan")


def _successful_posts(double: DiscordDouble, start: int, channels: set[str]) -> list:
    """Successful announcement posts (``POST /channels/{announce channel}/messages``) since ``start``."""
    return [
        r
        for r in double.requests[start:]
        if r.method == "POST"
        and r.status is not None
        and 200 <= r.status < 300
        and r.path.endswith("/messages")
        and r.path.split("/")[2] in channels
    ]


async def _world(double: DiscordDouble, database: Path, guild_count: int) -> set[str]:
    """``guild_count`` guilds with a configured announce channel; returns the channel ids."""
    settings_rows = []
    for i in range(guild_count):
        guild = double.add_guild(f"Film Club {i}")
        channel = await double.add_text_channel(int(guild["id"]), "reviews")
        settings_rows.append((int(guild["id"]), int(channel["id"])))
    conn = connect(database)
    seed_guild_settings(conn, settings_rows)
    conn.close()
    return {str(c) for _, c in settings_rows}


def _write_review(reviews_dir: Path, n: int) -> None:
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    (reviews_dir / f"bench-{n}.md").write_text(REVIEW_TEMPLATE.format(n=n, date=when), encoding="utf-8")


async def all_cogs(sizes: dict) -> list[dict]:
    """Fan-out with every cog loaded: announcements plus the discussion threads they trigger."""
    guild_count = sizes["all_cogs_guilds"]
    out = []
    with tempfile.TemporaryDirectory(prefix="bench-fanout-all-") as name:
        tmp = Path(name)
        database = tmp / "fanout.db"
        await migrated_database(database)
        reviews_dir = tmp / "reviews"
        reviews_dir.mkdir()
        async with DiscordDouble() as double:
            channels = await _world(double, database, guild_count)
            async with running_bot(double, database, reviews_dir=reviews_dir) as bot:
                cog = bot.get_cog("Reviews")
                if cog is None or not hasattr(cog, "wake"):
                    raise FeatureMissing("the reviews cog (feature/reviews) with its delivery loop is not loaded")
                await _wait_initialized(bot)
                double.enforce_global_rate_limit(GLOBAL_LIMIT)
                for run_index in range(sizes["all_cogs_runs"]):
                    await asyncio.sleep(sizes["gap_seconds"])  # an empty rate-limit window between runs
                    start_index = len(double.requests)
                    limited_before = double.rate_limited_count
                    _write_review(reviews_dir, 100 + run_index)
                    started = time.time()
                    cog.wake()
                    deadline = time.monotonic() + 60 + 10 * guild_count / GLOBAL_LIMIT
                    seen, quiet_since = -1, time.monotonic()
                    while True:
                        count = len(double.requests)
                        if count != seen:
                            seen, quiet_since = count, time.monotonic()
                        posted = len(_successful_posts(double, start_index, channels))
                        if posted >= guild_count and time.monotonic() - quiet_since > sizes["quiet_seconds"]:
                            break
                        if time.monotonic() > deadline:
                            raise RuntimeError(f"only {posted} of {guild_count} announcements arrived in time")
                        await asyncio.sleep(0.05)
                    window = double.requests[start_index:]
                    ok = [r for r in window if r.status is not None and r.status < 400]
                    threads = [r for r in ok if r.method == "POST" and (r.route or "").endswith("/threads")]
                    out.append(
                        {
                            "total": max(r.timestamp for r in ok) - started,
                            "made": len(window),
                            "limited": double.rate_limited_count - limited_before,
                            "announced": len(_successful_posts(double, start_index, channels)),
                            "threads": len(threads),
                        }
                    )
    return out


async def run(sizes: dict) -> list[Row]:
    guild_count = sizes["guilds"]
    with tempfile.TemporaryDirectory(prefix="bench-fanout-") as name:
        tmp = Path(name)
        database = tmp / "fanout.db"
        await migrated_database(database)
        reviews_dir = tmp / "reviews"
        reviews_dir.mkdir()
        async with DiscordDouble() as double:
            channels = await _world(double, database, guild_count)
            async with running_bot(double, database, extensions=["cogs.reviews"], reviews_dir=reviews_dir) as bot:
                cog = bot.get_cog("Reviews")
                if cog is None or not hasattr(cog, "wake"):
                    raise FeatureMissing("the reviews cog (feature/reviews) with its delivery loop is not loaded")
                await _wait_initialized(bot)
                double.enforce_global_rate_limit(GLOBAL_LIMIT)
                totals, floors, ratios, rate_429, requests_made, counts_429 = [], [], [], [], [], []
                for run_index in range(sizes["runs"]):
                    await asyncio.sleep(sizes["gap_seconds"])  # an empty rate-limit window between runs
                    start_index = len(double.requests)
                    limited_before = double.rate_limited_count
                    _write_review(reviews_dir, run_index)
                    started = time.time()
                    cog.wake()
                    deadline = time.monotonic() + 30 + 3 * guild_count / GLOBAL_LIMIT
                    while len(_successful_posts(double, start_index, channels)) < guild_count:
                        if time.monotonic() > deadline:
                            got = len(_successful_posts(double, start_index, channels))
                            raise RuntimeError(f"only {got} of {guild_count} announcements arrived in time")
                        await asyncio.sleep(0.05)
                    posts = _successful_posts(double, start_index, channels)
                    finished = max(r.timestamp for r in posts)
                    await asyncio.sleep(0.2)  # let the loop record the last confirmations
                    made = len(double.requests) - start_index
                    limited = double.rate_limited_count - limited_before
                    total = finished - started
                    floor = made / GLOBAL_LIMIT
                    totals.append(total)
                    floors.append(floor)
                    ratios.append(total / floor)
                    requests_made.append(made)
                    counts_429.append(limited)
                    rate_429.append(100 * limited / made)
                sent = await bot.db.fetchval("SELECT count(*) FROM announcements WHERE state = 'sent'")
    expected = guild_count * sizes["runs"]
    total_stat = Stat.of(totals, "s")
    floor_stat = Stat.of(floors, "s")
    ratio = Stat.of(ratios, "×")
    limited_stat = Stat.of(counts_429, "429s")
    made_stat = Stat.of(requests_made, "requests")
    pct = Stat.of(rate_429, "%")
    return [
        Row(
            "3a",
            PLANNED[0][1],
            total_stat,
            floor_stat,
            "requests ÷ 50/s",
            ratio.median,
            PLANNED[0][2],
            verdict(ratio.median <= 1.15),
            method=f"{guild_count:,} guilds, {sizes['runs']} runs (one new review each) on one running bot; "
            f"ratio is the median of the per-run ratios ({ratio.fmt()}).",
            details=[f"announcements recorded as sent in the outbox: {sent:,} of {expected:,}"],
        ),
        Row(
            "3b",
            PLANNED[1][1],
            limited_stat,
            made_stat,
            "requests made",
            pct.median / 100,
            PLANNED[1][2],
            verdict(pct.max < 1.0),
            method=f"429s the double answered during the run ({pct.fmt()} of requests; verdict uses the worst run).",
            ratio_style="percent",
        ),
        Row(
            "3c",
            PLANNED[2][1],
            made_stat,
            None,
            "",
            made_stat.median / guild_count,
            PLANNED[2][2],
            "reported",
            method="Every REST request the bot made during the run; ratio = requests per guild.",
        ),
        *_all_cogs_rows(await all_cogs(sizes), sizes),
    ]


def _all_cogs_rows(results: list[dict], sizes: dict) -> list[Row]:
    total = Stat.of([r["total"] for r in results], "s")
    floor = Stat.of([r["made"] / GLOBAL_LIMIT for r in results], "s")
    ratio = Stat.of([r["total"] / (r["made"] / GLOBAL_LIMIT) for r in results], "×")
    limited = Stat.of([r["limited"] for r in results], "429s")
    made = Stat.of([r["made"] for r in results], "requests")
    pct = Stat.of([100 * r["limited"] / r["made"] for r in results], "%")
    guilds = sizes["all_cogs_guilds"]
    threads = min(r["threads"] for r in results)
    complete = all(r["threads"] >= guilds for r in results)
    return [
        Row(
            "3d",
            PLANNED[3][1],
            total,
            floor,
            "requests ÷ 50/s",
            ratio.median,
            PLANNED[3][2],
            verdict(ratio.median <= 1.15 and complete),
            method=f"{guilds:,} guilds, {len(results)} runs, all cogs; {made.fmt()} per run "
            f"({made.median / guilds:.1f} per guild); per-run ratios {ratio.fmt()}. The verdict also requires "
            "a discussion thread in every guild by the time the bot went quiet.",
            details=[f"discussion threads created (worst run): {threads:,} of {guilds:,}"],
        ),
        Row(
            "3e",
            PLANNED[4][1],
            limited,
            made,
            "requests made",
            pct.median / 100,
            PLANNED[4][2],
            verdict(pct.max < 1.0),
            method=f"{pct.fmt()} of requests answered 429 (verdict uses the worst run).",
            ratio_style="percent",
        ),
    ]
