"""`matinee run` with the network down waits for it, as a daemon should; only a rejected token ends it.

The real ``matinee run`` in a child process, against the loopback Discord double: the double is
stopped before the bot starts (nothing listens where Discord should be) and started again, on the
same port, once the bot has said it is waiting.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable

import pytest

from tests.reliability._bot_process import BotProcess

pytestmark = pytest.mark.slow

WAITING = re.compile(r"cannot reach Discord \(.+\); trying again in \d+ s \(attempt (\d+)\)$")


async def until(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    """Wait for ``condition()`` to hold (polling a child's collected output), or fail after ``timeout``."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.05)


def waiting_lines(process: BotProcess) -> list[str]:
    return [line for line in process.stderr if WAITING.search(line)]


async def test_run_waits_for_the_network_and_connects_when_it_returns(bot_process, double) -> None:
    port = double.port
    await double.stop()  # "the network is down"
    process = await bot_process.spawn()
    await until(lambda: len(waiting_lines(process)) >= 1)
    assert process.proc.returncode is None  # not fatal: still running, waiting
    await double.start(port=port)  # the network returns
    await process.wait_ready(timeout=60)
    lines = waiting_lines(process)
    # One line per attempt, numbered, each saying when the next comes; no traceback.
    assert [int(WAITING.search(line).group(1)) for line in lines] == list(range(1, len(lines) + 1))
    assert "Traceback" not in process.output
    assert any("Discord is reachable again" in line for line in process.stderr), process.output
    assert await process.terminate() == 0


async def test_run_gives_up_at_once_for_a_rejected_token(bot_process, double) -> None:
    double.token = "the-real-token"  # the bot's "test-token" gets Discord's 401
    process = await bot_process.spawn()
    assert await process.wait_exit(60) == 2
    errors = [line for line in process.stderr if line.startswith("matinee: ")]
    assert len(errors) == 1 and "Discord rejected DISCORD_TOKEN" in errors[0] and "Reset Token" in errors[0]
    assert waiting_lines(process) == [] and "Traceback" not in process.output
