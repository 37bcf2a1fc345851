"""``matinee restore PATH``: put a backup back in place of the database, with the bot stopped."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..storage.backup import restore_database
from ._common import load_or_exit

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "restore",
        help="replace the database with a backup (stop the bot first)",
        description=(
            "Replace the database (DATABASE_PATH) with a backup made by `matinee backup`. Refuses while "
            "a bot runs on the database, and refuses a backup that is not an intact Matinee database or "
            "comes from a newer Matinee. The replaced database is kept beside it as "
            "<name>.before-restore-<UTC time>. The bot migrates an older backup when it starts."
        ),
        epilog="example: matinee restore /var/backups/matinee/matinee-20261125T030000Z.db",
    )
    parser.add_argument("path", type=Path, help="the backup file to restore")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    settings = load_or_exit(args.env_file, require_token=False)
    result = restore_database(args.path, settings.database_path)
    print(f"restored {args.path} to {result.restored.path} (schema version {result.restored.schema_version})")
    if result.previous is not None:
        print(f"the database it replaced is kept as {result.previous}; delete it once you no longer need it")
    return 0
