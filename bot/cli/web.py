"""``matinee web``: the read API and widget without the bot, as a read-only process.

Any number of these can serve one database file next to a running bot (WAL lets
readers share it), so a busy blog scales its read side out without touching the
bot. Each tails the same change log the bot's own server tails, so live updates
reach every process the same way. ``--workers N`` runs N of them on one port
(:mod:`bot.web.workers`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import socket
import sys
from pathlib import Path

from ..settings import Settings
from ..storage import Database, StorageError, load_migrations
from ..web.app import WebServer
from ..web.security import WebConfig
from ..web.workers import FATAL, MAX_WORKERS, Supervisor, bind_sockets
from ._common import fail, load_or_exit

__all__ = ["register", "serve"]

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "web",
        help="serve the read API and comments widget without the bot (read-only; run as many as you like)",
        description="Serve /v1/comments, /v1/counts, /v1/events, /embed.js and /healthz from the database, "
        "without connecting to Discord.",
        epilog="Examples:\n  matinee web --port 8781\n  matinee web --port 8781 --workers 4   # one process per core",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", help="address to listen on (default: WEB_HOST)")
    parser.add_argument("--port", type=int, help="port to listen on (default: WEB_PORT; 0 picks a free one)")
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help=f"processes serving the one port, for more than one core (default 1, at most {MAX_WORKERS})",
    )
    parser.set_defaults(handler=handle)


async def open_read_only(path: Path) -> Database:
    """The bot's database, checked to be at exactly this Matinee's schema version (never migrated here)."""
    if not Path(path).is_file():
        raise StorageError(f"no database at {path}: start `matinee run` once to create it (or set DATABASE_PATH)")
    db = await Database.open(path)
    latest = load_migrations()[-1].version
    current = await db.user_version()
    if current != latest:
        await db.close()
        relation = "older" if current < latest else "newer"
        advice = "start `matinee run` once to upgrade it" if current < latest else "upgrade this Matinee"
        raise StorageError(
            f"the database is at schema version {current}, {relation} than this Matinee ({latest}); {advice}"
        )
    return db


def _config(settings: Settings, host: str | None, port: int | None) -> WebConfig:
    overrides: dict[str, object] = {}
    if host is not None:
        overrides["host"] = host
    if port is not None:
        overrides["port"] = port
    elif not settings.web_enabled:
        overrides["port"] = 8780  # WEB_PORT=0 turns off the bot's server, not this one
    return WebConfig.from_settings(settings, **overrides)


async def serve(
    settings: Settings,
    *,
    host: str | None = None,
    port: int | None = None,
    sock: socket.socket | None = None,
    announce: bool = True,
) -> None:
    """Serve until SIGTERM or SIGINT; on ``sock`` (bound already) when a supervisor gives one."""
    db = await open_read_only(settings.database_path)
    try:
        server = WebServer(db, _config(settings, host, port), role="standalone")
    except BaseException:
        await db.close()
        raise
    try:
        await server.start(sock)
        if announce:
            public = settings.public_address
            print(f"matinee web: serving {server.url} (read-only; public address {public})", file=sys.stderr)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        log.info("shutting down the web server")
    finally:
        await server.close()
        await db.close()


def _run(
    settings: Settings,
    *,
    host: str | None = None,
    port: int | None = None,
    sock: socket.socket | None = None,
    announce: bool = True,
) -> int:
    """One server in this process: 0 when it stopped as asked, :data:`FATAL` with one clear line otherwise."""
    try:
        asyncio.run(serve(settings, host=host, port=port, sock=sock, announce=announce))
    except StorageError as exc:
        return fail(str(exc), FATAL)
    except OSError as exc:
        return fail(f"cannot listen on the web address: {exc.strerror or exc}", FATAL)
    return 0


async def _check_database(settings: Settings) -> None:
    await (await open_read_only(settings.database_path)).close()


def _supervise(settings: Settings, host: str | None, port: int | None, workers: int) -> int:
    """``workers`` processes on one port: checked and bound here, then forked and watched."""
    try:
        asyncio.run(_check_database(settings))  # one clear message, before any worker starts
    except StorageError as exc:
        return fail(str(exc))
    config = _config(settings, host, port)
    try:
        sockets = bind_sockets(config.host, config.port, workers)
    except OSError as exc:
        return fail(f"cannot listen on the web address: {exc.strerror or exc}")
    bound = sockets[0].getsockname()
    shown = f"[{bound[0]}]" if ":" in bound[0] else bound[0]
    print(
        f"matinee web: serving http://{shown}:{bound[1]} with {workers} workers "
        f"(read-only; public address {settings.public_address})",
        file=sys.stderr,
    )
    return Supervisor(sockets, lambda sock: _run(settings, sock=sock, announce=False)).run()


def handle(args: argparse.Namespace) -> int:
    settings = load_or_exit(args.env_file, require_token=False)
    if args.port is not None and not 0 <= args.port <= 65535:
        return fail("--port must be from 0 to 65535")
    if not 1 <= args.workers <= MAX_WORKERS:
        return fail(f"--workers must be from 1 to {MAX_WORKERS}")
    if args.workers > 1:
        return _supervise(settings, args.host, args.port, args.workers)
    return _run(settings, host=args.host, port=args.port)
