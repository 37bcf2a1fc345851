"""Headless Chromium for the tests that drive web pages (the sandbox's page, the blog widget).

Chromium is Debian's package (``/usr/bin/chromium``, or ``$MATINEE_CHROMIUM``) driven by
Playwright for Python; Playwright's own browser download is not used. Without Chromium or
Playwright these tests are skipped with the reason, except in CI (``CI=true``, or
``MATINEE_REQUIRE_BROWSER=1``), where a missing browser is a failure.

Screenshots for the README are written to ``docs/images`` only with
``MATINEE_UPDATE_SCREENSHOTS=1`` (:func:`keep_screenshot`), so an ordinary test run never
changes the checkout.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

__all__ = ["CHROMIUM", "CHROMIUM_ARGS", "DOCS_IMAGES", "chromium", "keep_screenshot"]

CHROMIUM = os.environ.get("MATINEE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]
DOCS_IMAGES = Path(__file__).resolve().parents[1] / "docs" / "images"


def browser_required() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true") or os.environ.get("MATINEE_REQUIRE_BROWSER") == "1"


def unavailable(reason: str) -> None:
    """Skip (fail in CI): the browser tests cannot run here."""
    if browser_required():
        pytest.fail(f"browser tests must run here, but {reason}")
    pytest.skip(f"{reason}; install it with `apt-get install -y chromium` to run the browser tests")


@contextlib.asynccontextmanager
async def chromium(directory: Path, **context_options: Any) -> AsyncIterator[Any]:
    """A fresh Chromium profile in ``directory`` (no cookies, no cache), closed afterwards."""
    if not Path(CHROMIUM).exists():
        unavailable(f"Chromium is not installed at {CHROMIUM}")
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        unavailable("Playwright for Python is not installed (pip install -e '.[test]')")
    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            str(directory / "chromium-profile"),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            **{"viewport": {"width": 900, "height": 1200}, **context_options},
        )
        try:
            yield context
        finally:
            await context.close()


def keep_screenshot(path: Path, name: str) -> None:
    """Copy a screenshot taken by a test into docs/images when asked (``MATINEE_UPDATE_SCREENSHOTS=1``)."""
    if os.environ.get("MATINEE_UPDATE_SCREENSHOTS") == "1":
        DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOCS_IMAGES / name)
