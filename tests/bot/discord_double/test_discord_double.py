"""Self-tests for the loopback Discord double, driven by the real discord.py client.

These prove the double is faithful enough for the unmodified ``commands.Bot``:
login/READY, REST payload recording, gateway dispatch, app commands,
threads, RESUME replay and 429 retry.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import discord
import pytest
import pytest_asyncio
from discord import app_commands
from discord.ext import commands

from bot.discord_double import DiscordDouble

pytestmark = pytest.mark.asyncio


@dataclass
class World:
    """The double plus the ids the tests need."""

    double: DiscordDouble
    guild_id: int
    channel_id: int
    forum_id: int
    member_id: int
    tag_id: str


@dataclass
class Running:
    world: World
    bot: commands.Bot

    @property
    def double(self) -> DiscordDouble:
        return self.world.double


def make_bot() -> commands.Bot:
    intents = discord.Intents.none()
    intents.guilds = True
    intents.guild_messages = True
    intents.message_content = True
    intents.guild_reactions = True
    intents.guild_polls = True
    # guild_ready_timeout: on_ready fires shortly after the last GUILD_CREATE instead of after 2 s.
    return commands.Bot(command_prefix="!", intents=intents, guild_ready_timeout=0.05)


@pytest_asyncio.fixture
async def world() -> AsyncIterator[World]:
    async with DiscordDouble() as double:
        guild = double.add_guild("Matinee Test")
        gid = int(guild["id"])
        channel = await double.add_text_channel(gid, "general")
        forum = await double.add_forum_channel(gid, "screenings", tags=["drama", "comedy"])
        member = await double.add_member(gid, name="alice")
        with double.patched_endpoints():
            yield World(double, gid, int(channel["id"]), int(forum["id"]), int(member["user"]["id"]),
                        forum["available_tags"][0]["id"])


@pytest_asyncio.fixture
async def running(world: World) -> AsyncIterator[Running]:
    bot = make_bot()
    task = await world.double.start_bot(bot)
    try:
        yield Running(world, bot)
    finally:
        await bot.close()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 5)


async def test_login_and_ready_populates_cache(running: Running) -> None:
    bot, double, w = running.bot, running.double, running.world
    assert bot.user is not None and bot.user.id == double.bot_user_id
    assert bot.application_id == double.application_id
    guild = bot.get_guild(w.guild_id)
    assert guild is not None and guild.name == "Matinee Test"
    assert isinstance(guild.get_channel(w.channel_id), discord.TextChannel)
    forum = guild.get_channel(w.forum_id)
    assert isinstance(forum, discord.ForumChannel)
    assert [t.name for t in forum.available_tags] == ["drama", "comedy"]
    assert guild.me is not None and guild.default_role.id == w.guild_id
    assert double.find_requests("GET", r"^/users/@me$")
    assert double.find_requests("GET", r"^/oauth2/applications/@me$")
    assert double.identify_count == 1
    assert double.unhandled == []


async def test_send_embed_with_allowed_mentions_none(running: Running) -> None:
    bot, double, w = running.bot, running.double, running.world
    channel = bot.get_channel(w.channel_id)
    assert isinstance(channel, discord.TextChannel)
    embed = discord.Embed(title="Tonight", description="Heat (1995)")
    sent = await channel.send(f"hey <@{w.member_id}>", embed=embed, allowed_mentions=discord.AllowedMentions.none())

    req = double.find_requests("POST", rf"^/channels/{w.channel_id}/messages$")[-1]
    assert req.json["allowed_mentions"] == {"parse": []}
    assert req.json["embeds"][0]["title"] == "Tonight"
    assert req.json["content"] == f"hey <@{w.member_id}>"
    assert req.status == 200
    assert sent.embeds[0].description == "Heat (1995)"
    assert sent.mentions == []  # allowed_mentions none => nobody pinged
    stored = double.messages_in(w.channel_id)
    assert stored[-1]["id"] == str(sent.id)


async def test_member_message_reaches_on_message(running: Running) -> None:
    bot, double, w = running.bot, running.double, running.world
    waiter = asyncio.create_task(bot.wait_for("message", check=lambda m: m.author.id == w.member_id, timeout=5))
    await double.post_message(w.channel_id, w.member_id, "what's playing tonight?")
    message = await waiter
    assert message.content == "what's playing tonight?"
    assert message.guild is not None and message.guild.id == w.guild_id
    assert isinstance(message.author, discord.Member)


async def test_history_is_newest_first(running: Running) -> None:
    bot, double, w = running.bot, running.double, running.world
    ids = [int((await double.post_message(w.channel_id, w.member_id, f"m{i}", dispatch=False))["id"]) for i in range(5)]
    channel = bot.get_channel(w.channel_id)
    assert isinstance(channel, discord.TextChannel)
    got = [m.id async for m in channel.history(limit=3)]
    assert got == ids[::-1][:3]
    after = [m.content async for m in channel.history(after=discord.Object(ids[1]), oldest_first=True)]
    assert after == ["m2", "m3", "m4"]


async def test_app_command_response_recorded(running: Running) -> None:
    bot, double, w = running.bot, running.double, running.world
    guild = discord.Object(w.guild_id)

    @app_commands.command(name="ping", description="Ping")
    @app_commands.describe(word="what to echo")
    async def ping(interaction: discord.Interaction, word: str, times: int = 1) -> None:
        await interaction.response.send_message(f"pong {word * times}", ephemeral=True)

    @app_commands.command(name="slow", description="Deferred")
    async def slow(interaction: discord.Interaction) -> None:
        await interaction.response.defer(thinking=True)
        await interaction.followup.send("done")

    bot.tree.add_command(ping, guild=guild)
    bot.tree.add_command(slow, guild=guild)
    synced = await bot.tree.sync(guild=guild)
    assert {c.name for c in synced} == {"ping", "slow"}
    put = double.find_requests("PUT", rf"/guilds/{w.guild_id}/commands$")[-1]
    assert {c["name"] for c in put.json} == {"ping", "slow"}

    record = await double.invoke_command(w.guild_id, w.channel_id, w.member_id, "ping", {"word": "ab", "times": 2})
    response = await record.wait_response(timeout=5)
    assert response["type"] == 4
    assert response["data"]["content"] == "pong abab"
    assert response["data"]["flags"] & 64
    assert record.payload["data"]["id"] == str(synced[0].id if synced[0].name == "ping" else synced[1].id)

    deferred = await double.invoke_command(w.guild_id, w.channel_id, w.member_id, "slow")
    assert (await deferred.wait_response())["type"] == 5
    final = await deferred.wait_final_message()
    assert final["content"] == "done"


async def test_thread_from_message_and_forum_post(running: Running) -> None:
    bot, double, w = running.bot, running.double, running.world
    channel = bot.get_channel(w.channel_id)
    assert isinstance(channel, discord.TextChannel)
    msg = await channel.send("discussion")
    thread = await msg.create_thread(name="Heat discussion", auto_archive_duration=60)
    assert thread.id == msg.id
    req = double.find_requests("POST", rf"/channels/{w.channel_id}/messages/{msg.id}/threads$")[-1]
    assert req.json["name"] == "Heat discussion"
    await double.wait_until(lambda: bot.get_channel(thread.id) is not None)

    await thread.edit(archived=True)
    assert double.channels[thread.id]["thread_metadata"]["archived"] is True

    forum = bot.get_channel(w.forum_id)
    assert isinstance(forum, discord.ForumChannel)
    tag = forum.get_tag(int(w.tag_id))
    assert tag is not None
    post = await forum.create_thread(name="Weekly pick", content="Vote below", applied_tags=[tag])
    assert post.thread.applied_tags == [tag]
    assert post.message.content == "Vote below"
    req = double.find_requests("POST", rf"/channels/{w.forum_id}/threads$")[-1]
    assert req.json["message"]["content"] == "Vote below"
    assert req.json["applied_tags"] == [w.tag_id]


async def test_disconnect_resume_replays_missed_events(running: Running) -> None:
    bot, double, w = running.bot, running.double, running.world
    resumed = asyncio.create_task(bot.wait_for("resumed", timeout=5))
    got: list[str] = []

    async def on_message(message: discord.Message) -> None:
        got.append(message.content)

    bot.add_listener(on_message)
    double.hold_connections()
    await double.disconnect()
    await double.post_message(w.channel_id, w.member_id, "sent while you were away")
    double.release_connections()
    await resumed
    await double.wait_until(lambda: "sent while you were away" in got)
    assert double.resume_count == 1
    assert double.identify_count == 1
    assert double.replayed_count >= 1


async def test_invalid_session_reidentifies(running: Running) -> None:
    double = running.double

    async def no_identify_delay(shard_id: int | None, *, initial: bool = False) -> None:
        """discord.py sleeps 5 s before every non-initial IDENTIFY; skip that here."""

    running.bot.before_identify_hook = no_identify_delay  # type: ignore[method-assign]
    await double.invalid_session(resumable=False)
    await double.wait_until(lambda: double.identify_count == 2 and double.connected)
    assert double.resume_count == 0


async def test_429_is_retried(running: Running) -> None:
    bot, double, w = running.bot, running.double, running.world
    channel = bot.get_channel(w.channel_id)
    assert isinstance(channel, discord.TextChannel)
    fault = double.inject_fault("POST", rf"^/channels/{w.channel_id}/messages$", 429, retry_after=0.1)
    msg = await channel.send("eventually")
    assert msg.content == "eventually"
    reqs = double.find_requests("POST", rf"^/channels/{w.channel_id}/messages$")
    assert [r.status for r in reqs] == [429, 200]
    assert fault.hits == 1 and double.rate_limited_count == 1


async def test_reactions_polls_components_and_modals(running: Running) -> None:
    bot, double, w = running.bot, running.double, running.world
    channel = bot.get_channel(w.channel_id)
    assert isinstance(channel, discord.TextChannel)

    poll = discord.Poll(question="Which film?", duration=datetime.timedelta(hours=1))
    poll.add_answer(text="Heat")
    poll.add_answer(text="Ronin")
    msg = await channel.send(poll=poll)
    vote = asyncio.create_task(bot.wait_for("raw_poll_vote_add", timeout=5))
    await double.poll_vote(w.channel_id, msg.id, w.member_id, 2)
    assert (await vote).answer_id == 2

    reaction = asyncio.create_task(
        bot.wait_for("raw_reaction_add", check=lambda raw: raw.user_id == w.member_id, timeout=5))
    await msg.add_reaction("🍿")
    await double.add_reaction(w.channel_id, msg.id, w.member_id, "🍿")
    assert (await reaction).emoji.name == "🍿"
    assert double.reactions_on(msg.id) == {"🍿": [double.bot_user_id, w.member_id]}

    class Feedback(discord.ui.Modal, title="Feedback"):
        text = discord.ui.TextInput(label="Thoughts", custom_id="thoughts")

        async def on_submit(self, interaction: discord.Interaction) -> None:
            await interaction.response.send_message(f"thanks: {self.text.value}")

    class View(discord.ui.View):
        @discord.ui.button(label="Go", custom_id="go")
        async def go(self, interaction: discord.Interaction, button: discord.ui.Button[Any]) -> None:
            await interaction.response.send_modal(Feedback())

    view_msg = await channel.send("click", view=View(timeout=None))
    click = await double.click_component(view_msg.id, "go", w.member_id)
    assert (await click.wait_response())["type"] == 9
    submit = await double.submit_modal(click.modal["custom_id"], {"thoughts": "great"}, w.member_id)  # type: ignore[index]
    assert (await submit.wait_response())["data"]["content"] == "thanks: great"


async def test_uploads_edits_dms_and_unknown_routes(running: Running) -> None:
    bot, double, w = running.bot, running.double, running.world
    channel = bot.get_channel(w.channel_id)
    assert isinstance(channel, discord.TextChannel)

    sent = await channel.send("poster", file=discord.File(io.BytesIO(b"PNGDATA"), "poster.png"))
    req = double.find_requests("POST", rf"^/channels/{w.channel_id}/messages$")[-1]
    assert req.json["content"] == "poster"
    assert req.file_names == ["poster.png"] and req.files[0].data == b"PNGDATA"
    assert sent.attachments[0].filename == "poster.png"
    assert await sent.attachments[0].read() == b"PNGDATA"

    edit = asyncio.create_task(bot.wait_for("raw_message_edit", timeout=5))
    edited = await sent.edit(content="poster v2")
    assert edited.content == "poster v2" and (await edit).message_id == sent.id
    assert double.find_requests("PATCH", rf"/messages/{sent.id}$")[-1].json["content"] == "poster v2"

    user = await bot.fetch_user(w.member_id)
    dm_msg = await user.send("psst")
    assert double.find_requests("POST", r"^/users/@me/channels$")[-1].json == {"recipient_id": w.member_id}
    assert double.messages_in(dm_msg.channel.id)[-1]["content"] == "psst"

    guild = bot.get_guild(w.guild_id)
    assert guild is not None
    with pytest.raises(discord.NotFound):
        await guild.fetch_emojis()
    assert double.unhandled[-1].path == f"/guilds/{w.guild_id}/emojis"


async def test_global_rate_limit_and_server_errors(running: Running) -> None:
    bot, double, w = running.bot, running.double, running.world
    channel = bot.get_channel(w.channel_id)
    assert isinstance(channel, discord.TextChannel)
    double.enforce_global_rate_limit(per_second=3)
    sent = await asyncio.gather(*(channel.send(f"burst {i}") for i in range(6)))
    assert len(sent) == 6
    assert double.rate_limited_count >= 1
    double.enforce_global_rate_limit(None)

    double.inject_fault("POST", r"/messages$", 502)
    msg = await channel.send("after a bad gateway")
    assert msg.content == "after a bad gateway"
    statuses = [r.status for r in double.find_requests("POST", r"/messages$")[-2:]]
    assert statuses == [502, 200]


async def test_a_lost_response_does_the_work_then_answers_a_server_error(running: Running) -> None:
    bot, double, w = running.bot, running.double, running.world
    channel = bot.get_channel(w.channel_id)
    assert isinstance(channel, discord.TextChannel)

    # discord.py retries the 5xx: a create call with no nonce makes a second thread ...
    threads_before = {c for c, data in double.channels.items() if data.get("parent_id") == str(w.channel_id)}
    lost = double.lose_response("POST", rf"^/channels/{w.channel_id}/threads$")
    await channel.create_thread(name="made twice", type=discord.ChannelType.private_thread)
    threads = {c for c, data in double.channels.items() if data.get("parent_id") == str(w.channel_id)}
    assert [double.channels[c]["name"] for c in threads - threads_before] == ["made twice", "made twice"]
    assert [r.status for r in double.find_requests("POST", rf"^/channels/{w.channel_id}/threads$")] == [502, 200]
    assert lost.hits == 1

    # ... while a message carries a nonce Discord enforces (discord.py sends one): the retry returns the first.
    before = len(double.messages_in(w.channel_id))
    double.lose_response("POST", rf"^/channels/{w.channel_id}/messages$")
    msg = await channel.send("exactly once")
    assert [m["content"] for m in double.messages_in(w.channel_id)[before:]] == ["exactly once"]
    assert msg.id == int(double.messages_in(w.channel_id)[-1]["id"])

    # A request the route refuses did nothing: the fault waits for one that does.
    refused = double.lose_response("POST", r"^/channels/\d+/messages/\d+/threads$")
    with pytest.raises(discord.HTTPException):
        await channel.get_partial_message(424242).create_thread(name="no such message")
    assert refused.hits == 0


async def test_autocomplete_dm_command_and_reconnect(running: Running) -> None:
    bot, double, w = running.bot, running.double, running.world

    async def film_autocomplete(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        films = ["Heat", "Her", "Hereditary", "Ronin"]
        return [app_commands.Choice(name=f, value=f) for f in films if f.lower().startswith(current.lower())]

    @app_commands.command(name="pick", description="Pick a film")
    @app_commands.autocomplete(film=film_autocomplete)
    @app_commands.allowed_contexts(guilds=True, dms=True, private_channels=True)
    async def pick(interaction: discord.Interaction, film: str) -> None:
        where = "dm" if interaction.guild is None else "guild"
        await interaction.response.send_message(f"{where}:{film}")

    bot.tree.add_command(pick)
    await bot.tree.sync()
    assert double.global_commands[0]["name"] == "pick"

    choices = await double.autocomplete_choices(w.guild_id, w.channel_id, w.member_id, "pick", {"film": "he"},
                                                focused="film")
    assert [c["value"] for c in choices] == ["Heat", "Her", "Hereditary"]

    record = await double.invoke_command(None, None, w.member_id, "pick", {"film": "Heat"})
    assert (await record.wait_response())["data"]["content"] == "dm:Heat"

    resumed = asyncio.create_task(bot.wait_for("resumed", timeout=5))
    await double.reconnect()
    await resumed
    assert double.resume_count == 1 and double.identify_count == 1


async def test_poll_end_and_expire(running: Running) -> None:
    bot, double, w = running.bot, running.double, running.world
    channel = bot.get_channel(w.channel_id)
    assert isinstance(channel, discord.TextChannel)
    poll = discord.Poll(question="Tonight?", duration=datetime.timedelta(hours=2))
    poll.add_answer(text="Yes")
    poll.add_answer(text="No")
    msg = await channel.send(poll=poll)
    req = double.find_requests("POST", rf"^/channels/{w.channel_id}/messages$")[-1]
    assert req.json["poll"]["question"]["text"] == "Tonight?"
    await double.poll_vote(w.channel_id, msg.id, w.member_id, 1)
    ended = await msg.end_poll()
    assert ended.poll is not None and ended.poll.is_finalized()
    assert double.find_requests("POST", rf"/polls/{msg.id}/expire$")
    assert double.get_message(w.channel_id, msg.id)["poll"]["results"]["answer_counts"][0]["count"] == 1


async def test_builders_after_connect_dispatch(running: Running) -> None:
    bot, double, w = running.bot, running.double, running.world
    joined = asyncio.create_task(bot.wait_for("guild_join", timeout=5))
    guild = double.add_guild("Second")
    channel = await double.add_text_channel(int(guild["id"]), "lobby")
    assert (await joined).id == int(guild["id"])
    await double.wait_until(lambda: bot.get_channel(int(channel["id"])) is not None)

    created = asyncio.create_task(bot.wait_for("thread_create", timeout=5))
    thread = await double.add_thread(w.forum_id, "Member post", owner_id=w.member_id, starter_content="hello")
    assert (await created).id == int(thread["id"])
    assert double.messages_in(int(thread["id"]))[0]["id"] == thread["id"]
    role = await double.add_role(w.guild_id, "Projectionist", permissions=1 << 3)
    await double.wait_until(lambda: bot.get_guild(w.guild_id).get_role(int(role["id"])) is not None)  # type: ignore[union-attr]


async def test_the_bot_removed_from_a_guild_hears_nothing_of_it_until_it_is_back(running: Running) -> None:
    bot, double, w = running.bot, running.double, running.world
    got: list[str] = []

    async def on_message(message: discord.Message) -> None:
        got.append(message.content)

    bot.add_listener(on_message)
    cases = ((False, "guild_remove", "guild_join"), (True, "guild_unavailable", "guild_available"))
    for unavailable, left, back in cases:
        gone = asyncio.create_task(bot.wait_for(left, timeout=5))
        await double.remove_bot_from_guild(w.guild_id, unavailable=unavailable)
        assert (await gone).id == w.guild_id
        assert (bot.get_guild(w.guild_id) is None) is not unavailable
        await double.post_message(w.channel_id, w.member_id, f"unheard {left}")
        with pytest.raises(discord.Forbidden):
            await bot.get_partial_messageable(w.channel_id).history(limit=5).__anext__()

        returned = asyncio.create_task(bot.wait_for(back, timeout=5))
        await double.return_bot_to_guild(w.guild_id)
        assert (await returned).id == w.guild_id
        await double.post_message(w.channel_id, w.member_id, f"heard after {back}")
        await double.wait_until(lambda back=back: f"heard after {back}" in got)
    assert got == ["heard after guild_join", "heard after guild_available"]  # events arrive in order
    assert [m["content"] for m in double.messages_in(w.channel_id)][-4:] == [
        "unheard guild_remove", "heard after guild_join", "unheard guild_unavailable", "heard after guild_available",
    ]  # fmt: skip


async def test_subcommands_and_context_menus(running: Running) -> None:
    bot, double, w = running.bot, running.double, running.world
    guild = discord.Object(w.guild_id)
    group = app_commands.Group(name="film", description="Films")

    @group.command(name="add", description="Add a film")
    async def add(interaction: discord.Interaction, title: str, year: int, by: discord.Member) -> None:
        await interaction.response.send_message(f"{title} ({year}) by {by.id}")

    @app_commands.context_menu(name="Suggest this")
    async def suggest(interaction: discord.Interaction, message: discord.Message) -> None:
        await interaction.response.send_message(f"suggested {message.content}")

    bot.tree.add_command(group, guild=guild)
    bot.tree.add_command(suggest, guild=guild)
    await bot.tree.sync(guild=guild)

    record = await double.invoke_command(w.guild_id, w.channel_id, w.member_id, "film add",
                                         {"title": "Heat", "year": 1995, "by": w.member_id})
    assert (await record.wait_response())["data"]["content"] == f"Heat (1995) by {w.member_id}"
    assert record.payload["data"]["options"][0]["options"][1] == {"name": "year", "type": 4, "value": 1995}

    target = await double.post_message(w.channel_id, w.member_id, "Ronin")
    menu = await double.invoke_command(w.guild_id, w.channel_id, w.member_id, "Suggest this",
                                       command_type=3, target_id=int(target["id"]))
    assert (await menu.wait_response())["data"]["content"] == "suggested Ronin"


async def test_message_content_is_redacted_without_intent(world: World) -> None:
    double = world.double
    intents = discord.Intents.none()
    intents.guilds = True
    intents.guild_messages = True
    bot = commands.Bot(command_prefix="!", intents=intents, guild_ready_timeout=0.05)
    task = await double.start_bot(bot)
    try:
        waiter = asyncio.create_task(bot.wait_for("message", timeout=5))
        await double.post_message(world.channel_id, world.member_id, "secret plot twist")
        assert (await waiter).content == ""
        mention = asyncio.create_task(bot.wait_for("message", timeout=5))
        await double.post_message(world.channel_id, world.member_id, f"<@{double.bot_user_id}> hi")
        assert (await mention).content == f"<@{double.bot_user_id}> hi"
    finally:
        await bot.close()
        await asyncio.wait_for(task, 5)


async def test_members_intent_chunking_and_bucket_limits(world: World) -> None:
    double = world.double
    double.bucket_limit = 2
    double.bucket_window = 0.2
    double.enforce_bucket_limits = True
    intents = discord.Intents.none()
    intents.guilds = True
    intents.members = True
    bot = commands.Bot(command_prefix="!", intents=intents, guild_ready_timeout=0.05)
    task = await double.start_bot(bot)
    try:
        assert any(f.get("op") == 8 for f in double.gateway_received)
        guild = bot.get_guild(world.guild_id)
        assert guild is not None and guild.chunked
        assert guild.get_member(world.member_id) is not None
        channel = guild.get_channel(world.channel_id)
        assert isinstance(channel, discord.TextChannel)
        await asyncio.gather(*(channel.send(f"m{i}") for i in range(4)))
        # discord.py honours X-RateLimit-Remaining, so the enforcing double never had to say 429
        assert double.rate_limited_count == 0
    finally:
        await bot.close()
        await asyncio.wait_for(task, 5)
