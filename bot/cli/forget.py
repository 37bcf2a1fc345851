"""``matinee forget <user_id>``: erase everything stored about a member, in every server and in DMs."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from ..privacy import ForgetReport, cli_summary, member_data_registry
from ..storage import Database, StorageError
from ..storage.writer import BatchedWriter
from ._common import fail, load_or_exit

__all__ = ["register", "run_forget"]


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "forget", help="erase a member's comments, poll votes, ratings, watchlist and chat (all servers)"
    )
    parser.add_argument("user_id", help="the member's Discord user id")
    parser.set_defaults(handler=handle)


async def run_forget(database_path: Path, user_id: int) -> ForgetReport:
    db = await Database.open(database_path)
    writer = BatchedWriter(db)
    try:
        await db.migrate()
        writer.start()
        return await member_data_registry(db, writer).forget(user_id, None)
    finally:
        await writer.close()
        await db.close()


def handle(args: argparse.Namespace) -> int:
    settings = load_or_exit(args.env_file, require_token=False)
    if not args.user_id.isdigit():
        return fail("user_id must be a Discord user id (digits only)")
    if not Path(settings.database_path).is_file():
        return fail(f"no database at {settings.database_path}", 1)
    try:
        report = asyncio.run(run_forget(settings.database_path, int(args.user_id)))
    except StorageError as exc:
        return fail(str(exc))
    print(cli_summary(report))
    return 0
