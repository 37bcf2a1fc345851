"""Fixtures for the sandbox: a running sandbox in this process, as ``matinee sandbox`` runs it.

Settings are what a fresh clone has (nothing configured, no token), so the sandbox is tested
the way a first visit meets it. Feeds are polled every second here instead of every 15 s, and
the blog's held-back review waits until a test publishes it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio

from bot.discord_double.protocol import THREAD_TYPES
from bot.sandbox import Sandbox, SandboxOptions
from bot.settings import Settings

SEED_TIMEOUT = 60.0


def fresh_settings(**overrides: Any) -> Settings:
    """A fresh clone's settings: nothing set (the token is None, as ``load_settings(require_token=False)`` gives)."""
    return Settings(**{"discord_token": None, **overrides})


async def start_sandbox(**options: Any) -> Sandbox:
    settings = options.pop("settings", None) or fresh_settings()
    defaults: dict[str, Any] = {"port": 0, "publish_after": 3600.0, "feed_poll_seconds": 1}
    sandbox = Sandbox(settings, SandboxOptions(**{**defaults, **options}))
    await sandbox.start()
    return sandbox


def threads(sandbox: Sandbox) -> list[dict]:
    assert sandbox.double is not None and sandbox.world is not None
    reviews = str(sandbox.world.reviews_channel_id)
    return [c for c in sandbox.double.channels.values() if c["type"] in THREAD_TYPES and c["parent_id"] == reviews]


def announcements(sandbox: Sandbox) -> list[dict]:
    assert sandbox.double is not None and sandbox.world is not None
    return [m for m in sandbox.double.messages_in(sandbox.world.reviews_channel_id) if m["embeds"]]


def opening(sandbox: Sandbox, thread: dict) -> dict | None:
    """The thread's opening message with its star-rating poll, once Matinee has posted it."""
    assert sandbox.double is not None
    return next((m for m in sandbox.double.messages_in(int(thread["id"])) if "poll" in m), None)


async def seeded(sandbox: Sandbox, count: int) -> None:
    """Wait until ``count`` reviews are announced, each with its thread and poll."""
    assert sandbox.double is not None

    def done() -> bool:
        found = threads(sandbox)
        return len(announcements(sandbox)) >= count and len(found) >= count and all(opening(sandbox, t) for t in found)

    await sandbox.double.wait_until(done, timeout=SEED_TIMEOUT, interval=0.05)


@pytest_asyncio.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    running = await start_sandbox()
    try:
        await seeded(running, 3)
        yield running
    finally:
        await running.close()
