"""Which tasks a gateway event starts: the cogs' listeners, and nothing for the bot's own no-op handler."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from discord.ext import commands

from bot.bot import MatineeBot
from bot.settings import Secret, Settings


class Listens(commands.Cog):
    def __init__(self) -> None:
        self.seen: list[object] = []
        self.heard = asyncio.Event()

    @commands.Cog.listener()
    async def on_message(self, message: object) -> None:
        self.seen.append(message)
        self.heard.set()


@pytest.fixture
async def bot(tmp_path: Path):
    bot = MatineeBot(
        Settings(discord_token=Secret("x"), database_path=tmp_path / "a.db", reviews_dir=tmp_path),
        sync="never",
        extensions=[],
    )
    await bot.setup_hook()
    try:
        yield bot
    finally:
        await bot.close()


async def test_a_message_starts_a_task_for_each_cog_listener_and_none_for_the_bot(bot: MatineeBot) -> None:
    cog = Listens()
    await bot.add_cog(cog)
    started: list[str] = []

    def spy(coro, event_name, *args, **kwargs):  # type: ignore[no-untyped-def]
        # What Client._schedule_event does, on the running loop (this bot never logged in).
        started.append(coro.__qualname__)
        return asyncio.get_running_loop().create_task(bot._run_event(coro, event_name, *args, **kwargs))

    bot._schedule_event = spy  # type: ignore[method-assign]
    message = object()
    bot.dispatch("message", message)
    await asyncio.wait_for(cog.heard.wait(), timeout=10)
    assert cog.seen == [message]
    # commands.Bot's on_message would only run process_commands, and Matinee has no prefix
    # commands: the bot itself schedules nothing (one task fewer per message on the ingest path).
    assert started == ["Listens.on_message"]
    assert not hasattr(bot, "on_message")


async def test_other_events_still_reach_the_bots_own_handlers(bot: MatineeBot) -> None:
    # Hiding on_message must not hide the rest: discord.py's on_error is still the bot's.
    assert callable(bot.on_error)
    assert await bot.process_commands(object()) is None  # type: ignore[arg-type]
