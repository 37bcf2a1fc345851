"""End-to-end fixtures: the real MatineeBot against the loopback Discord double.

``run_bot`` starts the unmodified discord.py client (through MatineeBot) with a
per-test database, so a test can stop and restart the bot and see what survived.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import discord
import pytest

from bot.bot import MatineeBot
from bot.discord_double import DiscordDouble
from bot.settings import Secret, Settings
from tests.doubles.feed_server import FeedServer
from tests.doubles.openai_stub import OpenAIStub

TEST_TOKEN = "test-token"
ADMIN_PERMISSIONS = discord.Permissions(administrator=True, manage_guild=True, manage_messages=True).value
MEMBER_PERMISSIONS = discord.Permissions(
    view_channel=True, send_messages=True, send_messages_in_threads=True, read_message_history=True
).value


@pytest.fixture
async def double() -> AsyncIterator[DiscordDouble]:
    async with DiscordDouble() as running:
        yield running


@pytest.fixture
async def feeds() -> AsyncIterator[FeedServer]:
    """A loopback feed server (the reviews tests serve RSS/Atom from it)."""
    async with FeedServer() as server:
        yield server


@pytest.fixture
async def openai_stub() -> AsyncIterator[OpenAIStub]:
    async with OpenAIStub() as stub:
        yield stub


@pytest.fixture
async def world(double: DiscordDouble) -> SimpleNamespace:
    """A film-club guild: a text channel, a forum channel, an admin and a regular member."""
    guild = double.add_guild("Film Club")
    guild_id = int(guild["id"])
    text = await double.add_text_channel(guild_id, "reviews")
    forum = await double.add_forum_channel(guild_id, "review-forum", tags=["Review"])
    admin = await double.add_member(guild_id, name="Ada Admin", permissions=ADMIN_PERMISSIONS)
    member = await double.add_member(guild_id, name="Mo Member", permissions=MEMBER_PERMISSIONS)
    return SimpleNamespace(
        guild_id=guild_id,
        text_channel_id=int(text["id"]),
        forum_channel_id=int(forum["id"]),
        admin_id=int(admin["user"]["id"]),
        member_id=int(member["user"]["id"]),
        forum_tag_id=int(forum["available_tags"][0]["id"]),
    )


class BotRunner:
    """Starts and stops MatineeBot instances that share one database file."""

    def __init__(self, double: DiscordDouble, tmp_path: Path) -> None:
        self.double = double
        self.tmp_path = tmp_path
        self.database_path = tmp_path / "matinee.db"
        self.reviews_dir = tmp_path / "reviews"
        self.reviews_dir.mkdir(exist_ok=True)
        self._tasks: dict[MatineeBot, asyncio.Task[None]] = {}

    def settings(self, **overrides: Any) -> Settings:
        base = Settings(
            discord_token=Secret(TEST_TOKEN),
            discord_api_base=self.double.api_base,
            discord_gateway_url=self.double.gateway_url,
            database_path=self.database_path,
            reviews_dir=self.reviews_dir,
            log_level="DEBUG",
            # The tests' feed servers listen on loopback, which production refuses by default.
            feed_allow_private_networks=True,
            web_port=0,  # tests that want the web server pass a free port
        )
        return dataclasses.replace(base, **overrides)

    async def __call__(self, *, extensions: list[str] | None = None, **overrides: Any) -> MatineeBot:
        bot = MatineeBot(self.settings(**overrides), extensions=extensions, guild_ready_timeout=0.1)
        try:
            self._tasks[bot] = await self.double.start_bot(bot, token=TEST_TOKEN, timeout=20)
        except BaseException:
            await bot.close()
            raise
        return bot

    async def stop(self, bot: MatineeBot) -> None:
        task = self._tasks.pop(bot, None)
        await bot.close()
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, timeout=10)

    async def stop_all(self) -> None:
        for bot in list(self._tasks):
            await self.stop(bot)


@pytest.fixture
async def run_bot(double: DiscordDouble, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> AsyncIterator[BotRunner]:
    caplog.set_level(logging.INFO)
    runner = BotRunner(double, tmp_path)
    try:
        yield runner
    finally:
        await runner.stop_all()
