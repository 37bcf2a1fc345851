"""``/matinee``: the staff command group, and ``@admin_command``, which puts a cog's method in it.

Every ``/matinee`` subcommand is declared at the method that runs it, so
``grep -rn "@admin_command"`` lists them all::

    FEED = AdminSubgroup("feed", "Review feeds this server follows")

    class Reviews(commands.Cog):
        @admin_command(name="setup", description="Choose where reviews are announced")
        async def setup_channel(self, interaction: discord.Interaction, ...) -> None: ...

        @admin_command(name="add", description="Follow a blog's RSS or Atom feed", group=FEED)
        async def feed_add(self, interaction: discord.Interaction, ...) -> None: ...  # /matinee feed add

The decorator only marks the method; discord.py's own decorators (``describe``,
``checks``, ``autocomplete``, ``choices``) go beside it as on any command.
:meth:`bot.bot.MatineeBot.add_cog` collects the marked methods of every cog it adds
(:func:`admin_commands_of`) and attaches them to the bot's one :class:`AdminGroup`;
``remove_cog`` (an unloaded extension, shutdown) takes them away again. Each
subcommand is an ``app_commands.Command`` made from the bound method, in the order
the class declares them (a subgroup stands where its first subcommand does), so
the synced payload does not depend on how the cog is written.

The group is made per bot, not per process: the test suite runs many bots in one
process, and each needs its own ``/matinee``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import discord
from discord import app_commands

__all__ = ["ADMIN_GROUP_NAME", "AdminGroup", "AdminSubgroup", "admin_command", "admin_commands_of"]

ADMIN_GROUP_NAME = "matinee"

F = TypeVar("F", bound=Callable[..., Any])
AdminChild = app_commands.Command[Any, ..., Any] | app_commands.Group

_MARK = "__matinee_admin_command__"


class AdminGroup(app_commands.Group):
    """``/matinee``: staff commands, checked twice.

    Discord hides the group from members without Manage Messages
    (``default_permissions``), but server admins can override that in their
    Integrations settings, so every invocation is checked again here. Commands
    that need more (Manage Server) add their own run-time check.
    """

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if interaction.guild is None:
            raise app_commands.NoPrivateMessage()
        if not interaction.permissions.manage_messages:
            raise app_commands.MissingPermissions(["manage_messages"])
        return True


def new_admin_group() -> AdminGroup:
    return AdminGroup(
        name=ADMIN_GROUP_NAME,
        description="Set up and run Matinee in this server",
        guild_only=True,
        default_permissions=discord.Permissions(manage_messages=True),
    )


@dataclass(frozen=True, slots=True)
class AdminSubgroup:
    """A ``/matinee <group>`` level (``feed``, ``review``) that subcommands name in ``@admin_command(group=...)``."""

    name: str
    description: str


@dataclass(frozen=True, slots=True)
class _Declared:
    name: str
    description: str
    group: AdminSubgroup | None


def admin_command(*, name: str, description: str, group: AdminSubgroup | None = None) -> Callable[[F], F]:
    """Declare a cog method as ``/matinee <name>`` (or ``/matinee <group> <name>``)."""

    def mark(func: F) -> F:
        if not inspect.iscoroutinefunction(func):
            raise TypeError(f"@admin_command goes on a coroutine method, not {func!r}")
        setattr(func, _MARK, _Declared(name, description, group))
        return func

    return mark


def admin_commands_of(cog: object) -> list[AdminChild]:
    """The ``/matinee`` children that ``cog``'s class declares, built for this instance, in declaration order."""
    declared: dict[str, _Declared] = {}
    for klass in reversed(type(cog).__mro__):  # a subclass's method replaces its base's, as in discord.py
        for attr, value in vars(klass).items():
            spec = getattr(value, _MARK, None)
            declared.pop(attr, None)
            if isinstance(spec, _Declared):
                declared[attr] = spec
    children: list[AdminChild] = []
    groups: dict[AdminSubgroup, app_commands.Group] = {}
    for attr, spec in declared.items():
        command = app_commands.Command(name=spec.name, description=spec.description, callback=getattr(cog, attr))
        if spec.group is None:
            children.append(command)
            continue
        group = groups.get(spec.group)
        if group is None:
            group = groups[spec.group] = app_commands.Group(name=spec.group.name, description=spec.group.description)
            children.append(group)
        group.add_command(command)
    return children
