"""``@admin_command``: /matinee subcommands declared at their methods, attached and removed with their cog."""

from __future__ import annotations

from pathlib import Path

import discord
import pytest
from discord import app_commands
from discord.ext import commands

from bot.admin import AdminSubgroup, admin_command, admin_commands_of
from bot.bot import MatineeBot
from bot.settings import Secret, Settings

STUFF = AdminSubgroup("stuff", "Things")


class Declares(commands.Cog):
    def __init__(self) -> None:
        self.calls: list[str] = []

    @admin_command(name="first", description="The first")
    async def first(self, interaction: discord.Interaction) -> None:
        self.calls.append("first")

    @admin_command(name="add", description="Add stuff", group=STUFF)
    @app_commands.describe(what="What to add")
    async def stuff_add(self, interaction: discord.Interaction, what: str) -> None:
        self.calls.append(f"add {what}")

    @admin_command(name="last", description="The last")
    async def last(self, interaction: discord.Interaction) -> None:
        self.calls.append("last")

    @admin_command(name="list", description="List stuff", group=STUFF)
    async def stuff_list(self, interaction: discord.Interaction) -> None:
        self.calls.append("list")

    async def not_a_command(self, interaction: discord.Interaction) -> None:
        pass


class Overrides(Declares):
    @admin_command(name="first", description="The first, overridden")
    async def first(self, interaction: discord.Interaction) -> None:
        self.calls.append("overridden")


def shape(children: list) -> list:
    return [
        (c.name, c.description, [(s.name, s.description) for s in c.commands])
        if isinstance(c, app_commands.Group)
        else (c.name, c.description)
        for c in children
    ]


def test_children_follow_the_class_with_a_subgroup_where_its_first_subcommand_stands() -> None:
    children = admin_commands_of(Declares())
    assert shape(children) == [
        ("first", "The first"),
        ("stuff", "Things", [("add", "Add stuff"), ("list", "List stuff")]),
        ("last", "The last"),
    ]
    add = children[1].get_command("add")
    assert add.get_parameter("what").description == "What to add"


async def test_each_command_is_bound_to_its_cog_instance() -> None:
    cog = Declares()
    first = admin_commands_of(cog)[0]
    assert first.binding is cog
    await first.callback(cog, None)  # type: ignore[arg-type]
    assert cog.calls == ["first"]


def test_a_subclass_replaces_its_bases_declaration() -> None:
    names = [(c.name, c.description) for c in admin_commands_of(Overrides()) if not isinstance(c, app_commands.Group)]
    assert ("first", "The first, overridden") in names
    assert ("first", "The first") not in names


def test_the_decorator_refuses_what_is_not_a_coroutine() -> None:
    with pytest.raises(TypeError):

        @admin_command(name="sync", description="Not async")
        def sync(self, interaction: discord.Interaction) -> None:  # pragma: no cover - never called
            pass


def test_a_cog_without_declarations_has_no_children() -> None:
    class Plain(commands.Cog):
        pass

    assert admin_commands_of(Plain()) == []


def _settings(tmp_path: Path) -> Settings:
    return Settings(discord_token=Secret("x"), database_path=tmp_path / "a.db", reviews_dir=tmp_path)


async def test_add_cog_attaches_them_and_remove_cog_takes_them_away(tmp_path: Path) -> None:
    bot = MatineeBot(_settings(tmp_path), sync="never", extensions=[])
    try:
        await bot.setup_hook()
        cog = Declares()
        await bot.add_cog(cog)
        assert [c.name for c in bot.admin_group.commands] == ["first", "stuff", "last"]
        assert bot.tree.get_command("first") is None  # under /matinee, not top-level
        await bot.remove_cog(cog.qualified_name)
        assert bot.admin_group.commands == []
    finally:
        await bot.close()


async def test_a_taken_name_fails_the_cog_and_leaves_nothing_behind(tmp_path: Path) -> None:
    bot = MatineeBot(_settings(tmp_path), sync="never", extensions=[])
    try:
        await bot.setup_hook()

        async def last(interaction: discord.Interaction) -> None:  # pragma: no cover - never invoked
            pass

        taken = app_commands.Command(name="last", description="Someone else's", callback=last)
        bot.add_admin_command(taken)
        with pytest.raises(app_commands.CommandAlreadyRegistered):
            await bot.add_cog(Declares())
        assert bot.admin_group.commands == [taken]
        assert bot.get_cog("Declares") is None
    finally:
        await bot.close()


async def test_a_cog_that_fails_to_load_leaves_no_subcommand(tmp_path: Path) -> None:
    class Broken(Declares):
        async def cog_load(self) -> None:
            raise RuntimeError("no")

    bot = MatineeBot(_settings(tmp_path), sync="never", extensions=[])
    try:
        await bot.setup_hook()
        with pytest.raises(RuntimeError):
            await bot.add_cog(Broken())
        assert bot.admin_group.commands == []
    finally:
        await bot.close()
