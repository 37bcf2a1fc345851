"""Figure 6: footprint — resident memory at ready, start → ready time, database size.

The database holds 1,000 configured guilds, 100,000 comments and 100,000 films
(loaded with the films feature's import when present); the double serves the
1,000 guilds. Each start is a fresh ``python -m bench.footprint_child`` process
running a real MatineeBot with every cog, ``sync="auto"`` as ``matinee run`` does.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

from bench.harness import Row, Stat, verdict
from bench.world import (
    TOKEN,
    comment_rows,
    connect,
    migrated_database,
    seed_comments,
    seed_guild_settings,
    seed_reviews,
)
from bot.discord_double import DiscordDouble

NUMBER = "6"
TITLE = "Footprint"
NOTES = [
    "Set-up: 1,000 guilds on the double (each with a text channel, configured as its announce channel), "
    "1,000 reviews holding 100,000 comments, and 100,000 films from the autocomplete catalog generator.",
    "Start → ready: from the parent spawning the bot's process (interpreter start and imports included) to "
    "`on_ready`, minus discord.py's `guild_ready_timeout` (the idle wait after the last GUILD_CREATE, which is a "
    "setting, not work). One unmeasured start first syncs the command tree, so measured starts are restarts.",
    "RSS: `VmRSS` of the bot's process at `on_ready`. The double runs in the parent process, so none of its memory "
    "is counted. DB size: the database file plus its WAL on disk after the starts.",
    "No baseline exists for these; targets are absolute.",
]
SIZES = {
    "full": {"guilds": 1000, "comments": 100_000, "films": 100_000, "reviews": 1000, "runs": 3, "budget_seconds": 150},
    "smoke": {"guilds": 5, "comments": 200, "films": 200, "reviews": 10, "runs": 2, "budget_seconds": 60},
}
PLANNED = [
    ("6a", "RSS at ready", "≤ 200 MB"),
    ("6b", "Start → ready (excluding guild_ready_timeout)", "≤ 5 s"),
    ("6c", "Database size", "report"),
]
GUILD_READY_TIMEOUT = 0.2
REPO_ROOT = Path(__file__).resolve().parents[2]


async def _films(database: Path, count: int) -> str:
    try:
        from bench.figures.autocomplete import load_catalog

        await load_catalog(database, count)
        return "films feature import"
    except Exception as exc:  # no films feature: core schema rows, so the size still counts them
        from bench.catalog import load_model

        conn = connect(database)
        with conn:
            conn.executemany(
                "INSERT INTO films (title, original_title, year, directors, genres, vote_count, popularity) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    (
                        f.title,
                        f.original_title,
                        f.year,
                        json.dumps(f.directors),
                        json.dumps(f.genres),
                        f.vote_count,
                        f.popularity,
                    )
                    for f in load_model().films(count)
                ),
            )
        conn.close()
        return f"core `films` table ({type(exc).__name__}: {exc})"


async def _start_child(double: DiscordDouble, database: Path, reviews_dir: Path) -> dict:
    spawned = time.time()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.footprint_child",
        "--database", str(database), "--reviews-dir", str(reviews_dir),
        "--api-base", double.api_base, "--gateway", double.gateway_url, "--token", TOKEN,
        "--spawned-at", repr(spawned), "--guild-ready-timeout", str(GUILD_READY_TIMEOUT),
        cwd=str(REPO_ROOT), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 150)
    if proc.returncode != 0:
        tail = err.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"the bot process exited with {proc.returncode}: {tail[0][:200]}")
    return json.loads(out.decode().strip().splitlines()[-1])


async def run(sizes: dict) -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="bench-footprint-") as name:
        tmp = Path(name)
        database = tmp / "footprint.db"
        reviews_dir = tmp / "reviews"
        reviews_dir.mkdir()
        await migrated_database(database)
        async with DiscordDouble() as double:
            settings_rows = []
            for i in range(sizes["guilds"]):
                guild = double.add_guild(f"Film Club {i}")
                channel = await double.add_text_channel(int(guild["id"]), "reviews")
                settings_rows.append((int(guild["id"]), int(channel["id"])))
            conn = connect(database)
            seed_guild_settings(conn, settings_rows)
            review_ids = seed_reviews(conn, sizes["reviews"])
            gid = settings_rows[0][0]
            mapping = [(r, gid, 10**12 + r) for r in review_ids]
            seed_comments(conn, comment_rows(sizes["comments"], mapping))
            conn.close()
            films_how = await _films(database, sizes["films"])
            warm = await _start_child(double, database, reviews_dir)  # syncs commands; warms the page cache
            results = [await _start_child(double, database, reviews_dir) for _ in range(sizes["runs"])]
        db_bytes = sum(p.stat().st_size for p in tmp.glob("footprint.db*"))
    rss = Stat.of([r["rss_bytes"] / 1e6 for r in results], "MB")
    ready = Stat.of([r["ready_seconds"] for r in results], "s")
    size = Stat.of([db_bytes / 1e6], "MB")
    failed = {k for r in results for k in r.get("failed_extensions", {})}
    cogs = ", ".join(warm.get("cogs", [])) or "none"
    details = [f"cogs loaded: {cogs}"]
    if failed:
        details.append(f"extensions that failed to load: {', '.join(sorted(failed))}")
    return [
        Row(
            "6a",
            PLANNED[0][1],
            rss,
            None,
            "",
            None,
            PLANNED[0][2],
            verdict(rss.median <= 200),
            method=f"{sizes['guilds']:,} guilds ({results[-1]['guilds']:,} seen at ready), {sizes['comments']:,} "
            f"comments, {sizes['films']:,} films ({films_how}); {sizes['runs']} starts.",
            details=details,
        ),
        Row(
            "6b",
            PLANNED[1][1],
            ready,
            None,
            "",
            None,
            PLANNED[1][2],
            verdict(ready.median <= 5.0),
            method=f"guild_ready_timeout = {GUILD_READY_TIMEOUT} s, subtracted.",
        ),
        Row(
            "6c",
            PLANNED[2][1],
            size,
            None,
            "",
            None,
            PLANNED[2][2],
            "reported",
            method="Database file + WAL on disk after the starts.",
        ),
    ]
