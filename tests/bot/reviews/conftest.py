"""Fixtures of the ReviewService unit tests: a scripted fetcher, a settable clock, a service with two guilds."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from bot.reviews.service import ReviewService
from bot.storage import Database
from tests.bot.reviews.feeds_support import CHANNEL_A, CHANNEL_B, GUILD_A, GUILD_B, Clock, FakeFetcher


@pytest.fixture
def fetcher() -> FakeFetcher:
    return FakeFetcher()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def service(db: Database, fetcher: FakeFetcher, clock: Clock, tmp_path: Path) -> ReviewService:
    svc = ReviewService(db, fetcher, poll_seconds=300, reviews_dir=tmp_path / "reviews", clock=clock,
                        rng=random.Random(1))  # fmt: skip
    await svc.guilds.update(GUILD_A, announce_channel_id=CHANNEL_A, log_channel_id=111)
    await svc.guilds.update(GUILD_B, announce_channel_id=CHANNEL_B)
    return svc
