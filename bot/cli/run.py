"""``matinee run``: connect to Discord and serve until SIGTERM or SIGINT.

Before it connects, it migrates the database and waits for Discord: with the
network down (a server booting before its network, a Wi-Fi drop, an outage) it
asks Discord again with a capped back-off (:class:`bot.backoff.Backoff`, about
5 s growing to 5 min, with jitter), one log line per attempt, and connects when
the network returns, as a daemon should. It gives up only when Discord rejects
the token or the Message Content intent is off, which waiting cannot fix.

On the first SIGTERM or SIGINT the bot shuts down gracefully within a budget
(:mod:`bot.shutdown`): the process exits within ``SHUTDOWN_SECONDS`` of the
signal, well before Docker's SIGKILL at 10 s; a signal during the wait for
Discord ends the wait at once. Further signals are logged and otherwise ignored:
the shutdown already under way is the fastest safe exit.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import signal
from pathlib import Path

import aiohttp
import discord

from ..backoff import Backoff
from ..discord_api import (
    MESSAGE_CONTENT_STEP,
    RESET_TOKEN_STEP,
    DiscordApi,
    DiscordApiError,
    DiscordUnreachable,
    TokenRejected,
    describe_network_error,
)
from ..outbound import OutboundHttp, Purpose
from ..shutdown import ShutdownBudget, Watchdog
from ..storage import Database, StorageError
from ..storage.access import database_access_problem
from ..storage.runlock import DatabaseLock
from ._common import fail, load_or_exit

log = logging.getLogger(__name__)

PROBE_TIMEOUT = aiohttp.ClientTimeout(total=15, sock_connect=10)
# What discord.py's login raises when the network goes away between our probe and its own request.
LOGIN_NETWORK_ERRORS = (aiohttp.ClientError, OSError, TimeoutError, discord.DiscordServerError)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run the bot (the default)",
        description=(
            "Run the bot: migrate the database, wait for Discord (retrying with back-off while the network "
            "is down), connect, and serve until SIGTERM or SIGINT, which shut it down gracefully within 8 s. "
            "Exits with code 2 and one line when Discord rejects the token or the Message Content intent is off."
        ),
        epilog="Example:\n  matinee --env-file /etc/matinee/matinee.env run",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(handler=handle)


async def serve(settings, *, sync: str = "auto", backoff: Backoff | None = None) -> None:
    """Run the bot until it is closed; SIGTERM and SIGINT close it gracefully, within the budget."""
    from ..bot import MatineeBot

    loop = asyncio.get_running_loop()
    watchdog = Watchdog()
    bot: MatineeBot | None = None
    stop = asyncio.Event()  # set by the first signal, whatever start-up is doing then
    backoff = backoff or Backoff()

    def request_shutdown(sig: signal.Signals) -> None:
        if stop.is_set():
            log.info("received %s; already shutting down", sig.name)
            return
        stop.set()
        log.info("received %s; shutting down", sig.name)
        watchdog.arm()
        if bot is not None:
            bot.begin_shutdown(ShutdownBudget())  # the budget's clock starts now, at the signal
        # Before the bot exists: migrating (atomic and short) finishes, then serve returns;
        # waiting for Discord stops waiting at once.

    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # non-Unix event loops
            loop.add_signal_handler(sig, request_shutdown, sig)
    # An unusable database fails here, with one line, before anything contacts Discord.
    await prepare_database(settings.database_path)
    token = settings.discord_token.reveal()
    while True:
        if not await wait_for_discord(settings, token, stop, backoff):
            log.info("shut down in 0.00 s, before connecting to Discord")
            return
        bot = MatineeBot(settings, sync=sync)  # type: ignore[arg-type]
        lost: BaseException | None = None
        try:
            # start() returns as soon as the gateway closes, early in a shutdown; it is
            # cancelled if the signal comes during start-up.
            await bot.start(token)
        except asyncio.CancelledError:
            if not bot.shutting_down:
                raise
            asyncio.current_task().uncancel()  # type: ignore[union-attr]
        except LOGIN_NETWORK_ERRORS as exc:
            # discord.py's login does not retry a lost connection; once connected, it reconnects itself.
            if bot.shutting_down or bot.is_ready():
                raise
            lost = exc
        finally:
            # Wait for the whole shutdown (flush, clients, database) before asyncio.run
            # cancels whatever is left; this starts it if start() failed on its own.
            await bot.close()
        if lost is None or stop.is_set():
            return
        bot = None
        delay = backoff.next_delay()
        log.warning("lost Discord while logging in (%s); trying again in %.0f s", _reason(lost), delay)
        if await _stopped_within(stop, delay):
            log.info("shut down in 0.00 s, before connecting to Discord")
            return


def _reason(exc: BaseException) -> str:
    if isinstance(exc, discord.HTTPException):
        return f"Discord answered HTTP {exc.status}"
    return describe_network_error(exc)


async def _stopped_within(stop: asyncio.Event, seconds: float) -> bool:
    """Wait ``seconds``, or less if ``stop`` is set meanwhile; whether it was."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
    return stop.is_set()


async def wait_for_discord(settings, token: str, stop: asyncio.Event, backoff: Backoff) -> bool:
    """Ask Discord who the token is until it answers; False if ``stop`` was set first.

    Raises :class:`TokenRejected` for a 401: no amount of waiting fixes a wrong token.
    An answer this check does not expect (a proxy's 404, say) is logged and left to
    discord.py's own login to judge.
    """
    async with OutboundHttp(settings, timeout=PROBE_TIMEOUT) as outbound:
        api = DiscordApi(outbound.session(Purpose.DISCORD), token, api_base=settings.discord_api_base)
        attempt = 0
        while not stop.is_set():
            attempt += 1
            probe = asyncio.ensure_future(api.bot_user())
            stopped = asyncio.ensure_future(stop.wait())
            await asyncio.wait({probe, stopped}, return_when=asyncio.FIRST_COMPLETED)
            stopped.cancel()
            if not probe.done():
                probe.cancel()
                await asyncio.gather(probe, return_exceptions=True)
                return False
            try:
                probe.result()
            except DiscordUnreachable as exc:
                delay = backoff.next_delay()
                log.warning("cannot reach Discord (%s); trying again in %.0f s (attempt %d)", exc, delay, attempt)
                if await _stopped_within(stop, delay):
                    return False
                continue
            except DiscordApiError as exc:
                log.warning("unexpected answer from Discord (%s); trying to log in anyway", exc)
            if attempt > 1:
                log.info("Discord is reachable again (after %d attempts)", attempt)
            return True
    return False


async def prepare_database(path: Path) -> None:
    """Open and migrate before connecting, so an unusable database fails at once, not after login."""
    db = await Database.open(path)
    try:
        await db.migrate()
    finally:
        await db.close()


def handle(args: argparse.Namespace) -> int:
    settings = load_or_exit(args.env_file)
    # Before the lock file is made beside the database: say which of path, directory or file is wrong.
    if (problem := database_access_problem(settings.database_path)) is not None:
        return fail(problem)
    try:
        # Held until the process ends; it is how `matinee restore` knows the bot is running.
        with DatabaseLock(settings.database_path, "matinee run"):
            asyncio.run(serve(settings))
    except (discord.LoginFailure, TokenRejected):
        return fail(f"Discord rejected DISCORD_TOKEN: {RESET_TOKEN_STEP}")
    except discord.PrivilegedIntentsRequired:
        return fail(f"the Message Content intent is off for this bot: {MESSAGE_CONTENT_STEP}")
    except discord.HTTPException as exc:
        return fail(f"Discord refused the login (HTTP {exc.status}); run `matinee doctor` to see why")
    except StorageError as exc:
        return fail(str(exc))
    finally:
        # Interpreter exit runs full garbage collections over the whole heap: after a
        # burst that was ~0.8 s of CPU, and several seconds on a loaded machine, all
        # inside the SIGTERM budget. Frozen objects are skipped; the OS frees the memory.
        gc.freeze()
    return 0
