"""Shared set-up for the figures: a database with the real schema, the Discord double, a running bot.

Fixture data (reviews, announcements, comments, films, guild settings) is
seeded with plain ``sqlite3`` into the schema the bot's own migrations create:
seeding is preparation, not what is measured, and it must be fast. Everything
that *is* measured goes through Matinee's own code.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import importlib
import logging
import random
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from pathlib import Path
from typing import Any

from bot.bot import MatineeBot
from bot.discord_double import DiscordDouble
from bot.settings import Secret, Settings
from bot.storage import Database

__all__ = [
    "COMMENT_INSERT",
    "TOKEN",
    "FeatureMissing",
    "comment_rows",
    "connect",
    "migrated_database",
    "quiet_logs",
    "require",
    "running_bot",
    "seed_announcements",
    "seed_comments",
    "seed_guild_settings",
    "seed_reviews",
    "sentence",
    "settings_for",
]

TOKEN = "bench-token"
log = logging.getLogger("bench")


class FeatureMissing(RuntimeError):
    """The feature a figure measures is not in this checkout; the figure is reported as not measured."""


def require(module: str, *attrs: str) -> Any:
    """Import ``module`` and check it offers ``attrs``; raise :class:`FeatureMissing` saying what is absent."""
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:
        raise FeatureMissing(f"{module} is not available ({exc})") from exc
    missing = [a for a in attrs if not hasattr(mod, a)]
    if missing:
        raise FeatureMissing(f"{module} has no {', '.join(missing)}")
    return mod


def quiet_logs() -> None:
    """Logging every gateway event would measure the log handler, not Matinee."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for name in ("discord", "bot", "cogs", "aiosqlite", "openai", "httpx", "aiohttp"):
        logging.getLogger(name).setLevel(logging.WARNING)
    # discord.py warns on every 429 it retries; the fan-out figure counts those itself.
    logging.getLogger("discord.http").setLevel(logging.ERROR)


async def migrated_database(path: Path) -> None:
    """Create ``path`` with every migration in this checkout, through the bot's own migrator."""
    db = await Database.open(path)
    try:
        await db.migrate()
    finally:
        await db.close()


def connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


_WORDS = (
    "the",
    "film",
    "its",
    "score",
    "camera",
    "light",
    "slow",
    "final",
    "scene",
    "actor",
    "cast",
    "ending",
    "plot",
    "love",
    "city",
    "night",
    "rain",
    "music",
    "colour",
    "frame",
    "story",
    "dream",
    "memory",
    "heart",
    "war",
    "road",
    "house",
    "family",
    "train",
    "sea",
    "mirror",
    "silence",
    "ghost",
    "summer",
)


def sentence(rng: random.Random, low: int = 6, high: int = 30) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(rng.randint(low, high))).capitalize() + "."


def seed_reviews(conn: sqlite3.Connection, count: int, *, seed: int = 3, body_words: int = 120) -> list[int]:
    """``count`` reviews with realistic bodies; returns their ids."""
    rng = random.Random(seed)
    rows = []
    for i in range(1, count + 1):
        film = f"{rng.choice(_WORDS).title()} {rng.choice(_WORDS).title()} {i}"
        body = " ".join(sentence(rng) for _ in range(max(1, body_words // 18)))
        rows.append(
            (
                i,
                "markdown",
                f"bench-{i}",
                f"bench-review-{i}",
                f"{film}: a review",
                f"https://blog.example/reviews/{i}",
                "Bench Reviewer",
                film,
                1950 + i % 75,
                round(rng.uniform(0.5, 5.0) * 2) / 2,
                body[:300],
                body,
                f"2024-01-01T00:00:{i % 60:02d}Z",
            )
        )
    with conn:
        conn.executemany(
            "INSERT INTO reviews (id, source, source_key, slug, title, url, author, film_title, film_year, rating, "
            "excerpt, body_md, published_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
    return [r[0] for r in rows]


def seed_announcements(conn: sqlite3.Connection, rows: Iterable[tuple[int, int, int, int, int | None]]) -> None:
    """(review_id, guild_id, channel_id, message_id, thread_id) rows, already sent."""
    with conn:
        conn.executemany(
            "INSERT INTO announcements (review_id, guild_id, channel_id, message_id, thread_id, nonce, state, "
            "sent_at) VALUES (?, ?, ?, ?, ?, ?, 'sent', '2024-01-01T00:00:00Z')",
            [(r, g, c, m, t, f"bench-{r}-{g}") for r, g, c, m, t in rows],
        )


def comment_rows(
    count: int, threads: Sequence[tuple[int, int, int]], *, first_id: int = 10**15, seed: int = 5
) -> list[tuple]:
    """Comment rows (message_id first) spread over ``threads`` = (review_id, guild_id, thread_id)."""
    rng = random.Random(seed)
    rows = []
    for i in range(count):
        review_id, guild_id, thread_id = threads[i % len(threads)]
        rows.append(
            (
                first_id + i,
                review_id,
                guild_id,
                thread_id,
                10_000 + i % 997,
                f"member{i % 997}",
                sentence(rng, 4, 40),
                "2024-01-02T00:00:00.000000+00:00",
                None,
                None,
                "[]",
                "{}",
            )
        )
    return rows


COMMENT_INSERT = (
    "INSERT INTO comments (message_id, review_id, guild_id, thread_id, author_id, author_name, content, "
    "created_at, edited_at, reply_to_id, attachments, reactions) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def seed_comments(conn: sqlite3.Connection, rows: Sequence[tuple]) -> None:
    with conn:
        conn.executemany(COMMENT_INSERT, rows)


def seed_guild_settings(conn: sqlite3.Connection, rows: Iterable[tuple[int, int | None]]) -> None:
    """(guild_id, announce_channel_id) rows."""
    with conn:
        conn.executemany("INSERT INTO guild_settings (guild_id, announce_channel_id) VALUES (?, ?)", rows)


def settings_for(double: DiscordDouble, database: Path, **overrides: Any) -> Settings:
    base = Settings(
        discord_token=Secret(TOKEN),
        discord_api_base=double.api_base,
        discord_gateway_url=double.gateway_url,
        database_path=database,
        reviews_dir=database.parent / "reviews",
        log_level="WARNING",
        web_port=0,  # the web figure starts its own server on a free port
    )
    (database.parent / "reviews").mkdir(exist_ok=True)
    return dataclasses.replace(base, **overrides)


@contextlib.asynccontextmanager
async def running_bot(
    double: DiscordDouble,
    database: Path,
    *,
    extensions: list[str] | None = None,
    guild_ready_timeout: float = 0.05,
    ready_timeout: float = 120.0,
    **overrides: Any,
) -> AsyncIterator[MatineeBot]:
    """A real MatineeBot connected to the double (returns once ``on_ready`` fired); closed on exit."""
    bot = MatineeBot(
        settings_for(double, database, **overrides),
        sync="never",
        extensions=extensions,
        guild_ready_timeout=guild_ready_timeout,
    )
    task = None
    try:
        task = await double.start_bot(bot, token=TOKEN, timeout=ready_timeout)
        failed = getattr(bot, "failed_extensions", {})
        if failed:
            log.warning("extensions failed to load: %s", failed)
        yield bot
    finally:
        await bot.close()
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, timeout=10)
