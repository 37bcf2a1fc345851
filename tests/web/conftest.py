"""Fixtures for the web side: a bot with its web server, a loopback blog, and a published discussion.

The bot is the real MatineeBot against the Discord double (``tests/e2e`` fixtures);
its web server listens on a free loopback port. The blog is a copy of a WordPress
review post (``fixtures/wordpress_review.html``) with the widget's two lines,
served on another port, so every request the widget makes is cross-origin, as on
a real blog.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bot.discord_double import DiscordDouble
from bot.storage.web import WebRepository
from tests.e2e._discussions import open_thread, wait_rows
from tests.e2e.conftest import double, openai_stub, run_bot, world  # noqa: F401 - fixtures shared with e2e

FIXTURES = Path(__file__).parent / "fixtures"
REVIEW_PATH = "/2026/11/24/chungking-express-a-love-letter-to-loneliness/"
REVIEW_URL = "https://blog.example" + REVIEW_PATH
REVIEW_SLUG = "chungking-express-a-love-letter-to-loneliness"
INDEX_PATH = "/category/reviews/"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class BlogServer:
    """A WordPress-shaped blog on loopback: the review post and a category index, with the widget's lines."""

    def __init__(self) -> None:
        self.public_url = ""
        self.runner: web.AppRunner | None = None
        self.port = 0

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str = REVIEW_PATH, **query: str) -> str:
        suffix = "?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else ""
        return f"{self.origin}{path}{suffix}"

    async def _page(self, request: web.Request) -> web.Response:
        name = "wordpress_index.html" if request.path == INDEX_PATH else "wordpress_review.html"
        html = (FIXTURES / name).read_text(encoding="utf-8")
        html = html.replace("{PUBLIC_URL}", self.public_url).replace("{THEME}", request.query.get("theme", "auto"))
        return web.Response(text=html, content_type="text/html")

    async def __aenter__(self) -> BlogServer:
        app = web.Application()
        app.router.add_get(REVIEW_PATH, self._page)
        app.router.add_get(INDEX_PATH, self._page)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self.runner.addresses[0][1])
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


@pytest.fixture
async def blog() -> AsyncIterator[BlogServer]:
    async with BlogServer() as server:
        yield server


@dataclass
class Published:
    """A bot with its web server, and a review whose discussion is published."""

    bot: Any
    double: DiscordDouble
    world: SimpleNamespace
    api: str
    thread_id: int
    review: Any
    opening: dict
    session: aiohttp.ClientSession

    async def post(self, author_id: int, text: str, **kwargs: Any) -> dict:
        return await self.double.post_message(self.thread_id, author_id, text, **kwargs)

    async def stored(self, count: int) -> None:
        await wait_rows(self.bot, self.double, "SELECT 1 FROM comments WHERE deleted = 0", count=count)

    async def get(self, path: str, **kwargs: Any) -> tuple[int, Any, Any]:
        async with self.session.get(self.api + path, **kwargs) as response:
            body = await response.read()
            content_type = response.headers.get("Content-Type", "")
            data: Any = body
            if content_type.startswith("application/json") and body:
                import json

                data = json.loads(body)
            return response.status, data, response.headers


async def publish_discussion(
    runner: Any, discord: DiscordDouble, guild: SimpleNamespace, *, origins: tuple[str, ...] = (), **overrides: Any
) -> Published:
    """Start the bot with its web server on a free port, publish the guild, open the review's thread."""
    port = free_port()
    api = f"http://127.0.0.1:{port}"
    bot = await runner(web_port=port, public_url=api, web_allowed_origins=origins, **overrides)
    await WebRepository(bot.db).update_guild(
        guild.guild_id, publish=True, guild_name="Film Club", invite_url="https://discord.gg/filmclub"
    )
    opened = await open_thread(bot, discord, guild, url=REVIEW_URL, slug=REVIEW_SLUG, source_key="chungking.md")
    session = aiohttp.ClientSession()
    return Published(bot, discord, guild, api, opened.thread_id, opened.review, opened.opening, session)


@pytest.fixture
async def published(run_bot, double, world, blog) -> AsyncIterator[Published]:  # noqa: F811
    """The review's discussion, published by its server, with the web server allowing the blog's origin."""
    state = await publish_discussion(run_bot, double, world, origins=(blog.origin,))
    blog.public_url = state.api
    try:
        yield state
    finally:
        await state.session.close()
