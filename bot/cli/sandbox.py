"""``matinee sandbox``: try Matinee without Discord, in the browser, with the same unmodified bot.

It runs a loopback Discord, a "Film Club" server with a sample blog, and the bot, all in this
process, and prints one line with the address of the page. Ctrl-C (or SIGTERM) stops
everything and deletes the temporary database. ``make run`` starts it when no
``DISCORD_TOKEN`` is configured (see :mod:`bot.cli.start`); ``matinee run`` never does.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import logging
import signal
import socket
import sys
import webbrowser
from pathlib import Path

from ..settings import Settings
from ..storage import StorageError
from ._common import fail, load_or_exit

__all__ = ["DEFAULT_PORT", "add_sandbox_arguments", "register", "run_sandbox"]

log = logging.getLogger(__name__)

DEFAULT_PORT = 8790
QUIET_LOG_LEVEL = "WARNING"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "sandbox",
        help="try Matinee without Discord: a local sandbox in the browser",
        description="Run a local stand-in for Discord with a sample server and blog, and the real bot connected "
        "to it; open the printed address in a browser. Nothing leaves this computer (unless OPENAI_* is set, "
        "in which case chat answers come from that model).",
        epilog="Examples:\n  matinee sandbox --open\n  matinee sandbox --port 8800 --database sandbox.db",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_sandbox_arguments(parser)
    parser.set_defaults(handler=handle)


def add_sandbox_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=None,
                        help=f"port of the page on 127.0.0.1 (default {DEFAULT_PORT}, or a free one if it is taken)")
    parser.add_argument("--open", action="store_true", help="open the page in the default browser")
    parser.add_argument("--database", type=Path, default=None,
                        help="keep the sandbox's database in this file (default: a temporary one, deleted on exit)")
    parser.add_argument("--new-review-after", type=float, default=60.0, metavar="SECONDS",
                        help="when the sample blog publishes its new review (default 60)")
    parser.add_argument("--verbose", action="store_true",
                        help="show the bot's log (LOG_LEVEL) instead of warnings only")


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def handle(args: argparse.Namespace) -> int:
    settings = load_or_exit(args.env_file, require_token=False, log_level=None if args.verbose else QUIET_LOG_LEVEL)
    return run_sandbox(settings, args, reason="")


def run_sandbox(settings: Settings, args: argparse.Namespace, *, reason: str) -> int:
    """Run until Ctrl-C or SIGTERM; ``reason`` starts the line that gives the address."""
    from ..sandbox import SandboxOptions

    if args.port is not None and not 0 <= args.port <= 65535:
        return fail("--port must be between 0 and 65535")
    port = args.port if args.port is not None else (DEFAULT_PORT if _port_free(DEFAULT_PORT) else 0)
    options = SandboxOptions(port=port, database=args.database, publish_after=max(0.0, args.new_review_after))
    try:
        return asyncio.run(_serve(settings, options, open_browser=args.open, reason=reason, verbose=args.verbose))
    except KeyboardInterrupt:  # Ctrl-C before the event loop took over the signal
        return 0
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            return fail(f"port {port} is in use; pick another with --port")
        raise


def _quiet() -> None:
    """Mute the log for the shutdown: the whole world is being thrown away.

    Work the bot had in flight (an announcement, a reply) fails as its clients close, and those
    errors would be noise on a terminal that asked to stop. ``--verbose`` keeps them.
    """
    for handler in logging.getLogger().handlers:
        handler.setLevel(logging.CRITICAL + 1)


async def _serve(settings: Settings, options, *, open_browser: bool, reason: str, verbose: bool) -> int:
    from ..sandbox import Sandbox
    from ..sandbox.world import SandboxSetupError

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # non-Unix event loops
            loop.add_signal_handler(sig, stop.set)
    sandbox = Sandbox(settings, options)
    starting = asyncio.create_task(sandbox.start())
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
    if not starting.done():  # stopped while starting
        if not verbose:
            _quiet()
        starting.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await starting
        await sandbox.close()
        return 0
    try:
        url = starting.result()
    except (SandboxSetupError, StorageError, TimeoutError) as exc:
        stopping.cancel()
        return fail(f"the sandbox could not start: {exc or 'the bot did not connect in time'}", 1)
    print(f"{reason}Matinee sandbox, a local stand-in for Discord with the real bot connected: open {url} "
          "(Ctrl-C stops it). Set DISCORD_TOKEN (in .env) to connect Matinee to the real Discord instead.",
          flush=True)  # fmt: skip
    if open_browser:
        webbrowser.open(url)
    ended = asyncio.create_task(sandbox.wait_closed())
    await asyncio.wait({stopping, ended}, return_when=asyncio.FIRST_COMPLETED)
    unexpected = not stopping.done()
    stopping.cancel()
    ended.cancel()
    if not unexpected and not verbose:
        _quiet()
    await sandbox.close()
    if unexpected:
        print("matinee: the bot stopped unexpectedly; the sandbox is closed", file=sys.stderr)
        return 1
    print("Sandbox stopped.", flush=True)
    return 0
