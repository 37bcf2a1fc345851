"""The web server inside the bot's process, and the upkeep of what members are told.

The server (read API, live updates, widget) is created once when the extension
loads and closed when the bot shuts down, before the database; its event streams
end at once. A port that is taken is logged and the bot runs on without it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import discord
from discord.ext import commands

from bot.bot import MatineeBot
from bot.storage.web import WebRepository
from bot.web.app import WebServer
from bot.web.consent import blog_notice, with_blog_notice
from bot.web.security import WebConfig

__all__ = ["WebFeature"]

log = logging.getLogger(__name__)

PRUNE_EVERY_SECONDS = 900.0
KEEP_CHANGES = 200_000  # enough for any reader to resume after a long lost connection


class WebFeature(commands.Cog, name="Web"):
    """Owns the in-process web server and rewrites opening messages when publishing changes."""

    def __init__(self, bot: MatineeBot) -> None:
        self.bot = bot
        self.repository = WebRepository(bot.db)
        self.server: WebServer | None = None
        self._prune_task: asyncio.Task[None] | None = None
        self._notice_tasks: dict[int, asyncio.Task[None]] = {}

    async def cog_load(self) -> None:
        settings = self.bot.settings
        if settings.web_enabled:
            server = WebServer(self.bot.db, WebConfig.from_settings(settings), role="bot")
            try:
                await server.start()
            except OSError as exc:
                log.error(
                    "the web server cannot listen on %s:%s (%s); the bot runs without it (set WEB_PORT, or 0 for off)",
                    settings.web_host,
                    settings.web_port,
                    exc.strerror or exc,
                )
            else:
                self.server = server
                log.info("web server listening on %s (public address %s)", server.url, settings.public_address)
                if not settings.web_allowed_origins:
                    log.warning(
                        "WEB_ALLOWED_ORIGINS is empty: browsers on your blog cannot read the API; set it to the "
                        "blog's origin, e.g. https://blog.example"
                    )
        self._prune_task = asyncio.create_task(self._prune_loop(), name="matinee-web-prune")

    async def cog_unload(self) -> None:
        tasks = [t for t in [self._prune_task, *self._notice_tasks.values()] if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        server, self.server = self.server, None
        if server is not None:
            await server.close()

    async def _prune_loop(self) -> None:
        """Keep the change log bounded; only the bot's process writes, so only it prunes."""
        while True:
            await asyncio.sleep(PRUNE_EVERY_SECONDS)
            try:
                removed = await self.repository.prune_changes(KEEP_CHANGES)
                if removed:
                    log.info("pruned %d old web change-log rows", removed)
            except Exception:
                log.exception("pruning the web change log failed")

    @commands.Cog.listener()
    async def on_guild_update(self, before: discord.Guild, after: discord.Guild) -> None:
        if before.name != after.name:
            await self.repository.rename_guild(after.id, after.name)

    # -- the opening messages' notice ----------------------------------------------------------

    def refresh_notices(self, guild: discord.Guild) -> asyncio.Task[None]:
        """Rewrite the blog notice in every review thread's opening message of ``guild``, in the background."""
        previous = self._notice_tasks.pop(guild.id, None)
        if previous is not None:
            previous.cancel()
        task = asyncio.create_task(self._refresh_notices(guild), name=f"matinee-web-notices-{guild.id}")
        self._notice_tasks[guild.id] = task
        task.add_done_callback(
            lambda t: self._notice_tasks.pop(guild.id, None) if self._notice_tasks.get(guild.id) is t else None
        )
        return task

    async def _refresh_notices(self, guild: discord.Guild) -> None:
        settings = await self.repository.guild(guild.id)
        notice = blog_notice(settings.consent_mode) if settings.publish else None
        edited = 0
        for thread_id, message_id in await self.repository.opening_messages(guild.id):
            try:
                thread = guild.get_thread(thread_id) or await self.bot.fetch_channel(thread_id)
                if not isinstance(thread, discord.Thread):
                    continue
                message = await thread.fetch_message(message_id)
                content = with_blog_notice(message.content, notice)
                if content != message.content:
                    await message.edit(content=content, allowed_mentions=discord.AllowedMentions.none())
                    edited += 1
            except discord.HTTPException as exc:
                log.info("could not update the blog notice in thread %s: %s", thread_id, exc)
        log.info("blog notice updated in %d opening messages of guild %s", edited, guild.id)
