"""Shared unit-test fixtures. End-to-end fixtures live in tests/e2e/conftest.py."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot.storage import BatchedWriter, Database
from tests._environment import isolate_process_environment

# Before any test module is imported: no developer `.env`, no exported setting (see tests/_environment.py).
isolate_process_environment()


@pytest.fixture(autouse=True)
def _no_developer_settings() -> None:
    """Again before every test, in case an earlier one loaded a `.env` into ``os.environ``."""
    isolate_process_environment()


@pytest.fixture(autouse=True)
def _restore_root_logging() -> Iterator[None]:
    """Undo ``setup_logging`` after tests that run a CLI command in-process.

    It replaces the root handlers with one bound to the test's captured stderr;
    left in place, a later log line from aiosqlite's worker thread would write to
    that closed stream ("--- Logging error ---") and caplog would stop seeing records.
    """
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    discord_level = logging.getLogger("discord").level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.getLogger("discord").setLevel(discord_level)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    """A fresh database with every migration applied, closed after the test."""
    database = await Database.open(tmp_path / "matinee.db")
    await database.migrate()
    yield database
    await database.close()


@pytest.fixture
async def writer(db: Database) -> AsyncIterator[BatchedWriter]:
    """The batched writer over ``db``, started, and closed (flushed) before the database."""
    batched = BatchedWriter(db)
    batched.start()
    yield batched
    await batched.close()
