"""Fixtures for the films unit tests: a migrated database and the film repository."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.storage import Database
from bot.storage.films import FilmRepository

# ../shared/data next to the project (not committed: see /work/shared/data/README.md).
VEGA = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "vega-movies.json"
IMDB_FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "imdb"


@pytest.fixture
def films(db: Database) -> FilmRepository:
    return FilmRepository(db)
