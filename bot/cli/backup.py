"""``matinee backup PATH``: a consistent copy of the live database, safe while the bot runs."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..storage.backup import backup_database
from ._common import load_or_exit

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "backup",
        help="copy the database to PATH, safely while the bot runs",
        description=(
            "Copy the database (DATABASE_PATH) with SQLite's online backup API: a consistent snapshot "
            "taken while the bot keeps running, checked with PRAGMA integrity_check, written as one "
            "self-contained file. PATH is a file, or a directory to write matinee-<UTC time>.db into."
        ),
        epilog="example: matinee backup /var/backups/matinee/",
    )
    parser.add_argument("path", type=Path, help="the backup file, or an existing directory for a dated file")
    parser.add_argument("--force", action="store_true", help="overwrite PATH if it is an existing file")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    settings = load_or_exit(args.env_file, require_token=False)
    info = backup_database(settings.database_path, args.path, force=args.force)
    size = _size(info.size_bytes)
    print(f"backed up {settings.database_path} to {info.path} (schema version {info.schema_version}, {size})")
    return 0


def _size(size: int) -> str:
    return f"{size / 1_048_576:.1f} MB" if size >= 1_048_576 else f"{size / 1024:.0f} kB"
