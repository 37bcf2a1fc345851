"""A database seeded with a published discussion, and a web server over it, without the bot.

For tests of the HTTP surface itself (hostile requests, SSE mechanics, caching),
where starting Discord would only add time. The rows are the ones the bot writes.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from bot.storage import Database
from bot.urls import normalize_post_url
from bot.web.app import WebServer
from bot.web.security import WebConfig

GUILD = 900
THREAD = 5000
REVIEW_URL = "https://blog.example/2026/11/24/chungking-express/"
MEMBER = 111111111111111111
OTHER = 222222222222222222


@dataclass
class Seeded:
    db: Database
    review_id: int
    next_id: int = 7000

    async def comment(
        self,
        text: str,
        *,
        author: int = MEMBER,
        name: str = "Mo",
        reply_to: int | None = None,
        reactions: dict[str, int] | None = None,
        attachments: list[str] | None = None,
    ) -> int:
        self.next_id += 1
        await self.db.execute(
            "INSERT INTO comments (message_id, review_id, guild_id, thread_id, author_id, author_name, content, "
            "created_at, reply_to_id, attachments, reactions) VALUES (?, ?, ?, ?, ?, ?, ?, "
            "strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?), ?, ?, ?)",
            (
                self.next_id,
                self.review_id,
                GUILD,
                THREAD,
                author,
                name,
                text,
                f"+{self.next_id - 7000} seconds",
                reply_to,
                json.dumps(attachments or []),
                json.dumps(reactions or {}),
            ),
        )
        return self.next_id


async def seed(path: Path, *, publish: bool = True, consent: str = "notice") -> Seeded:
    db = await Database.open(path)
    await db.migrate()
    await db.execute(
        "INSERT INTO reviews (id, source, source_key, slug, title, url, url_key, film_title, film_year) "
        "VALUES (1, 'markdown', 'c.md', 'chungking-express', 'Chungking Express', ?, ?, 'Chungking Express', 1994)",
        (REVIEW_URL, normalize_post_url(REVIEW_URL)),
    )
    await db.execute(
        "INSERT INTO announcements (review_id, guild_id, channel_id, message_id, thread_id, nonce, state) "
        "VALUES (1, ?, 4000, ?, ?, 'n', 'sent')",
        (GUILD, THREAD, THREAD),
    )
    await db.execute(
        "INSERT INTO web_guilds (guild_id, publish, consent_mode, guild_name) VALUES (?, ?, ?, 'Film Club')",
        (GUILD, int(publish), consent),
    )
    return Seeded(db, 1)


def web_config(**overrides: Any) -> WebConfig:
    values: dict[str, Any] = {"port": 0, "allowed_origins": ("http://blog.test",), "tail_interval": 0.02}
    values.update(overrides)
    return WebConfig(**values)


@contextlib.asynccontextmanager
async def serving(db: Database, **overrides: Any) -> AsyncIterator[tuple[WebServer, aiohttp.ClientSession]]:
    server = WebServer(db, web_config(**overrides))
    await server.start()
    session = aiohttp.ClientSession(base_url=server.url, auto_decompress=True)
    try:
        yield server, session
    finally:
        await session.close()
        await server.close()


async def read_event(response: aiohttp.ClientResponse) -> dict[str, str]:
    """The next SSE event (comments and heartbeats skipped); fields by name."""
    while True:
        block = (await response.content.readuntil(b"\n\n")).decode()
        fields: dict[str, str] = {}
        for line in block.splitlines():
            if not line or line.startswith(":"):
                continue
            name, _, value = line.partition(": ")
            fields[name] = value
        if "event" in fields or "data" in fields:
            return fields
