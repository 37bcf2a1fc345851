"""``matinee sync``: push the application commands to Discord now, then exit."""

from __future__ import annotations

import argparse
import asyncio

import aiohttp
import discord

from ..discord_api import RESET_TOKEN_STEP, describe_network_error
from ..storage import StorageError
from ._common import fail, load_or_exit


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "sync",
        help="sync slash commands with Discord and exit",
        description=(
            "Push Matinee's slash commands to Discord now, then exit. The bot already syncs at start-up "
            "when they changed; use this after changing DEV_GUILD_ID, or when Discord shows stale commands."
        ),
        epilog="Example:\n  matinee sync",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(handler=handle)


async def sync_once(settings) -> None:
    from ..bot import MatineeBot

    bot = MatineeBot(settings, sync="force")
    async with bot:
        # login() runs setup_hook, which loads the cogs and syncs; no gateway connection is needed.
        await bot.login(settings.discord_token.reveal())


def handle(args: argparse.Namespace) -> int:
    settings = load_or_exit(args.env_file)
    try:
        asyncio.run(sync_once(settings))
    except discord.LoginFailure:
        return fail(f"Discord rejected DISCORD_TOKEN: {RESET_TOKEN_STEP}")
    except discord.HTTPException as exc:
        return fail(f"Discord refused the sync (HTTP {exc.status}); try again later, or run `matinee doctor`")
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        return fail(f"cannot reach Discord ({describe_network_error(exc)}); check the network and try again")
    except StorageError as exc:
        return fail(str(exc))
    print("matinee: application commands synced")
    return 0
