"""What the reviews unit tests share: a scripted fetcher, a fake transport, a settable clock, feed items.

The fixtures built from them (``fetcher``, ``clock``, ``service``) are in this folder's conftest.py.
"""

from __future__ import annotations

import asyncio
import datetime as dt

from bot.models import Announcement, Review
from bot.reviews.delivery import Delivered, DeliveryError, Failure
from bot.reviews.fetch import FetchResult
from tests.doubles.feed_server import rss_feed

GUILD_A, GUILD_B, CHANNEL_A, CHANNEL_B = 1, 2, 11, 22
URL = "https://blog.example/feed/"


def item(n: int, **extra) -> dict:
    return {"title": f"Film {n}: Notes", "guid": f"g{n}", "link": f"https://blog.example/{n}/",
            "date": f"Mon, {n:02d} Jan 2025 10:00:00 +0000", "html": f"<p>Review number {n}.</p>", **extra}  # fmt: skip


class FakeFetcher:
    """Serves a scripted document per URL; raises FeedFetchError for URLs set to an error."""

    allow_private = False  # like the bot's fetcher in production

    def __init__(self) -> None:
        self.docs: dict[str, bytes | Exception] = {}
        self.calls: list[str] = []

    def set(self, url: str, items_or_error) -> None:
        self.docs[url] = items_or_error if isinstance(items_or_error, Exception) else rss_feed(items_or_error).encode()

    async def fetch(self, url: str, *, etag=None, last_modified=None) -> FetchResult:
        self.calls.append(url)
        doc = self.docs[url]
        if isinstance(doc, Exception):
            raise doc
        return FetchResult(url, 200, doc)


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now


class FakeTransport:
    def __init__(self) -> None:
        self.sent: list[tuple[int, int]] = []
        self.edited: list[tuple[int, int]] = []
        self.existing: dict[tuple[int, int], Delivered] = {}
        self.fail: dict[int, DeliveryError] = {}  # guild -> error
        self.gone: set[int] = set()  # deleted channels
        self.tries: dict[int, int] = {}  # guild -> sends attempted
        self.active = 0
        self.max_active = 0
        self.lookups: list[tuple[int, int]] = []

    async def send(self, review: Review, ann: Announcement) -> Delivered:
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        try:
            await asyncio.sleep(0.01)
            self.tries[ann.guild_id] = self.tries.get(ann.guild_id, 0) + 1
            if ann.channel_id in self.gone:
                raise DeliveryError("the channel was deleted", failure=Failure.GONE, status=404)
            if ann.guild_id in self.fail:
                raise self.fail[ann.guild_id]
            self.sent.append((review.id, ann.guild_id))
            return Delivered(ann.channel_id, 1000 + len(self.sent), None)
        finally:
            self.active -= 1

    async def find_existing(self, review: Review, ann: Announcement) -> Delivered | None:
        self.lookups.append((review.id, ann.guild_id))
        return self.existing.get((review.id, ann.guild_id))

    async def edit(self, review: Review, ann: Announcement) -> bool:
        self.edited.append((review.id, ann.guild_id))
        return True
