"""``matinee run``: connect to Discord and serve until SIGTERM or SIGINT.

On the first SIGTERM or SIGINT the bot shuts down gracefully within a budget
(:mod:`bot.shutdown`): the process exits within ``SHUTDOWN_SECONDS`` of the
signal, well before Docker's SIGKILL at 10 s. Further signals are logged and
otherwise ignored: the shutdown already under way is the fastest safe exit.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import signal
from pathlib import Path

import discord

from ..shutdown import ShutdownBudget, Watchdog
from ..storage import Database, StorageError
from ..storage.runlock import DatabaseLock
from ._common import fail, load_or_exit

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("run", help="run the bot (the default)")
    parser.set_defaults(handler=handle)


async def serve(settings, *, sync: str = "auto") -> None:
    """Run the bot until it is closed; SIGTERM and SIGINT close it gracefully, within the budget."""
    from ..bot import MatineeBot

    loop = asyncio.get_running_loop()
    watchdog = Watchdog()
    bot: MatineeBot | None = None
    stopped_before_start = False

    def request_shutdown(sig: signal.Signals) -> None:
        nonlocal stopped_before_start
        if stopped_before_start or (bot is not None and bot.shutting_down):
            log.info("received %s; already shutting down", sig.name)
            return
        log.info("received %s; shutting down", sig.name)
        watchdog.arm()
        if bot is None:
            stopped_before_start = True  # still migrating: let it finish (atomic, short), then stop
        else:
            bot.begin_shutdown(ShutdownBudget())  # the budget's clock starts now, at the signal

    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # non-Unix event loops
            loop.add_signal_handler(sig, request_shutdown, sig)
    # An unusable database fails here, with one line, before anything contacts Discord.
    await prepare_database(settings.database_path)
    if stopped_before_start:
        log.info("shut down in 0.00 s, before connecting to Discord")
        return
    bot = MatineeBot(settings, sync=sync)  # type: ignore[arg-type]
    try:
        # start() returns as soon as the gateway closes, early in a shutdown; it is
        # cancelled if the signal comes during start-up.
        await bot.start(settings.discord_token.reveal())
    except asyncio.CancelledError:
        if not bot.shutting_down:
            raise
        asyncio.current_task().uncancel()  # type: ignore[union-attr]
    finally:
        # Wait for the whole shutdown (flush, clients, database) before asyncio.run
        # cancels whatever is left; this starts it if start() failed on its own.
        await bot.close()


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
            asyncio.run(serve(settings))
    except discord.LoginFailure:
        return fail("Discord rejected DISCORD_TOKEN; check it in the Developer Portal (see .env.example)")
    except discord.PrivilegedIntentsRequired:
        return fail("enable the Message Content intent for the bot in the Developer Portal (see README)")
    except StorageError as exc:
        return fail(str(exc))
    finally:
        # Interpreter exit runs full garbage collections over the whole heap: after a
        # burst that was ~0.8 s of CPU, and several seconds on a loaded machine, all
        # inside the SIGTERM budget. Frozen objects are skipped; the OS frees the memory.
        gc.freeze()
    return 0
