"""``matinee run``: connect to Discord and serve until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
from pathlib import Path

import discord

from ..storage import Database, StorageError
from ..storage.runlock import DatabaseLock
from ._common import fail, load_or_exit

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("run", help="run the bot (the default)")
    parser.set_defaults(handler=handle)


async def serve(settings, *, sync: str = "auto") -> None:
    """Run the bot until it is closed; SIGTERM and SIGINT close it gracefully."""
    from ..bot import MatineeBot

    bot = MatineeBot(settings, sync=sync)  # type: ignore[arg-type]
    loop = asyncio.get_running_loop()

    shutdown: set[asyncio.Task[None]] = set()

    def request_shutdown(sig: signal.Signals) -> None:
        log.info("received %s; shutting down", sig.name)
        task = loop.create_task(bot.close())
        shutdown.add(task)
        task.add_done_callback(shutdown.discard)

    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # non-Unix event loops
            loop.add_signal_handler(sig, request_shutdown, sig)
    async with bot:
        await bot.start(settings.discord_token.reveal())


async def prepare_database(path: Path) -> None:
    """Open and migrate before connecting, so an unusable database fails at once, not after login."""
    db = await Database.open(path)
    try:
        await db.migrate()
    finally:
        await db.close()


def handle(args: argparse.Namespace) -> int:
    settings = load_or_exit(args.env_file)
    try:
        # Held until the process ends; it is how `matinee restore` knows the bot is running.
        with DatabaseLock(settings.database_path, "matinee run"):
            asyncio.run(prepare_database(settings.database_path))
            asyncio.run(serve(settings))
    except discord.LoginFailure:
        return fail("Discord rejected DISCORD_TOKEN; check it in the Developer Portal (see .env.example)")
    except discord.PrivilegedIntentsRequired:
        return fail("enable the Message Content intent for the bot in the Developer Portal (see README)")
    except StorageError as exc:
        return fail(str(exc))
    return 0
