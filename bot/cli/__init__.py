"""The ``matinee`` command line.

Each subcommand lives in its own module in this package and exposes
``register(subparsers)``; modules are discovered, so a feature adds a subcommand
without editing a central list.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

from .. import __version__
from ..storage import StorageError
from ._common import fail

__all__ = ["build_parser", "main"]

EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="matinee",
        description="Matinee: announce film reviews, host their discussions, look films up.",
    )
    parser.add_argument("--version", action="version", version=f"matinee {__version__}")
    parser.add_argument(
        "--env-file",
        default=None,
        help="settings file to read (default: $MATINEE_ENV_FILE, else .env in the current directory)",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    if args.command is None:  # `matinee` alone runs the bot
        args = parser.parse_args(["run"], namespace=argparse.Namespace(env_file=args.env_file))
    try:
        return int(args.handler(args) or 0)
    except StorageError as exc:
        # An unusable database (from a newer Matinee, unreadable, in use) is the operator's to fix:
        # one line and exit code 2 from every subcommand, never a traceback.
        return fail(str(exc))
