"""The Bot subclass: owns the long-lived clients and the extension lifecycle.

Everything expensive (database, outbound HTTP sessions, OpenAI client) is created once in
``setup_hook`` and released in ``close``; cogs borrow them from the bot and never
create their own. ``close`` is bounded: see :meth:`MatineeBot.close` and
:mod:`bot.shutdown`.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import importlib
import json
import logging
import pkgutil
import time
from collections.abc import Iterable, Sequence
from typing import Literal

import discord
import yarl
from discord.ext import commands

from .admin import AdminChild, admin_commands_of, new_admin_group
from .llm import LLM
from .lost_response import lost_response_trace
from .outbound import OutboundHttp
from .ratelimit import TokenBucket
from .settings import Settings
from .shutdown import ShutdownBudget
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

# Caps of the shutdown steps (seconds); each also stops at the budget's deadline.
# Unloading covers the chat cog's grace for replies in flight (3 s).
UNLOAD_CAP = 3.5
GATEWAY_CAP = 1.0  # discord.py would wait up to 30 s for the gateway's reply to a close frame
HANDLERS_CAP = 0.5
CLIENT_CAP = 0.5
DATABASE_CAP = 1.0
# Kept back from the writer's flush for closing clients and the database after it.
KEEP_AFTER_FLUSH = 0.8
# discord.py names the task of every event listener call "discord.py: <event>".
EVENT_TASK_PREFIX = "discord.py: "


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


class _Absent:
    """A class attribute that reads as missing (``AttributeError``), hiding an inherited method.

    ``discord.Client.dispatch`` looks up ``on_<event>`` on the client and starts a
    task for it only if the lookup succeeds.
    """

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    def __get__(self, obj: object, objtype: type | None = None) -> None:
        raise AttributeError(self._name)


class MatineeBot(commands.Bot):
    """Matinee's bot. ``sync`` chooses when application commands are pushed to Discord."""

    # commands.Bot.on_message only calls process_commands, and Matinee has no prefix commands
    # (see process_commands below). Inherited, it made discord.py start one more task for every
    # message in every channel, ~10% of the CPU of a comment's way from the gateway to its row
    # (bench figure 1a). The cogs' own on_message listeners are unaffected.
    on_message = _Absent()

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
        # Lets a create call without a nonce be sent once when its answer is lost (bot/lost_response.py).
        options["http_trace"] = lost_response_trace(options.get("http_trace"))  # type: ignore[arg-type]
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
        self.admin_group = new_admin_group()
        self.tree.add_command(self.admin_group)
        self._admin_commands: dict[str, list[AdminChild]] = {}  # cog name -> the /matinee children it declared
        self.rest_limiter = TokenBucket(REST_REQUESTS_PER_SECOND, REST_BURST)
        self._install_rest_limiter()
        self._starting_up: asyncio.Task[object] | None = None  # the task running setup_hook, while it does
        self._set_up_ended = asyncio.Event()
        self._shutdown: asyncio.Task[None] | None = None

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
        if self.shutting_down:  # the signal came before start-up: open nothing that close() has passed
            return
        self._starting_up = asyncio.current_task()
        try:
            await self._set_up()
        finally:
            self._starting_up = None
            self._set_up_ended.set()

    async def _set_up(self) -> None:
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

    @property
    def shutting_down(self) -> bool:
        return self._shutdown is not None

    async def close(self, budget: ShutdownBudget | None = None) -> None:
        """Shut down within ``budget`` (a fresh :class:`ShutdownBudget` if None); safe to call again.

        Every caller (the signal handler, discord.py after a fatal gateway error,
        tests) waits for the same shutdown, which runs in its own task so that a
        caller being cancelled cannot cut it short.
        """
        await asyncio.shield(self.begin_shutdown(budget))

    def begin_shutdown(self, budget: ShutdownBudget | None = None) -> asyncio.Task[None]:
        """Start the shutdown now (the signal handler cannot await); returns its task."""
        if self._shutdown is None:
            self._shutdown = asyncio.create_task(self._shut_down(budget or ShutdownBudget()), name="matinee-shutdown")
        return self._shutdown

    async def _shut_down(self, budget: ShutdownBudget) -> None:
        """Stop intake, finish what was received, flush it, release every client; within ``budget``.

        Nothing received is lost, whatever step runs out of time. Discord does not
        take per-message acknowledgements: what Matinee stores is the comments, and
        each thread's cursor ("read up to here") only moves when a comment commits,
        and every thread owes a backfill from the next start on. Handlers queue their rows in gateway order and batches
        commit in queue order, so a message that is not stored by the time we exit
        (dropped after the cogs unloaded, or still queued when the flush ran out of
        time, its caller told so) is newer than the thread's cursor, and the next
        start's backfill, which reads every open thread's history after its cursor,
        stores it.
        """
        log.info("shutting down (budget %.1f s)", budget.remaining())
        if self._starting_up is not None and self._starting_up is not asyncio.current_task():
            # Start-up has nothing worth finishing (each migration is atomic): stop it, then
            # close whatever it had opened.
            self._starting_up.cancel()
            await budget.step("stop start-up", self._set_up_ended.wait(), cap=UNLOAD_CAP)
        await budget.step("unload extensions", self._unload_extensions(), cap=UNLOAD_CAP)
        # The extensions are gone, so Client.close (not commands.Bot.close, which would unload
        # again, unbounded) closes the gateway and discord.py's HTTP session.
        if not await budget.step("close the gateway", discord.Client.close(self), cap=GATEWAY_CAP):
            await budget.step("close discord.py's HTTP session", self.http.close(), cap=CLIENT_CAP)
        await budget.step("finish event handlers in flight", self._event_handlers_done(), cap=HANDLERS_CAP)
        writer = getattr(self, "writer", None)
        if writer is not None:
            flush = budget.allowance(keep=KEEP_AFTER_FLUSH)
            # The batch in flight is finished even past the flush's time; give it room.
            await budget.step("flush the writer", writer.close(timeout=flush), cap=flush + HANDLERS_CAP)
        await budget.step("close HTTP and LLM clients", self._close_clients(), cap=CLIENT_CAP)
        db = getattr(self, "db", None)
        if db is not None:
            await budget.step("close the database", db.close(), cap=DATABASE_CAP)
        if getattr(self, "_froze_heap", False):
            self._froze_heap = False
            gc.unfreeze()
        if budget.cut_short:
            log.warning("shut down in %.2f s; cut short: %s", budget.elapsed(), ", ".join(budget.cut_short))
        else:
            log.info("shut down in %.2f s", budget.elapsed())

    async def _unload_extensions(self) -> None:
        """Unload every extension (cogs stop their loops and tasks), all at once, then stray cogs."""

        async def unload(name: str) -> None:
            try:
                await self.unload_extension(name)
            except Exception:
                log.exception("could not unload extension %s", name)

        await asyncio.gather(*(unload(name) for name in tuple(self.extensions)))
        for name in tuple(self.cogs):
            with contextlib.suppress(Exception):
                await self.remove_cog(name)

    async def _event_handlers_done(self) -> None:
        """Wait for listener calls already running (an on_message between its read and its write)."""
        current = asyncio.current_task()
        running = [
            task
            for task in asyncio.all_tasks()
            if task is not current and not task.done() and task.get_name().startswith(EVENT_TASK_PREFIX)
        ]
        if running:
            await asyncio.wait(running)

    async def _close_clients(self) -> None:
        closing = []
        outbound = getattr(self, "outbound", None)
        if outbound is not None:
            closing.append(outbound.close())
        if self.llm is not None:
            closing.append(self.llm.aclose())
            self.llm = None
        for result in await asyncio.gather(*closing, return_exceptions=True):
            if isinstance(result, Exception):
                log.warning("a client failed to close: %r", result)

    async def process_commands(self, message: discord.Message) -> None:
        """Matinee has only application commands: "@Matinee hello" is chat, not a prefix command.

        commands.Bot needs a prefix, and with ``when_mentioned`` every mention would
        otherwise be parsed as an unknown command and logged as an error.
        """
        return

    # -- admin command group ----------------------------------------------------------

    async def add_cog(
        self,
        cog: commands.Cog,
        /,
        *,
        override: bool = False,
        guild: discord.abc.Snowflake | None = discord.utils.MISSING,
        guilds: Sequence[discord.abc.Snowflake] = discord.utils.MISSING,
    ) -> None:
        """Add ``cog`` and the ``/matinee`` subcommands it declares with ``@admin_command`` (see :mod:`bot.admin`).

        The subcommands are attached first, so a taken name fails the cog's load
        before ``cog_load`` runs, and a cog that fails to load leaves none behind.
        """
        children = admin_commands_of(cog)
        added: list[AdminChild] = []
        try:
            for child in children:
                self.add_admin_command(child, override=override)
                added.append(child)
            await super().add_cog(cog, override=override, guild=guild, guilds=guilds)
        except BaseException:
            self._remove_admin_children(added)
            raise
        self._admin_commands[cog.qualified_name] = children

    async def remove_cog(
        self,
        name: str,
        /,
        *,
        guild: discord.abc.Snowflake | None = discord.utils.MISSING,
        guilds: Sequence[discord.abc.Snowflake] = discord.utils.MISSING,
    ) -> commands.Cog | None:
        """Remove the cog and the ``/matinee`` subcommands it declared (unloading an extension, shutdown)."""
        cog = await super().remove_cog(name, guild=guild, guilds=guilds)
        if cog is not None:
            self._remove_admin_children(self._admin_commands.pop(cog.qualified_name, []))
        return cog

    def _remove_admin_children(self, children: Iterable[AdminChild]) -> None:
        for child in children:
            if self.admin_group.get_command(child.name) is child:
                self.admin_group.remove_command(child.name)

    def add_admin_command(self, command: AdminChild, *, override: bool = False) -> None:
        """Attach a subcommand (or subgroup) to ``/matinee``.

        Cogs declare theirs with ``@admin_command`` instead, which calls this; it is for
        a command that only exists at run time.
        """
        self.admin_group.add_command(command, override=override)

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
