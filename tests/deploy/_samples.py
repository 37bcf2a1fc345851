"""A database holding the shipped sample reviews (data/reviews), as the bot stores them on its first start."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.reviews.service import ReviewService
from bot.storage import Database

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "reviews"


async def seed_samples(path: Path) -> None:
    """Read the samples the way a bot with ``REVIEWS_DIR=data/reviews`` does: stored, none announced."""
    db = await Database.open(path)
    try:
        await db.migrate()
        result = await ReviewService(db, None, reviews_dir=SAMPLES).scan_markdown()
        assert result.recorded == len(list(SAMPLES.glob("*.md"))), result
    finally:
        await db.close()


def seeded_database(path: Path) -> Path:
    asyncio.run(seed_samples(path))
    return path
