"""Fixtures for the reliability suite: the e2e fixtures plus a bot in a subprocess.

The in-process fixtures (``double``, ``world``, ``run_bot``, ``openai_stub``) are
re-exported from ``tests/e2e/conftest.py`` so fault tests drive exactly the bot the
feature tests drive. ``bot_process`` starts the real ``matinee run`` code path in a
child process (see ``_bot_process.py``) so a test can SIGKILL or SIGTERM it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.e2e.conftest import BotRunner, double, openai_stub, run_bot, world  # noqa: F401
from tests.reliability._bot_process import BotProcessFactory


@pytest.fixture
async def bot_process(double, tmp_path: Path) -> AsyncIterator[BotProcessFactory]:  # noqa: F811
    factory = BotProcessFactory(double, tmp_path)
    try:
        yield factory
    finally:
        await factory.kill_all()
