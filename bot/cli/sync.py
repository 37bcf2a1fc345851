"""``matinee sync``: push the application commands to Discord now, then exit."""

from __future__ import annotations

import argparse
import asyncio

import discord

from ._common import fail, load_or_exit


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("sync", help="sync slash commands with Discord and exit")
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
        return fail("Discord rejected DISCORD_TOKEN; check it in the Developer Portal (see .env.example)")
    print("matinee: application commands synced")
    return 0
