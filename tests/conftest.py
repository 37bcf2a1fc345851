"""Shared unit-test fixtures. End-to-end fixtures live in tests/e2e/conftest.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.storage import BatchedWriter, Database


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
