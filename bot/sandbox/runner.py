"""Run the sandbox: the double, the sample blog and the page, and the unmodified bot connected to them.

Why this exists: ``matinee sandbox`` (and ``make run`` without a token) must bring the whole
thing up in seconds and take it all down on Ctrl-C, leaving nothing behind. :class:`Sandbox`
owns every part and starts them in dependency order:

1. the Discord double on loopback, with the "Film Club" world (:mod:`bot.sandbox.world`);
2. the sample film catalog, imported into the sandbox's own database as
   ``matinee films import`` would (the database is a temporary file unless one is named);
3. the page and the sample blog on ``127.0.0.1`` (:mod:`bot.sandbox.ui`);
4. :class:`~bot.bot.MatineeBot`, every cog loaded, configured through its normal settings
   (``DISCORD_API_BASE``, ``DISCORD_GATEWAY_URL``, ``DATABASE_PATH``, a short
   ``FEED_POLL_SECONDS``, ``FEED_ALLOW_PRIVATE_NETWORKS`` on so it may read the blog on
   loopback, its web server on a free loopback port with the blog's origin allowed) and
   everything else from the user's own settings, so ``OPENAI_*`` keys work;
5. Matinee set up by the owner's own commands: the announcement channel, publishing on the
   blog, and the blog's feed with its reviews backfilled.

:meth:`Sandbox.close` stops them in reverse order; it is safe to call at any point of start-up.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import secrets
import socket
import tempfile
from pathlib import Path

import aiohttp

from bot.bot import MatineeBot
from bot.discord_double import DiscordDouble
from bot.films.importer import import_films
from bot.outbound import NetworkPolicy, create_session
from bot.settings import Secret, Settings
from bot.storage import Database
from bot.storage.films import FilmRepository

from .blog import SampleBlog
from .live import LiveHub
from .ui import SandboxUi
from .view import BOT_NAME, WorldView
from .world import SandboxWorld, build_world, set_up_matinee

__all__ = ["SAMPLE_REVIEWS", "Sandbox", "SandboxOptions"]

log = logging.getLogger(__name__)

CHECKOUT = Path(__file__).resolve().parents[2]
SAMPLE_REVIEWS = CHECKOUT / "data" / "reviews"
SAMPLE_FILMS = Path(__file__).with_name("content") / "films.json"
READY_TIMEOUT = 60.0  # the bot's first connection, on a loaded machine
SEED_TIMEOUT = 30.0  # the sample reviews' announcements, threads and polls
CLOSE_TIMEOUT = 10.0
HEALTH_TIMEOUT = aiohttp.ClientTimeout(total=5)  # the web server's first answer, on loopback


def free_loopback_port() -> int:
    """A port free on 127.0.0.1 right now (the bot's web server takes a port number, not a socket)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclasses.dataclass(frozen=True, slots=True)
class SandboxOptions:
    """How to run the sandbox (the command line's options)."""

    port: int = 0
    database: Path | None = None
    publish_after: float = 60.0
    feed_poll_seconds: int = 15
    reviews: Path | None = None  # the blog's Markdown reviews (default: the sample reviews in data/reviews)


class Sandbox:
    """Every part of a running sandbox; ``await start()``, then ``await close()``."""

    def __init__(self, settings: Settings, options: SandboxOptions | None = None) -> None:
        """``settings`` are the user's own (token or not); the sandbox overrides what points at Discord."""
        self.user_settings = settings
        self.options = options or SandboxOptions()
        self.double: DiscordDouble | None = None
        self.world: SandboxWorld | None = None
        self.view: WorldView | None = None
        self.hub: LiveHub | None = None
        self.blog: SampleBlog | None = None
        self.ui: SandboxUi | None = None
        self.bot: MatineeBot | None = None
        self._bot_task: asyncio.Task[None] | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.database_path: Path | None = None
        self.web_url = ""

    @property
    def url(self) -> str:
        assert self.ui is not None, "not started"
        return self.ui.url

    async def start(self) -> str:
        """Bring everything up; returns the page's URL. On failure, whatever started is stopped again."""
        try:
            return await self._start()
        except BaseException:
            await self.close()
            raise

    async def _start(self) -> str:
        options = self.options
        if options.database is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="matinee-sandbox-")
            self.database_path = Path(self._tmp.name) / "sandbox.db"
        else:
            self.database_path = options.database
        token = secrets.token_urlsafe(24)  # the double's own; a real token never goes near it
        self.double = await DiscordDouble(token=token, bot_name=BOT_NAME).start()
        self.world = await build_world(self.double)
        await self._import_films(self.database_path)

        self.view = WorldView(self.double, self.world)
        self.hub = LiveHub(self.double, self.view)
        self.blog = SampleBlog.from_directory(options.reviews or SAMPLE_REVIEWS, publish_after=options.publish_after,
                                              on_change=self._blog_changed)  # fmt: skip
        self.web_url = f"http://127.0.0.1:{free_loopback_port()}"  # the bot's web server: read API and widget
        self.ui = SandboxUi(self.double, self.view, self.hub, self.blog, port=options.port, widget_url=self.web_url)
        url = await self.ui.start()
        self.blog.base_url = url

        settings = self.bot_settings(token)
        # Each start is a new Discord (the double), so commands are always synced, even when a kept
        # database (--database) remembers having synced the same tree before.
        self.bot = MatineeBot(settings, sync="force", guild_ready_timeout=0.2)
        self._bot_task = await self.double.start_bot(self.bot, token=token, timeout=READY_TIMEOUT)
        widget = await self._web_server_answers()
        self.blog.widget_url = self.web_url if widget else None
        self.ui.widget_url = self.blog.widget_url
        await set_up_matinee(self.double, self.world, feed_url=self.blog.feed_url, backfill=len(self.blog.posts),
                             publish_on_blog=widget)  # fmt: skip
        await self._announced(len(self.blog.posts))
        self.blog.start()
        return url

    def discussions_open(self) -> int:
        """How many announcements in ``#reviews`` have their thread open with its opening poll."""
        assert self.double is not None and self.world is not None
        count = 0
        for message in self.double.messages_in(self.world.reviews_channel_id):
            thread = message.get("thread")
            if message["embeds"] and thread and any("poll" in m for m in self.double.messages_in(int(thread["id"]))):
                count += 1
        return count

    async def _announced(self, count: int) -> None:
        """Wait until the backfilled reviews are announced and discussed, so the page opens on them."""
        assert self.double is not None
        try:
            await self.double.wait_until(lambda: self.discussions_open() >= count, timeout=SEED_TIMEOUT, interval=0.05)
        except TimeoutError:
            log.warning("only %d of the %d sample reviews were announced in time; the rest may follow",
                        self.discussions_open(), count)  # fmt: skip

    async def _web_server_answers(self) -> bool:
        """Whether the bot's web server came up (it logs and runs on without it when its port is taken)."""
        try:
            session = create_session(NetworkPolicy(allow_private=True), timeout=HEALTH_TIMEOUT)  # loopback
            async with session, session.get(f"{self.web_url}/healthz") as response:
                return response.status == 200
        except (aiohttp.ClientError, TimeoutError):
            log.warning("Matinee's web server is not answering at %s; the blog pages show no comments", self.web_url)
            return False

    def bot_settings(self, token: str) -> Settings:
        """The user's settings, pointed at the double, the sandbox's own database, blog and web address."""
        assert self.double is not None and self.database_path is not None and self.ui is not None
        empty_reviews = self.database_path.parent / "no-markdown-reviews"  # the blog's feed brings the reviews
        port = int(self.web_url.rsplit(":", 1)[1])
        blog_origins = (self.ui.url, self.ui.url.replace("127.0.0.1", "localhost"))
        return dataclasses.replace(
            self.user_settings,
            discord_token=Secret(token),
            discord_api_base=self.double.api_base,
            discord_gateway_url=self.double.gateway_url,
            database_path=self.database_path,
            dev_guild_id=None,
            review_feeds=(),
            reviews_dir=empty_reviews,
            feed_poll_seconds=self.options.feed_poll_seconds,
            feed_allow_private_networks=True,
            web_host="127.0.0.1",  # loopback, whatever WEB_HOST says
            web_port=port,
            public_url=self.web_url,
            web_allowed_origins=blog_origins,
            web_trusted_proxies=(),
        )

    async def _import_films(self, path: Path) -> None:
        """The sample catalog, through the importer ``matinee films import`` uses (safe to repeat)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        db = await Database.open(path)
        try:
            await db.migrate()
            await import_films(FilmRepository(db), SAMPLE_FILMS, "json")
        finally:
            await db.close()

    def _blog_changed(self) -> None:
        if self.hub is not None and self.blog is not None:
            self.hub.publish("blog", self.blog.status())

    async def wait_closed(self) -> None:
        """Until the bot stops on its own (it normally runs until :meth:`close`)."""
        if self._bot_task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.shield(self._bot_task)

    async def close(self) -> None:
        """Stop everything, newest first; delete the temporary database."""
        if self.blog is not None:
            await self.blog.close()
        if self.bot is not None:
            bot, self.bot = self.bot, None
            try:
                await asyncio.wait_for(bot.close(), CLOSE_TIMEOUT)
            except Exception:
                log.exception("the bot did not close cleanly")
        if self._bot_task is not None:
            task, self._bot_task = self._bot_task, None
            if not task.done():
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.hub is not None:
            await self.hub.close()
            self.hub = None
        if self.ui is not None:
            await self.ui.close()
            self.ui = None
        if self.double is not None:
            await self.double.stop()
            self.double = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
