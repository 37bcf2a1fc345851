"""Every extension in cogs/ loads, and no two commands share a name."""

from __future__ import annotations

import importlib
from collections import Counter
from pathlib import Path

import pytest
from discord import app_commands

from bot.admin import admin_commands_of
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


def shape(child: app_commands.Command | app_commands.Group) -> tuple:
    """What a /matinee child is, independent of where it is attached: name, description, options or subcommands."""
    if isinstance(child, app_commands.Group):
        return (child.name, child.description, tuple(shape(c) for c in child.commands))
    return (child.name, child.description, tuple((p.name, p.description) for p in child.parameters))


async def test_every_matinee_subcommand_is_declared_with_admin_command(tmp_path: Path) -> None:
    """``grep -rn "@admin_command"`` lists every /matinee subcommand: none is attached by hand."""
    settings = Settings(discord_token=Secret("x"), database_path=tmp_path / "c.db", reviews_dir=tmp_path)
    bot = MatineeBot(settings, sync="never")
    try:
        await bot.setup_hook()
        declared = [shape(child) for cog in bot.cogs.values() for child in admin_commands_of(cog)]
        attached = [shape(child) for child in bot.admin_group.commands]
        assert sorted(attached) == sorted(declared)
        assert {"about", "persona", "export", "archive-after", "setup", "feed", "review"} <= {c[0] for c in attached}
    finally:
        await bot.close()


async def test_unloading_an_extension_removes_its_matinee_subcommands_and_reloading_restores_them(
    tmp_path: Path,
) -> None:
    settings = Settings(discord_token=Secret("x"), database_path=tmp_path / "c.db", reviews_dir=tmp_path)
    bot = MatineeBot(settings, sync="never")
    try:
        await bot.setup_hook()
        before = sorted(shape(c) for c in bot.admin_group.commands)
        await bot.unload_extension("cogs.reviews")
        names = {c.name for c in bot.admin_group.commands}
        assert not names & {"setup", "feed", "review"}
        assert "about" in names
        await bot.load_extension("cogs.reviews")
        assert sorted(shape(c) for c in bot.admin_group.commands) == before
    finally:
        await bot.close()
