"""Permissions: every /matinee command is gated twice, refused in DMs; /forget-me touches only the caller.

The list of admin commands is read from what the bot actually synced, so a
command added later is covered without editing this file.
"""

from __future__ import annotations

import asyncio
import sqlite3

import discord
import pytest

from bot.discord_double import DiscordDouble
from tests.e2e._discussions import open_thread, wait_rows

pytestmark = pytest.mark.e2e

EPHEMERAL = 1 << 6
MODERATOR = discord.Permissions(view_channel=True, send_messages=True, manage_messages=True).value
# Commands a moderator (Manage Messages, not Manage Server) may use by design: the reviews brief lets
# members with Manage Messages write reviews, and `about` only shows versions and integration status.
MODERATOR_ALLOWED = {"matinee about", "matinee review post"}


def admin_leaves(double: DiscordDouble) -> list[tuple[str, list[dict]]]:
    """(qualified name, options) of every /matinee subcommand in the synced tree."""
    matinee = next(c for c in double.global_commands if c["name"] == "matinee")
    leaves = []
    for option in matinee.get("options", []):
        if option["type"] == 1:
            leaves.append((f"matinee {option['name']}", option.get("options", [])))
        elif option["type"] == 2:
            for sub in option.get("options", []):
                leaves.append((f"matinee {option['name']} {sub['name']}", sub.get("options", [])))
    return leaves


def dummy_options(options: list[dict], world) -> dict:
    values = {}
    for option in options:
        if not option.get("required"):
            continue
        if option.get("choices"):
            values[option["name"]] = option["choices"][0]["value"]
            continue
        values[option["name"]] = {
            3: "x", 4: 1, 5: True, 6: world.member_id, 7: world.text_channel_id, 8: world.guild_id, 10: 1.0,
        }.get(option["type"], "x")  # fmt: skip
    return values


def database_dump(path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return [line for line in conn.iterdump() if "command_tree_hash" not in line]
    finally:
        conn.close()


async def test_admin_group_is_hidden_by_default_permissions_and_guild_only(double, world, run_bot) -> None:
    bot = await run_bot()
    matinee = next(c for c in double.global_commands if c["name"] == "matinee")
    permissions = int(matinee["default_member_permissions"])
    assert permissions != 0 and permissions & discord.Permissions(manage_messages=True).value
    assert matinee.get("contexts") == [0] or matinee.get("dm_permission") is False
    assert len(admin_leaves(double)) >= 5, [name for name, _ in admin_leaves(double)]
    await run_bot.stop(bot)


def strip_everyone_role(double: DiscordDouble, guild_id: int) -> None:
    """The double's default @everyone role grants Manage Threads/Events; real servers don't, and the
    tests need a member whose only permissions are the ones given explicitly."""
    for role in double.roles[guild_id]:
        if str(role["id"]) == str(guild_id):
            role["permissions"] = "0"


async def settle(bot) -> None:
    """Let start-up work (first scans, backfills) finish, so the database only changes if a command does."""
    await bot.get_cog("Reviews").run_once()
    await asyncio.sleep(0.5)


async def _refusals(double, world, run_bot, user_id: int, *, guild: bool = True, skip=frozenset()) -> dict:
    strip_everyone_role(double, world.guild_id)
    bot = await run_bot()
    await settle(bot)
    before = database_dump(run_bot.database_path)
    answers = {}
    for name, options in admin_leaves(double):
        if name in skip:
            continue
        record = await double.invoke_command(world.guild_id if guild else None,
                                             world.text_channel_id if guild else None, user_id, name,
                                             dummy_options(options, world))  # fmt: skip
        answers[name] = (await record.wait_response(timeout=10))["data"]
    assert database_dump(run_bot.database_path) == before, "a refused command changed the database"
    await run_bot.stop(bot)
    return answers


async def test_every_admin_command_refuses_a_regular_member_at_run_time(double, world, run_bot) -> None:
    answers = await _refusals(double, world, run_bot, world.member_id)
    for name, data in answers.items():
        assert data["flags"] & EPHEMERAL, name
        assert data["content"].startswith("You need the **Manage"), (name, data["content"])
        assert "components" not in data or not data["components"], name


async def test_every_admin_command_but_the_moderator_ones_requires_manage_server(double, world, run_bot) -> None:
    moderator = await double.add_member(world.guild_id, name="Mod", permissions=MODERATOR)
    answers = await _refusals(double, world, run_bot, int(moderator["user"]["id"]), skip=MODERATOR_ALLOWED)
    for name, data in answers.items():
        assert data["flags"] & EPHEMERAL, name
        assert "**Manage Server**" in data["content"], (name, data["content"])


async def test_every_admin_command_is_refused_in_dms(double, world, run_bot) -> None:
    answers = await _refusals(double, world, run_bot, world.admin_id, guild=False)
    for name, data in answers.items():
        assert data["flags"] & EPHEMERAL, name
        assert data["content"] == "This command only works inside a server, not in DMs.", (name, data)


@pytest.mark.parametrize("command", ["discussion open", "discussion spoilers"])
async def test_staff_discussion_commands_refuse_regular_members(double, world, run_bot, command) -> None:
    strip_everyone_role(double, world.guild_id)
    bot = await run_bot()
    opened = await open_thread(bot, double, world)
    spec = next(c for c in double.global_commands if c["name"] == "discussion")
    sub = next(o for o in spec["options"] if o["name"] == command.split()[1])
    record = await double.invoke_command(world.guild_id, opened.thread_id, world.member_id, command,
                                         dummy_options(sub.get("options", []), world))  # fmt: skip
    response = await record.wait_response()
    assert response["type"] == 4, "the command ran (deferred) for a member without permission"
    data = response["data"]
    assert data["flags"] & EPHEMERAL and data["content"].startswith("You need the"), data
    await run_bot.stop(bot)


async def test_forget_me_is_refused_in_dms(double, world, run_bot) -> None:
    bot = await run_bot()
    record = await double.invoke_command(None, None, world.member_id, "forget-me")
    data = (await record.wait_response())["data"]
    assert data["flags"] & EPHEMERAL and "only works inside a server" in data["content"]
    await run_bot.stop(bot)


async def test_forget_me_erases_only_the_callers_data_in_this_server(double, world, run_bot) -> None:
    other_guild = double.add_guild("Other Club")
    ogid = int(other_guild["id"])
    ochannel = await double.add_text_channel(ogid, "reviews")
    await double.add_member(ogid, user_id=world.member_id, name="Mo Member")
    await double.add_member(ogid, user_id=world.admin_id, name="Ada Admin")
    await double.announce_guild(ogid)
    bot = await run_bot()
    here = await open_thread(bot, double, world)
    from types import SimpleNamespace

    there = await open_thread(bot, double, SimpleNamespace(guild_id=ogid, text_channel_id=int(ochannel["id"])),
                              slug="other", source_key="other.md")  # fmt: skip
    for tid in (here.thread_id, there.thread_id):
        await double.post_message(tid, world.member_id, "mine <@&1> @everyone")
        await double.post_message(tid, world.admin_id, "theirs")
    await wait_rows(bot, double, "SELECT 1 FROM comments", count=4)

    record = await double.invoke_command(world.guild_id, here.thread_id, world.member_id, "forget-me")
    await record.wait_response()
    confirm = next(
        c["custom_id"]
        for row in record.original["components"]
        for c in row["components"]
        if c.get("style") == 4 or "erase" in c.get("label", "").lower()
    )
    click = await double.click_component(record.original, confirm, world.member_id)
    await click.wait_response()
    rows = await bot.db.fetchall("SELECT guild_id, author_id FROM comments ORDER BY guild_id, author_id")
    remaining = {(r[0], r[1]) for r in rows}
    assert (world.guild_id, world.member_id) not in remaining
    assert remaining == {(world.guild_id, world.admin_id), (ogid, world.member_id), (ogid, world.admin_id)}
    await run_bot.stop(bot)
