"""``matinee forget <user_id>``: erase everything stored about a member, in every server and in DMs."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from ..privacy import ForgetReport, cli_summary, member_data_registry
from ..storage import Database, StorageError
from ..storage.writer import BatchedWriter
from ._common import discord_id, fail, load_or_exit

__all__ = ["register", "run_forget"]


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "forget",
        help="erase a member's comments, poll votes, ratings, watchlist and chat (all servers)",
        description=(
            "Erase everything Matinee stores about one member, in every server and in direct messages: "
            "comments, poll votes, film ratings, watchlist and chat messages, and keep them from being "
            "stored again by a backfill. Prints what each feature erased. To find the id, turn on "
            "Developer Mode in Discord (Settings → Advanced), then right-click the member → Copy User ID."
        ),
        epilog="Example:\n  matinee forget 123456789012345678",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("user_id", help="the member's Discord user id (a number of up to 19 digits)")
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
    user_id = discord_id(args.user_id)
    if user_id is None:
        return fail(
            f"{args.user_id[:40]!r} is not a Discord user id, which is a number of up to 19 digits such as "
            "123456789012345678 (in Discord: Developer Mode on, then right-click the member → Copy User ID)"
        )
    if not Path(settings.database_path).is_file():
        return fail(f"no database at {settings.database_path}", 1)
    try:
        report = asyncio.run(run_forget(settings.database_path, user_id))
    except StorageError as exc:
        return fail(str(exc))
    print(cli_summary(report))
    return 0
