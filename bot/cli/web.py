"""``matinee web``: the read API and widget without the bot, as a read-only process.

Any number of these can serve one database file next to a running bot (WAL lets
readers share it), so a busy blog scales its read side out without touching the
bot. Each tails the same change log the bot's own server tails, so live updates
reach every process the same way.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path

from ..settings import Settings
from ..storage import Database, StorageError, load_migrations
from ..web.app import WebServer
from ..web.security import WebConfig
from ._common import fail, load_or_exit

__all__ = ["register", "serve"]

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "web",
        help="serve the read API and comments widget without the bot (read-only; run as many as you like)",
        description="Serve /v1/comments, /v1/counts, /v1/events, /embed.js and /healthz from the database, "
        "without connecting to Discord.",
        epilog="Example:\n  matinee web --port 8781",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", help="address to listen on (default: WEB_HOST)")
    parser.add_argument("--port", type=int, help="port to listen on (default: WEB_PORT; 0 picks a free one)")
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


async def serve(settings: Settings, *, host: str | None = None, port: int | None = None) -> None:
    overrides: dict[str, object] = {}
    if host is not None:
        overrides["host"] = host
    if port is not None:
        overrides["port"] = port
    elif not settings.web_enabled:
        overrides["port"] = 8780  # WEB_PORT=0 turns off the bot's server, not this one
    db = await open_read_only(settings.database_path)
    try:
        server = WebServer(db, WebConfig.from_settings(settings, **overrides), role="standalone")
    except BaseException:
        await db.close()
        raise
    try:
        await server.start()
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


def handle(args: argparse.Namespace) -> int:
    settings = load_or_exit(args.env_file, require_token=False)
    if args.port is not None and not 0 <= args.port <= 65535:
        return fail("--port must be from 0 to 65535")
    try:
        asyncio.run(serve(settings, host=args.host, port=args.port))
    except StorageError as exc:
        return fail(str(exc))
    except OSError as exc:
        return fail(f"cannot listen on the web address: {exc.strerror or exc}")
    return 0
