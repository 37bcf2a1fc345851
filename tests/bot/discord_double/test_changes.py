"""The double's change feed (what the sandbox's page observes), and clicks on ephemeral messages.

A page showing the world must hear every change, including ephemeral answers the bot never
sees over the gateway; and a button on an ephemeral message (a paged list, a confirmation)
must work like on Discord, where the click's UPDATE_MESSAGE edits that private message.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import discord
import pytest_asyncio
from discord import app_commands
from discord.ext import commands

from bot.discord_double import INTERACTION_CHANGED, Change, DiscordDouble


def make_bot() -> commands.Bot:
    intents = discord.Intents.none()
    intents.guilds = intents.guild_messages = intents.message_content = True
    intents.guild_reactions = intents.guild_polls = True
    return commands.Bot(command_prefix="!", intents=intents, guild_ready_timeout=0.05)


class Pager(discord.ui.View):
    def __init__(self) -> None:
        super().__init__(timeout=60)
        self.page = 1

    @discord.ui.button(label="Next", custom_id="pager:next")
    async def next(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        self.page += 1
        await interaction.response.edit_message(content=f"page {self.page}", view=self)


@pytest_asyncio.fixture
async def running() -> AsyncIterator[tuple[DiscordDouble, commands.Bot, dict[str, int]]]:
    async with DiscordDouble() as double:
        guild = double.add_guild("Changes")
        gid = int(guild["id"])
        channel = await double.add_text_channel(gid, "general")
        member = await double.add_member(gid, name="rosa")
        ids = {"guild": gid, "channel": int(channel["id"]), "member": int(member["user"]["id"])}
        with double.patched_endpoints():
            bot = make_bot()

            @app_commands.command(name="pages", description="A private paged list")
            async def pages(interaction: discord.Interaction) -> None:
                await interaction.response.send_message("page 1", view=Pager(), ephemeral=True)

            bot.tree.add_command(pages, guild=discord.Object(gid))
            task = await double.start_bot(bot)
            await bot.tree.sync(guild=discord.Object(gid))
            try:
                yield double, bot, ids
            finally:
                await bot.close()
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.wait_for(task, 5)


async def test_observers_hear_every_dispatch_in_order_and_can_stop(running) -> None:
    double, _bot, ids = running
    seen: list[Change] = []
    stop = double.subscribe(seen.append)
    first = await double.post_message(ids["channel"], ids["member"], "one")
    await double.add_reaction(ids["channel"], int(first["id"]), ids["member"], "🍍")
    await double.edit_message(ids["channel"], int(first["id"]), "one, edited")
    await double.delete_message(ids["channel"], int(first["id"]))
    events = [c.event for c in seen]
    assert events == ["MESSAGE_CREATE", "MESSAGE_REACTION_ADD", "MESSAGE_UPDATE", "MESSAGE_DELETE"]
    assert seen[0].data["content"] == "one"  # unredacted, whatever the bot's intents
    stop()
    await double.post_message(ids["channel"], ids["member"], "two")
    assert len(seen) == 4


async def test_a_failing_observer_is_logged_and_does_not_break_the_world(running, caplog) -> None:
    double, bot, ids = running
    heard: list[str] = []

    def broken(change: Change) -> None:
        raise RuntimeError("observer bug")

    double.subscribe(broken)
    double.subscribe(lambda change: heard.append(change.event))
    received = asyncio.create_task(bot.wait_for("message", timeout=5))
    await double.post_message(ids["channel"], ids["member"], "still delivered")
    assert (await received).content == "still delivered"
    assert heard == ["MESSAGE_CREATE"]
    assert "observer bug" in caplog.text


async def test_ephemeral_answers_reach_observers_and_their_buttons_update_them(running) -> None:
    double, _bot, ids = running
    changes: list[Change] = []
    double.subscribe(changes.append)
    record = await double.invoke_command(ids["guild"], ids["channel"], ids["member"], "pages")
    message = await record.wait_final_message()
    assert message["flags"] & 64 and message["content"] == "page 1"
    assert double.messages_in(ids["channel"]) == []  # never stored in the channel
    answered = [c for c in changes if c.event == INTERACTION_CHANGED]
    assert answered and answered[-1].interaction is record and record.user_id == ids["member"]

    # The ephemeral message is found by id, and clicking its button edits it in place.
    assert double.find_message(int(message["id"]))["content"] == "page 1"
    click = await double.click_component(int(message["id"]), "pager:next", ids["member"])
    assert (await click.wait_response())["type"] == 7
    assert double.find_message(int(message["id"]))["content"] == "page 2"
    assert click.original is record.original  # the same private message, on both records
    assert [m["content"] for m in click.messages()] == ["page 2"]
    assert any(c.interaction is click for c in changes if c.event == INTERACTION_CHANGED)


async def test_member_permissions_and_dm_channel_are_public(running) -> None:
    double, _bot, ids = running
    owner = int(double.guilds[ids["guild"]]["owner_id"])
    assert double.member_permissions(ids["guild"], owner) & (1 << 3)  # the owner has everything
    assert not double.member_permissions(ids["guild"], ids["member"]) & (1 << 13)  # no Manage Messages
    dm = double.dm_channel(ids["member"])
    assert double.dm_channel(ids["member"]) is dm and dm["type"] == 1
