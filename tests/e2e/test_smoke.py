"""The foundation end to end: connect, ready, sync, answer /matinee about, shut down cleanly."""

from __future__ import annotations

import gc
import logging
import sys

import pytest

from bot.discord_double import DiscordDouble

pytestmark = pytest.mark.e2e

EPHEMERAL = 1 << 6


def command_puts(double: DiscordDouble):
    return double.find_requests("PUT", r"/applications/\d+/commands$")


async def test_bot_connects_syncs_answers_about_and_closes_cleanly(
    double: DiscordDouble, world, run_bot, caplog: pytest.LogCaptureFixture
) -> None:
    bot = await run_bot()
    assert bot.is_ready()
    assert bot.get_guild(world.guild_id) is not None
    assert bot.failed_extensions == {}

    # Commands were synced once, globally, and /matinee carries its default permissions.
    puts = command_puts(double)
    assert len(puts) == 1
    matinee = next(c for c in puts[0].json if c["name"] == "matinee")
    assert "about" in {o["name"] for o in matinee["options"]}
    assert matinee["default_member_permissions"] is not None
    assert matinee["contexts"] == [0] or matinee.get("dm_permission") is False

    record = await double.invoke_command(world.guild_id, world.text_channel_id, world.admin_id, "matinee about")
    response = await record.wait_response()
    assert response["type"] == 4
    data = response["data"]
    assert data["flags"] & EPHEMERAL
    fields = {f["name"]: f["value"] for f in data["embeds"][0]["fields"]}
    assert fields["Version"] == "0.1.0"
    assert fields["LLM chat"] == "off"
    assert "Database" in fields and "Uptime" in fields
    assert data["allowed_mentions"] == {"parse": []}

    await run_bot.stop(bot)
    gc.collect()
    unclosed = [r for r in caplog.records if "Unclosed" in r.getMessage() or "unclosed" in r.getMessage()]
    assert unclosed == []
    assert bot.db._closed and bot.outbound.closed


async def test_restart_does_not_resync_an_unchanged_tree(double: DiscordDouble, world, run_bot) -> None:
    bot = await run_bot()
    await run_bot.stop(bot)
    bot = await run_bot()
    assert len(command_puts(double)) == 1
    await run_bot.stop(bot)


async def test_dev_guild_gets_an_instant_guild_sync(double: DiscordDouble, world, run_bot) -> None:
    bot = await run_bot(dev_guild_id=world.guild_id)
    guild_puts = double.find_requests("PUT", rf"/applications/\d+/guilds/{world.guild_id}/commands$")
    assert len(guild_puts) == 1
    assert "matinee" in {c["name"] for c in guild_puts[0].json}
    assert command_puts(double) == []
    await run_bot.stop(bot)


async def test_unexpected_error_gets_a_code_and_is_logged(
    double: DiscordDouble, world, run_bot, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    bot = await run_bot()

    async def broken(*args, **kwargs):
        raise RuntimeError("database on fire")

    # Extensions are loaded by discord.py, which keeps them in sys.modules only.
    monkeypatch.setattr(sys.modules["cogs.about"], "gather_about", broken)
    record = await double.invoke_command(world.guild_id, world.text_channel_id, world.admin_id, "matinee about")
    response = await record.wait_response()
    content = response["data"]["content"]
    assert content.startswith("Something went wrong (code `")
    code = content.split("`")[1]
    assert response["data"]["flags"] & EPHEMERAL
    logged = [r for r in caplog.records if r.levelno == logging.ERROR and code in r.getMessage()]
    assert logged and logged[0].exc_info is not None
    await run_bot.stop(bot)


async def test_member_without_permission_is_refused_at_run_time(double: DiscordDouble, world, run_bot) -> None:
    bot = await run_bot()
    record = await double.invoke_command(world.guild_id, world.text_channel_id, world.member_id, "matinee about")
    response = await record.wait_response()
    assert response["data"]["flags"] & EPHEMERAL
    assert "Manage Messages" in response["data"]["content"]
    await run_bot.stop(bot)


async def test_a_mention_is_not_treated_as_an_unknown_prefix_command(
    double: DiscordDouble, world, run_bot, caplog: pytest.LogCaptureFixture
) -> None:
    bot = await run_bot()
    await double.post_message(world.text_channel_id, world.member_id, f"<@{double.bot_user_id}> hello there")
    # The chat host (with no model configured) points the member at /film and /reviews.
    await double.wait_for_request("POST", rf"/channels/{world.text_channel_id}/messages$")
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []
    await run_bot.stop(bot)
