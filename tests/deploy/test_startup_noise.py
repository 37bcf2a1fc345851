"""A start-up prints nothing the operator can do nothing about."""

from __future__ import annotations

import importlib.util
import signal

import pytest

from tests.reliability._bot_process import BotProcessFactory

VOICE_WARNING = "voice will NOT be supported"


@pytest.mark.slow
async def test_start_up_logs_no_voice_library_warning(bot_process: BotProcessFactory) -> None:
    missing = [name for name in ("nacl", "davey") if importlib.util.find_spec(name) is None]
    if not missing:
        pytest.skip("PyNaCl and davey are installed, so discord.py has no voice warning to give")
    process = await bot_process.start()
    process.send_signal(signal.SIGTERM)
    assert await process.wait_exit() == 0, process.output
    assert "loaded extension" in process.output, "the log was captured"
    assert VOICE_WARNING not in process.output
    discord_warnings = [line for line in process.output.splitlines() if " WARNING  discord." in line]
    assert discord_warnings == []
