"""Every extension in cogs/ loads, and no two commands share a name."""

from __future__ import annotations

import importlib
from collections import Counter
from pathlib import Path

import pytest
from discord import app_commands

from bot.bot import MatineeBot, discover_extensions
from bot.settings import Secret, Settings


def test_every_cog_module_imports_and_has_setup() -> None:
    names = discover_extensions()
    assert "cogs.about" in names
    for name in names:
        module = importlib.import_module(name)
        assert callable(getattr(module, "setup", None)), f"{name} has no setup()"


def walk(commands):
    for command in commands:
        yield command
        if isinstance(command, app_commands.Group):
            yield from walk(command.commands)


async def test_all_extensions_load_without_duplicate_command_names(tmp_path: Path) -> None:
    settings = Settings(discord_token=Secret("x"), database_path=tmp_path / "c.db", reviews_dir=tmp_path, web_port=0)
    bot = MatineeBot(settings, sync="never")
    try:
        await bot.setup_hook()
        assert bot.failed_extensions == {}, bot.failed_extensions
        assert set(bot.extensions) == set(discover_extensions())
        names = Counter(c.qualified_name for c in walk(bot.tree.get_commands()))
        duplicates = [name for name, count in names.items() if count > 1]
        assert duplicates == []
        assert "matinee about" in names
    finally:
        await bot.close()


async def test_a_second_command_with_a_taken_name_is_refused(tmp_path: Path) -> None:
    settings = Settings(discord_token=Secret("x"), database_path=tmp_path / "c.db", reviews_dir=tmp_path, web_port=0)
    bot = MatineeBot(settings, sync="never")
    try:
        await bot.setup_hook()

        async def clash(interaction) -> None:  # pragma: no cover - never invoked
            pass

        with pytest.raises(app_commands.CommandAlreadyRegistered):
            bot.add_admin_command(app_commands.Command(name="about", description="again", callback=clash))
    finally:
        await bot.close()


async def test_a_broken_cog_is_logged_and_the_rest_still_load(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings = Settings(discord_token=Secret("x"), database_path=tmp_path / "c.db", reviews_dir=tmp_path, web_port=0)
    bot = MatineeBot(settings, sync="never", extensions=["tests.cogs.broken_extension", "cogs.about"])
    try:
        await bot.setup_hook()
        assert list(bot.failed_extensions) == ["tests.cogs.broken_extension"]
        assert "cogs.about" in bot.extensions
        assert any("broken_extension" in r.getMessage() and r.exc_info for r in caplog.records)
    finally:
        await bot.close()
