"""SIGKILL during a fan-out and during a comment burst, then restart.

The bot runs in a child process (``_bot_process.py``, the real ``matinee run``)
against the Discord double in this process, so it can be killed at any moment
with no clean-up at all. After the restart: every announcement exists exactly
once per guild, and the stored comments are exactly the messages members sent.
"""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from tests.e2e.conftest import ADMIN_PERMISSIONS
from tests.e2e.reviews_support import bot_posts

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def query(path, sql: str, params: tuple = ()) -> list[tuple]:
    conn = sqlite3.connect(path, timeout=10)
    try:
        return conn.execute(sql, params).fetchall()
    except sqlite3.OperationalError:  # the table may not exist yet on a brand-new database
        return []
    finally:
        conn.close()


async def until(predicate, timeout: float = 30.0, interval: float = 0.05):
    async def loop():
        while not (value := predicate()):
            await asyncio.sleep(interval)
        return value

    return await asyncio.wait_for(loop(), timeout)


async def setup(double, guild_id: int, channel_id: int, admin_id: int) -> None:
    record = await double.invoke_command(guild_id, channel_id, admin_id, "matinee setup", {"channel": channel_id})
    message = await record.wait_final_message(timeout=20)
    assert "announced in" in message["content"], message


def slow_sends(double, seconds: float) -> None:
    """Discord takes ``seconds`` to create each message, so a kill lands while sends are in flight."""
    for route in double._routes:
        if route.handler.__name__ == "_r_post_message":
            original = route.handler

            async def slow(*args, _original=original):
                await asyncio.sleep(seconds)
                return await _original(*args)

            route.handler = slow


def write_review(directory, name: str) -> None:
    (directory / f"{name}.md").write_text(
        f"---\ntitle: {name.title()}, again\nfilm: {name.title()}\nyear: 1958\nrating: 5\n"
        f"date: 2025-03-01\nurl: https://blog.example/{name}/\n---\nFalling, and falling again.\n",
        encoding="utf-8",
    )


async def guilds_with_channels(double, world, count: int) -> list[tuple[int, int, int]]:
    guilds = [(world.guild_id, world.text_channel_id, world.admin_id)]
    for i in range(count - 1):
        guild = double.add_guild(f"Club {i}")
        gid = int(guild["id"])
        channel = await double.add_text_channel(gid, "reviews")
        admin = await double.add_member(gid, name=f"Admin {i}", permissions=ADMIN_PERMISSIONS)
        await double.announce_guild(gid)
        guilds.append((gid, int(channel["id"]), int(admin["user"]["id"])))
    return guilds


async def start_with_review_channels(bot_process, double, guilds) -> object:
    proc = await bot_process.start(FEED_POLL_SECONDS="10")
    for gid, cid, admin in guilds:
        await setup(double, gid, cid, admin)
    db = bot_process.database_path
    await until(lambda: query(db, "SELECT 1 FROM meta WHERE key = 'reviews.markdown_initialized'"))
    return proc


async def test_sigkill_during_a_fan_out_announces_exactly_once_per_guild(bot_process, double, world) -> None:
    guilds = await guilds_with_channels(double, world, 4)
    proc = await start_with_review_channels(bot_process, double, guilds)
    slow_sends(double, 0.4)
    write_review(bot_process.reviews_dir, "vertigo")
    channels = "|".join(str(cid) for _, cid, _ in guilds)
    await double.wait_for_request("POST", rf"^/channels/({channels})/messages$", timeout=30, completed=False)
    await proc.kill()
    posted_before_restart = sum(len(bot_posts(double, cid)) for _, cid, _ in guilds)
    recorded = query(bot_process.database_path, "SELECT count(*) FROM announcements WHERE state = 'sent'")
    assert recorded[0][0] < len(guilds), "the kill came after the fan-out was recorded; the test proved nothing"

    await bot_process.start(FEED_POLL_SECONDS="10")
    await until(lambda: all(bot_posts(double, cid) for _, cid, _ in guilds), timeout=60)
    await asyncio.sleep(6)  # two more ticks of the reviews loop: a duplicate would appear now
    counts = {cid: len(bot_posts(double, cid)) for _, cid, _ in guilds}
    assert set(counts.values()) == {1}, (counts, posted_before_restart)
    states = [r[0] for r in query(bot_process.database_path, "SELECT state FROM announcements")]
    assert states == ["sent"] * len(guilds)


async def start_with_a_review_thread(bot_process, double, world) -> tuple[object, int]:
    """A bot process whose review thread is open (poll posted); returns the process and the thread id."""
    guilds = await guilds_with_channels(double, world, 1)
    proc = await start_with_review_channels(bot_process, double, guilds)
    write_review(bot_process.reviews_dir, "vertigo")
    await until(lambda: bot_posts(double, world.text_channel_id), timeout=60)
    thread_id = int(bot_posts(double, world.text_channel_id)[0]["id"])
    await until(lambda: any(m.get("poll") for m in double.messages_in(thread_id)), timeout=30)
    return proc, thread_id


@pytest.mark.parametrize("signal_name", ["SIGKILL", "SIGTERM"])
async def test_kill_or_sigterm_during_a_comment_burst_loses_no_comment(bot_process, double, world, signal_name) -> None:
    proc, thread_id = await start_with_a_review_thread(bot_process, double, world)

    sent = []
    for i in range(400):
        sent.append(int((await double.post_message(thread_id, world.member_id, f"comment {i}"))["id"]))
        if i == 150:  # mid-burst: some stored, some queued in the writer, some never received
            if signal_name == "SIGKILL":
                await proc.kill()
            else:
                assert await proc.terminate() == 0, proc.output
    stored_at_kill = len(query(bot_process.database_path, "SELECT 1 FROM comments"))

    await bot_process.start(FEED_POLL_SECONDS="10")
    db = bot_process.database_path
    await until(lambda: len(query(db, "SELECT 1 FROM comments")) >= 400, timeout=60)
    await asyncio.sleep(1)
    stored = [r[0] for r in query(db, "SELECT message_id FROM comments ORDER BY message_id")]
    assert stored == sorted(sent), f"stored {len(stored)} of {len(sent)} (had {stored_at_kill} at the kill)"
    assert stored_at_kill < 400
    assert len([m for m in double.messages_in(thread_id) if m.get("poll")]) == 1


# -- a kill between Discord doing a create call and Matinee recording it ------------------------------


def openings(double, thread_id: int) -> list[dict]:
    return [m for m in double.messages_in(thread_id) if m.get("poll")]


def threads_of(double, channel_id: int) -> list[dict]:
    return [c for c in double.channels.values() if c.get("parent_id") == str(channel_id)]


async def kill_when_lost(proc, fault) -> None:
    """Discord did the work and answered 502; discord.py waits a second before retrying: kill it then."""
    await until(lambda: fault.hits >= 1, timeout=60)
    await proc.kill()


async def recorded_opening(db, thread_id: int) -> int | None:
    rows = query(db, "SELECT opening_message_id FROM discussion_threads WHERE thread_id = ?", (thread_id,))
    return rows[0][0] if rows else None


async def test_sigkill_after_the_thread_was_made_opens_that_thread_once_after_the_restart(
    bot_process, double, world
) -> None:
    guilds = await guilds_with_channels(double, world, 1)
    proc = await start_with_review_channels(bot_process, double, guilds)
    channel = world.text_channel_id
    fault = double.lose_response("POST", rf"^/channels/{channel}/messages/\d+/threads$")
    write_review(bot_process.reviews_dir, "vertigo")
    await kill_when_lost(proc, fault)
    [thread] = threads_of(double, channel)  # made on Discord; Matinee never learnt it
    thread_id = int(thread["id"])
    assert openings(double, thread_id) == []

    await bot_process.start(FEED_POLL_SECONDS="10")  # the discussion is owed: opened at start-up
    await until(lambda: openings(double, thread_id), timeout=60)
    await until(lambda: query(bot_process.database_path, "SELECT 1 FROM discussion_polls"), timeout=30)
    await asyncio.sleep(2)  # a duplicate would appear now
    assert [t["id"] for t in threads_of(double, channel)] == [thread["id"]]
    [opening] = openings(double, thread_id)
    assert await recorded_opening(bot_process.database_path, thread_id) == int(opening["id"])


async def test_sigkill_after_the_opening_was_posted_adopts_it_after_the_restart(bot_process, double, world) -> None:
    guilds = await guilds_with_channels(double, world, 1)
    proc = await start_with_review_channels(bot_process, double, guilds)
    channel = world.text_channel_id
    fault = double.lose_response("POST", rf"^/channels/(?!{channel}/)\d+/messages$")  # the opening
    write_review(bot_process.reviews_dir, "vertigo")
    await kill_when_lost(proc, fault)
    thread_id = int(bot_posts(double, channel)[0]["id"])
    [opening] = openings(double, thread_id)  # posted on Discord; Matinee never learnt its id
    assert await recorded_opening(bot_process.database_path, thread_id) is None

    await bot_process.start(FEED_POLL_SECONDS="10")
    db = bot_process.database_path
    await until(lambda: query(db, "SELECT 1 FROM discussion_threads WHERE opening_message_id IS NOT NULL"), timeout=60)
    await asyncio.sleep(2)
    assert openings(double, thread_id) == [opening]
    assert await recorded_opening(db, thread_id) == int(opening["id"])
    assert query(db, "SELECT message_id FROM discussion_polls") == [(int(opening["id"]),)]
    assert len(double.find_requests("POST", rf"^/channels/{thread_id}/messages$")) == 1  # looked, did not resend
