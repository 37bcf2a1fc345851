"""The double's channel webhooks, driven by the real discord.py client: what the blog-comment bridge relies on."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import discord
import pytest
import pytest_asyncio

from bot.discord_double import DiscordDouble
from tests.bot.discord_double.test_discord_double import Running, World, make_bot

pytestmark = pytest.mark.asyncio


@pytest_asyncio.fixture
async def running() -> AsyncIterator[Running]:
    async with DiscordDouble() as double:
        guild = double.add_guild("Matinee Test")
        gid = int(guild["id"])
        channel = await double.add_text_channel(gid, "general")
        forum = await double.add_forum_channel(gid, "screenings", tags=["drama"])
        member = await double.add_member(gid, name="alice")
        world = World(double, gid, int(channel["id"]), int(forum["id"]), int(member["user"]["id"]),
                      forum["available_tags"][0]["id"])  # fmt: skip
        with double.patched_endpoints():
            bot = make_bot()
            task = await double.start_bot(bot)
            try:
                yield Running(world, bot)
            finally:
                await bot.close()
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.wait_for(task, 5)


async def test_a_webhook_posts_into_a_thread_of_its_channel_and_manages_only_its_own_messages(running: Running) -> None:
    bot, double, w = running.bot, running.double, running.world
    channel = bot.get_channel(w.channel_id)
    assert isinstance(channel, discord.TextChannel)
    starter = await channel.send("the review")
    thread = await starter.create_thread(name="What did you think?")
    hook = await channel.create_webhook(name="Matinee blog comments")
    assert [h.id for h in await channel.webhooks()] == [hook.id] and hook.token
    seen = asyncio.create_task(bot.wait_for("message", check=lambda m: m.webhook_id == hook.id, timeout=5))

    sent = await hook.send("hello @everyone", username="Ana (blog)", avatar_url="https://cdn.example/a.png",
                           thread=discord.Object(thread.id), wait=True,
                           allowed_mentions=discord.AllowedMentions.none())  # fmt: skip
    assert sent.channel.id == thread.id and sent.webhook_id == hook.id and sent.author.name == "Ana (blog)"
    event = await seen
    assert event.author.bot is False  # a webhook's author has no bot flag: tell it by webhook_id
    stored = double.get_message(thread.id, sent.id)
    assert stored["webhook_id"] == str(hook.id) and stored["mention_everyone"] is False
    request = double.find_requests("POST", rf"^/webhooks/{hook.id}/")[-1]
    assert request.query["thread_id"] == str(thread.id) and request.query["wait"] in ("1", "true")

    await hook.edit_message(sent.id, content="hello again", thread=discord.Object(thread.id))
    assert double.get_message(thread.id, sent.id)["content"] == "hello again"
    mine = await thread.send("the bot's own")
    with pytest.raises(discord.NotFound):  # a webhook manages only its own messages
        await hook.delete_message(mine.id, thread=discord.Object(thread.id))
    await hook.delete_message(sent.id, thread=discord.Object(thread.id))
    assert [m["id"] for m in double.messages_in(thread.id)] == [str(mine.id)]

    double.delete_webhook(hook.id)  # staff delete it: it answers Unknown Webhook from now on
    with pytest.raises(discord.NotFound) as gone:
        await hook.send("anyone?", thread=discord.Object(thread.id), wait=True)
    assert gone.value.code == 10015


async def test_managing_webhooks_needs_the_permission_and_names_are_checked(running: Running) -> None:
    bot, double, w = running.bot, running.double, running.world
    denied = discord.Permissions(manage_webhooks=True).value
    locked = await double.add_text_channel(w.guild_id, "locked", permission_overwrites=[
        {"id": str(double.bot_user_id), "type": 1, "allow": "0", "deny": str(denied)}])  # fmt: skip
    channel = await double.wait_until(lambda: bot.get_channel(int(locked["id"])))
    assert isinstance(channel, discord.TextChannel) and not channel.permissions_for(channel.guild.me).manage_webhooks
    with pytest.raises(discord.Forbidden):
        await channel.webhooks()
    with pytest.raises(discord.Forbidden):
        await channel.create_webhook(name="Matinee blog comments")
    general = bot.get_channel(w.channel_id)
    with pytest.raises(discord.HTTPException) as refused:
        await general.create_webhook(name="My Discord hook")
    assert refused.value.status == 400
    hook = await general.create_webhook(name="ok")
    with pytest.raises(discord.HTTPException):
        await hook.send("x", username="Clyde (blog)", wait=True)
    forum = bot.get_channel(w.forum_id)
    forum_hook = await forum.create_webhook(name="forum")
    with pytest.raises(discord.HTTPException) as no_thread:
        await forum_hook.send("x", wait=True)  # a forum's webhook must name a thread
    assert no_thread.value.status == 400
    assert double.unhandled == []
