"""Waiting for the reviews loop's first read of the reviews directory.

Files present at that first read are the blog's history: they are recorded
without an announcement. A test that writes a "new" review must do so after
it, or it races the loop and, on a loaded machine, loses (nothing announced).
"""

from __future__ import annotations

import asyncio
from typing import Any

MARKDOWN_INITIALIZED = "reviews.markdown_initialized"


async def first_scan_done(bot: Any, timeout: float = 30.0) -> None:
    async def scanned() -> None:
        while await bot.meta.get(MARKDOWN_INITIALIZED) != "1":
            await asyncio.sleep(0.02)

    await asyncio.wait_for(scanned(), timeout)
