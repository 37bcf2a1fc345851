"""Helpers shared by the reviews end-to-end tests (guild set-up, commands, waits, outbox state).

The ``feeds`` fixture (a loopback feed server) is in tests/e2e/conftest.py.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace

from bot.discord_double import DiscordDouble
from bot.storage import Database
from tests.e2e.conftest import ADMIN_PERMISSIONS

FAST = {"feed_poll_seconds": 1}  # the loop ticks every 0.25 s; polls are due every ~1 s


async def second_guild(double: DiscordDouble, *, forum: bool = True) -> SimpleNamespace:
    guild = double.add_guild("Second Screen")
    gid = int(guild["id"])
    if forum:
        channel = await double.add_forum_channel(gid, "reviews-forum", tags=["Review"])
    else:
        channel = await double.add_text_channel(gid, "reviews")
    admin = await double.add_member(gid, name="Bea Boss", permissions=ADMIN_PERMISSIONS)
    return SimpleNamespace(guild_id=gid, channel_id=int(channel["id"]), admin_id=int(admin["user"]["id"]))


async def run_command(double: DiscordDouble, guild_id: int, channel_id: int, user_id: int, name: str, **options):
    record = await double.invoke_command(guild_id, channel_id, user_id, name, options)
    response = await record.wait_response(timeout=10)
    if response.get("type") == 5:  # deferred: the answer is the follow-up
        return await record.wait_followup(timeout=15)
    return response.get("data", response)


async def set_up_guild(double: DiscordDouble, guild_id: int, channel_id: int, admin_id: int, **options) -> dict:
    """``/matinee setup`` announcing in ``channel_id`` (run from that channel); checks it was accepted."""
    answer = await run_command(double, guild_id, channel_id, admin_id, "matinee setup", channel=channel_id, **options)
    assert "announced in" in answer["content"], answer
    return answer


async def follow_feed(double: DiscordDouble, guild_id: int, channel_id: int, admin_id: int, url: str) -> dict:
    """``/matinee feed add`` for ``url``; checks the guild now follows it."""
    answer = await run_command(double, guild_id, channel_id, admin_id, "matinee feed add", url=url)
    assert "Following" in answer["content"], answer
    return answer


async def pending_count(database_path: Path) -> int:
    """Announcements still waiting in the outbox, read from the bot's database file."""
    db = await Database.open(database_path)
    try:
        return int(await db.fetchval("SELECT count(*) FROM announcements WHERE state = 'pending'"))
    finally:
        await db.close()


def bot_posts(double: DiscordDouble, channel_id: int) -> list[dict]:
    """Messages the bot posted in a text channel, oldest first."""
    return [m for m in double.messages_in(channel_id) if m["author"]["id"] == str(double.bot_user_id)]


def forum_posts(double: DiscordDouble, forum_id: int) -> list[dict]:
    """Starter messages of the bot's posts (threads) in a forum channel, oldest first."""
    threads = [c for c in double.channels.values() if c.get("parent_id") == str(forum_id)]
    starters = []
    for thread in sorted(threads, key=lambda t: int(t["id"])):
        starters.extend(m for m in double.messages_in(int(thread["id"])) if m["id"] == thread["id"])
    return starters


async def settle(bot, rounds: int = 3) -> None:
    """Let the reviews loop run a few full turns (polls, deliveries)."""
    cog = bot.get_cog("Reviews")
    for _ in range(rounds):
        await cog.run_once()
    await asyncio.sleep(0)


def announcement_sends(double: DiscordDouble, *channel_ids: int) -> int:
    """Requests that would create an announcement: a message in, or a post (thread) in, these channels.

    Other features react to announcements (the discussions feature posts in the new
    threads), so only requests to the announcement channels themselves count.
    """
    ids = "|".join(str(c) for c in channel_ids)
    return len(double.find_requests("POST", rf"^/channels/({ids})/(messages|threads)$"))


async def next_read(double: DiscordDouble, bot, feeds, path: str, *, timeout: float = 15) -> None:
    """Wait until the bot has read ``path`` again (after the test changed it) and handled what it found."""
    seen = len(feeds.requests_to(path))
    await double.wait_until(lambda: len(feeds.requests_to(path)) > seen, timeout=timeout)
    await settle(bot)  # each turn holds the loop's lock, so the read in flight has been handled


def threads_started(double: DiscordDouble, channel_id: int) -> int:
    """Requests that started a thread from a message in a text channel (the discussions feature)."""
    return len(double.find_requests("POST", rf"^/channels/{channel_id}/messages/\d+/threads$"))


def openings(double: DiscordDouble, thread_id: int) -> list[dict]:
    """The bot's opening messages (with the star poll) in a review thread."""
    return [m for m in bot_posts(double, thread_id) if m.get("poll")]


async def staff(double: DiscordDouble, world, name: str, **options) -> dict:
    """A ``/matinee`` command run by the world's admin in its text channel; the answer's data."""
    return await run_command(double, world.guild_id, world.text_channel_id, world.admin_id, name, **options)


def titles(double: DiscordDouble, channel_id: int) -> list[str]:
    """The titles of the review embeds the bot posted in a text channel, oldest first."""
    return [p["embeds"][0]["title"] for p in bot_posts(double, channel_id)]
