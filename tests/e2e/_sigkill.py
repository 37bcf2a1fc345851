"""A real crash for the end-to-end tests: ``matinee run`` in a child process, SIGKILLed on a condition.

The crash tests (announcements in test_reviews_sigkill.py, blog-comment mirrors in
test_bridge_sigkill.py) all do the same dance: hold some of the Discord double's
answers back (:class:`Held`), start the bot process on the test's database
(:func:`kill_when`), wait until Discord has what the bot sent, SIGKILL it, then let
the double answer again, so a restarted bot (``run_bot``) finds what the dead one
left behind.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path

from bot.discord_double import DiscordDouble
from tests.e2e.conftest import TEST_TOKEN, BotRunner

__all__ = ["Held", "kill_when"]

ROOT = Path(__file__).resolve().parents[2]


class Held:
    """Requests to the double's routes named ``handlers`` wait until :meth:`release`.

    ``done_first`` (the default) lets the double do the work, then holds the answer: the
    bot dies after Discord made the post but before it heard so. Otherwise the request
    is recorded but waits before it is handled: the bot dies while it is asking.
    """

    def __init__(self, double: DiscordDouble, *handlers: str, done_first: bool = True) -> None:
        self._released = asyncio.Event()
        self._patched = []
        for route in double._routes:
            if route.handler.__name__ in handlers:
                original = route.handler

                async def held(*args, _original=original):
                    if done_first:
                        result = await _original(*args)
                        await self._released.wait()
                        return result
                    await self._released.wait()
                    return await _original(*args)

                self._patched.append((route, original))
                route.handler = held
        assert self._patched, f"the double has no route handled by {handlers}"

    def release(self) -> None:
        """Answer what is held and handle every later request as the double always does."""
        self._released.set()
        for route, original in self._patched:
            route.handler = original


async def kill_when(
    double: DiscordDouble, run_bot: BotRunner, tmp_path: Path, condition: Callable[[], object], held: Held,
    **env: str,
) -> int:  # fmt: skip
    """Run the bot process until ``condition`` holds, SIGKILL it, then release ``held``; its exit code.

    The process uses the test's database and reviews folder; ``env`` adds settings
    (``REVIEW_FEEDS=...``). Its log is ``tmp_path / "bot.log"``.
    """
    environment = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DISCORD_TOKEN": TEST_TOKEN,
        "DISCORD_API_BASE": double.api_base,
        "DISCORD_GATEWAY_URL": double.gateway_url,
        "DATABASE_PATH": str(run_bot.database_path),
        "REVIEWS_DIR": str(run_bot.reviews_dir),
        "FEED_POLL_SECONDS": "10",  # the lowest the settings allow
        "FEED_ALLOW_PRIVATE_NETWORKS": "true",
        "LOG_LEVEL": "INFO",
        "WEB_PORT": "0",
        **env,
    }
    with (tmp_path / "bot.log").open("wb") as log_file:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "--env-file", str(tmp_path / "none.env"), "run",
            cwd=tmp_path, env=environment, stdout=asyncio.subprocess.DEVNULL, stderr=log_file,
        )  # fmt: skip
        try:
            await double.wait_until(condition, timeout=60)
        finally:
            process.send_signal(signal.SIGKILL)
            await process.wait()
            held.release()
    return process.returncode
