"""Start-up freezes the long-lived heap for the garbage collector; closing releases it."""

from __future__ import annotations

import gc

import pytest

pytestmark = pytest.mark.e2e


async def test_startup_heap_is_frozen_while_running_and_released_on_close(run_bot) -> None:
    assert gc.get_freeze_count() == 0
    bot = await run_bot(extensions=[])
    # Imports and cogs are parked in the permanent generation: full GC passes skip them.
    assert gc.get_freeze_count() > 1000
    await run_bot.stop(bot)
    # Unfrozen on close, so a process that runs many bots (this test suite) can still collect them.
    assert gc.get_freeze_count() == 0
