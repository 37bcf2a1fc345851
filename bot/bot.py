"""The Bot subclass: owns the long-lived clients and the extension lifecycle.

Everything expensive (database, outbound HTTP sessions, OpenAI client) is created once in
``setup_hook`` and released in ``close``; cogs borrow them from the bot and never
create their own.
"""

from __future__ import annotations

import gc
import hashlib
import importlib
import json
import logging
import pkgutil
import time
from collections.abc import Iterable
from typing import Literal

import discord
import yarl
from discord import app_commands
from discord.ext import commands

from .llm import LLM
from .outbound import OutboundHttp
from .ratelimit import TokenBucket
from .settings import Settings
from .storage import BatchedWriter, Database, MetaRepository
from .tree import MatineeTree

__all__ = ["MatineeBot", "configure_endpoints", "discover_extensions", "matinee_intents"]

log = logging.getLogger(__name__)

# Matinee never joins a voice channel, so discord.py's start-up warnings that the voice-only
# libraries (PyNaCl, davey) are missing are noise an operator can do nothing about. discord.py
# warns once per process and clears these flags itself; clearing them first skips that warning.
discord.VoiceClient.warn_nacl = False
discord.VoiceClient.warn_dave = False

SyncMode = Literal["auto", "force", "never"]

# Discord's global limit is 50 REST requests a second. A bucket admits ``burst + rate``
# requests in any one-second window, so 45/s with bursts of 4 stays at 49 at most while
# keeping a large fan-out within about 1.1x of the 50/s floor.
REST_REQUESTS_PER_SECOND = 45.0
REST_BURST = 4.0
ADMIN_GROUP_NAME = "matinee"


def matinee_intents() -> discord.Intents:
    """Only what the features need: no members or presence intent."""
    intents = discord.Intents.none()
    intents.guilds = True
    intents.guild_messages = True
    intents.dm_messages = True
    intents.message_content = True
    intents.guild_reactions = True
    intents.guild_polls = True
    return intents


def configure_endpoints(settings: Settings) -> None:
    """Point discord.py at a different REST base or gateway (a proxy, or the test double).

    discord.py keeps both as class attributes, so this is process-wide by design.
    """
    if settings.discord_api_base:
        discord.http.Route.BASE = settings.discord_api_base
    if settings.discord_gateway_url:
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.discord_gateway_url)


def discover_extensions(package: str = "cogs") -> list[str]:
    """Every module in ``cogs/``, except private helpers whose names start with ``_``."""
    module = importlib.import_module(package)
    return sorted(
        f"{package}.{info.name}" for info in pkgutil.iter_modules(module.__path__) if not info.name.startswith("_")
    )


class AdminGroup(app_commands.Group):
    """``/matinee``: staff commands, checked twice.

    Discord hides the group from members without Manage Messages
    (``default_permissions``), but server admins can override that in their
    Integrations settings, so every invocation is checked again here. Commands
    that need more (Manage Server) add their own run-time check.
    """

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if interaction.guild is None:
            raise app_commands.NoPrivateMessage()
        if not interaction.permissions.manage_messages:
            raise app_commands.MissingPermissions(["manage_messages"])
        return True


class MatineeBot(commands.Bot):
    """Matinee's bot. ``sync`` chooses when application commands are pushed to Discord."""

    db: Database
    meta: MetaRepository
    writer: BatchedWriter
    outbound: OutboundHttp

    def __init__(
        self,
        settings: Settings,
        *,
        sync: SyncMode = "auto",
        extensions: Iterable[str] | None = None,
        **options: object,
    ) -> None:
        configure_endpoints(settings)
        options.setdefault("intents", matinee_intents())
        options.setdefault("allowed_mentions", discord.AllowedMentions.none())
        super().__init__(
            command_prefix=commands.when_mentioned,
            help_command=None,
            tree_cls=MatineeTree,
            **options,  # type: ignore[arg-type]
        )
        self.settings = settings
        self.sync_mode: SyncMode = sync
        self.started_at = time.monotonic()
        self.llm: LLM | None = None
        self.failed_extensions: dict[str, str] = {}
        self._extensions_to_load = list(extensions) if extensions is not None else None
        self.admin_group = AdminGroup(
            name=ADMIN_GROUP_NAME,
            description="Set up and run Matinee in this server",
            guild_only=True,
            default_permissions=discord.Permissions(manage_messages=True),
        )
        self.tree.add_command(self.admin_group)
        self.rest_limiter = TokenBucket(REST_REQUESTS_PER_SECOND, REST_BURST)
        self._install_rest_limiter()

    def _install_rest_limiter(self) -> None:
        """Make every REST call wait for a token, whichever feature makes it.

        discord.py handles 429s after the fact; this keeps a fan-out (announcements,
        their threads and polls, backfills) under Discord's global limit up front, so
        the bot never leans on 429s. Interaction responses use the webhook adapter,
        not ``http.request``, and are exempt from the global limit anyway.
        """
        original = self.http.request

        async def request(route: discord.http.Route, **kwargs: object) -> object:
            await self.rest_limiter.acquire()
            return await original(route, **kwargs)

        self.http.request = request  # type: ignore[method-assign]

    # -- lifecycle ----------------------------------------------------------------

    async def setup_hook(self) -> None:
        self.db = await Database.open(self.settings.database_path)
        await self.db.migrate()
        self.meta = MetaRepository(self.db)
        self.writer = BatchedWriter(self.db)
        self.writer.start()
        self.outbound = OutboundHttp(self.settings)
        self.llm = LLM.from_settings(self.settings)
        await self._load_extensions()
        await self.sync_commands(force=self.sync_mode == "force", enabled=self.sync_mode != "never")
        self._freeze_startup_heap()

    def _freeze_startup_heap(self) -> None:
        """Keep full GC passes from rescanning the ~150k objects start-up left behind.

        Imports (discord.py, aiohttp, the OpenAI client's pydantic models) and cogs
        live as long as the process, yet every full collection walks them all. In a
        burst of messages those passes ran every few hundred milliseconds and cost
        ~20% of ingest throughput. ``gc.freeze`` parks them in the permanent
        generation (refcounting still frees them); :meth:`close` unfreezes, so a
        process that runs several bots (the test suite) can still collect them.
        """
        gc.collect()
        gc.freeze()
        self._froze_heap = True

    async def _load_extensions(self) -> None:
        names = self._extensions_to_load if self._extensions_to_load is not None else discover_extensions()
        for name in names:
            try:
                await self.load_extension(name)
            except Exception as exc:
                # One broken feature must not take the others down with it.
                self.failed_extensions[name] = repr(exc)
                log.exception("extension %s failed to load; continuing without it", name)
            else:
                log.info("loaded extension %s", name)

    async def close(self) -> None:
        """Unload cogs (which stop their loops), then release every shared client."""
        try:
            await super().close()
        finally:
            if getattr(self, "_froze_heap", False):
                self._froze_heap = False
                gc.unfreeze()
            writer = getattr(self, "writer", None)
            if writer is not None:
                await writer.close()
            outbound = getattr(self, "outbound", None)
            if outbound is not None:
                await outbound.close()
            if self.llm is not None:
                await self.llm.aclose()
                self.llm = None
            db = getattr(self, "db", None)
            if db is not None:
                await db.close()

    async def process_commands(self, message: discord.Message) -> None:
        """Matinee has only application commands: "@Matinee hello" is chat, not a prefix command.

        commands.Bot needs a prefix, and with ``when_mentioned`` every mention would
        otherwise be parsed as an unknown command and logged as an error.
        """
        return

    # -- admin command group ----------------------------------------------------------

    def add_admin_command(self, command: app_commands.Command | app_commands.Group) -> None:
        """Attach a subcommand (or subgroup) to ``/matinee``; cogs call this in ``cog_load``."""
        self.admin_group.add_command(command)

    def remove_admin_command(self, name: str) -> None:
        self.admin_group.remove_command(name)

    # -- command sync ---------------------------------------------------------------

    def command_tree_hash(self, guild: discord.abc.Snowflake | None = None) -> str:
        """A hash of exactly what a sync would send, so unchanged trees are never re-synced."""
        payload = [cmd.to_dict(self.tree) for cmd in self.tree.get_commands(guild=guild)]
        payload.sort(key=lambda c: (c.get("type", 1), c["name"]))
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()

    async def sync_commands(self, *, force: bool = False, enabled: bool = True) -> bool:
        """Sync when the tree changed since the last sync (or when forced).

        With ``DEV_GUILD_ID`` set, commands are copied to that guild and synced
        there, which Discord applies instantly; otherwise they sync globally.
        Returns whether a sync happened.
        """
        if not enabled:
            return False
        guild = discord.Object(id=self.settings.dev_guild_id) if self.settings.dev_guild_id else None
        if guild is not None:
            self.tree.copy_global_to(guild=guild)
        key = f"command_tree_hash:{guild.id if guild else 'global'}"
        digest = self.command_tree_hash(guild)
        if not force and await self.meta.get(key) == digest:
            log.info("application commands unchanged; not syncing")
            return False
        synced = await self.tree.sync(guild=guild)
        await self.meta.set(key, digest)
        log.info("synced %d application commands %s", len(synced), f"to guild {guild.id}" if guild else "globally")
        return True

    @property
    def uptime_seconds(self) -> float:
        return time.monotonic() - self.started_at
