"""Helpers for the discussions e2e tests: a stored review, its announcement, an opened thread."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from bot.discord_double import DiscordDouble
from bot.models import Announcement, Review
from bot.storage import AnnouncementRepository, ReviewRepository

WORKTREE = Path(__file__).resolve().parents[2]


def review_fields(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "source": "markdown",
        "source_key": "chungking.md",
        "slug": "chungking-express",
        "title": "Chungking Express: A Love Letter to Loneliness",
        "url": "https://blog.example/chungking-express",
        "film_title": "Chungking Express",
        "film_year": 1994,
        "rating": 4.5,
        "excerpt": "Wong Kar-wai's Hong Kong, with Faye Wong and canned pineapple.",
        "body_md": "Wong Kar-wai's Hong Kong, with Faye Wong and canned pineapple.",
        "tags": ["loneliness", "Hong Kong"],
        "content_hash": "v1",
    }
    fields.update(overrides)
    return fields


async def store_review(bot: Any, **overrides: Any) -> Review:
    review, _ = await ReviewRepository(bot.db).upsert(**review_fields(**overrides))
    return review


async def announce_in_text_channel(bot: Any, world: SimpleNamespace, review: Review) -> Announcement:
    """What the reviews feature does: send the announcement, record it as sent."""
    channel = bot.get_channel(world.text_channel_id)
    message = await channel.send(f"New review: {review.title}")
    return await AnnouncementRepository(bot.db).record_sent(review.id, world.guild_id, channel.id, message.id)


async def open_thread(bot: Any, double: DiscordDouble, world: SimpleNamespace, **overrides: Any) -> SimpleNamespace:
    """Store + announce a review, dispatch review_announced, wait for the opening message with its poll."""
    review = await store_review(bot, **overrides)
    announcement = await announce_in_text_channel(bot, world, review)
    bot.dispatch("review_announced", review, announcement)
    thread_id = announcement.message_id
    opening = await double.wait_until(
        lambda: next((m for m in double.messages_in(thread_id) if m.get("poll")), None), timeout=10
    )
    # The poll is recorded after the send returns; wait until the bot knows it.
    cog = bot.get_cog("Discussions")
    await double.wait_until(lambda: cog.discussions.poll_service.is_known(int(opening["id"])), timeout=5)
    return SimpleNamespace(review=review, announcement=announcement, thread_id=thread_id, opening=opening)


async def wait_rows(bot: Any, double: DiscordDouble, sql: str, params: tuple = (), *, count: int, timeout=10.0):
    """Poll SQLite until the query returns ``count`` rows; returns them."""
    import asyncio

    async def loop():
        while True:
            rows = await bot.db.fetchall(sql, params)
            if len(rows) == count:
                return rows
            await asyncio.sleep(0.02)

    return await asyncio.wait_for(loop(), timeout)


async def eventually(fn: Any, expected: Any, *, timeout: float = 10.0) -> Any:
    """Await ``fn()`` until it returns ``expected`` (events are handled asynchronously)."""
    import asyncio

    async def loop():
        while True:
            value = await fn()
            if value == expected:
                return value
            await asyncio.sleep(0.02)

    try:
        return await asyncio.wait_for(loop(), timeout)
    except TimeoutError:
        raise AssertionError(f"expected {expected!r}, still {await fn()!r}") from None


async def caught_up(bot: Any, double: DiscordDouble, *, passes: int = 1, timeout: float = 15.0) -> None:
    """Wait until the discussions backfill has finished ``passes`` catch-up passes since this bot started.

    A catch-up (backfill, then re-reading recent comments and poll voters) runs in
    the background after READY; what it mirrors can only be checked once it is done.
    """
    backfill = bot.get_cog("Discussions").discussions.backfill
    await double.wait_until(lambda: backfill.catch_ups_done >= passes, timeout=timeout)


def matinee_cli(env_file: Path, workdir: Path, *args: str) -> subprocess.CompletedProcess:
    """Run the ``matinee`` command line in a child process with only ``env_file``'s settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "OPENAI_", "DATABASE_"))}
    env["PYTHONPATH"] = str(WORKTREE)
    return subprocess.run(
        [sys.executable, "-m", "bot", "--env-file", str(env_file), *args],
        cwd=workdir,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def buttons(message: dict) -> dict[str, str]:
    """A message's buttons: label → custom id."""
    return {c["label"]: c["custom_id"] for row in message["components"] for c in row["components"]}


async def forget_me(double: DiscordDouble, world: SimpleNamespace, channel_id: int, user_id: int) -> str:
    """Run /forget-me as ``user_id`` and press "Yes, erase my data"; returns the answer."""
    record = await double.invoke_command(world.guild_id, channel_id, user_id, "forget-me")
    await record.wait_response(timeout=15)
    click = await double.click_component(record.original, buttons(record.original)["Yes, erase my data"], user_id)
    done = await click.wait_response(timeout=15)
    assert done["data"]["content"].startswith("Done. I erased"), done
    return done["data"]["content"]
