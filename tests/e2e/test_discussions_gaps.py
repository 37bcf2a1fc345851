"""Nothing lost (issue 17): comments in a gap the backfill could not read are stored once it can.

Two ways to make the gap: the bot is removed from the server (or the server goes
unavailable) while members post; the thread's history answers 403 during the
start-up backfill. Either way a live message right after must not move the
thread's cursor past the gap, and a later re-read stores what it finds.
"""

from __future__ import annotations

from typing import Any

import aiosqlite
import pytest

import bot.discussions.backfill as backfill_module
from bot.discord_double import DiscordDouble
from tests.e2e._discussions import caught_up, open_thread, wait_rows

pytestmark = pytest.mark.e2e

MISSING_ACCESS = {"message": "Missing Access", "code": 50001}


async def stored_ids(bot: Any, double: DiscordDouble, count: int, *, timeout: float = 20.0) -> list[int]:
    rows = await wait_rows(bot, double, "SELECT message_id FROM comments ORDER BY message_id", count=count,
                           timeout=timeout)  # fmt: skip
    return [r[0] for r in rows]


def ids(*messages: dict) -> list[int]:
    return [int(m["id"]) for m in messages]


@pytest.mark.parametrize("unavailable", [False, True], ids=["removed and re-added", "unavailable and back"])
async def test_comments_posted_while_the_bot_was_out_of_the_server_are_stored(
    double: DiscordDouble, world, run_bot, unavailable: bool
) -> None:
    bot = await run_bot()
    opened = await open_thread(bot, double, world)
    tid, gid = opened.thread_id, world.guild_id
    first = await double.post_message(tid, world.member_id, "before")
    await stored_ids(bot, double, 1)
    await caught_up(bot, double)

    await double.remove_bot_from_guild(gid, unavailable=unavailable)
    await double.wait_until(lambda: bot.get_guild(gid) is None or bot.get_guild(gid).unavailable, timeout=10)
    gap = [await double.post_message(tid, world.member_id, f"while the bot was away {i}") for i in range(3)]
    await double.return_bot_to_guild(gid)
    await double.wait_until(lambda: bot.get_guild(gid) is not None and not bot.get_guild(gid).unavailable, timeout=10)
    live = await double.post_message(tid, world.admin_id, "right after it came back")

    assert await stored_ids(bot, double, 5) == ids(first, *gap, live)
    await run_bot.stop(bot)


async def _one_comment_then_stopped(double: DiscordDouble, world, run_bot) -> tuple[int, dict]:
    """A review thread with one stored comment, and the bot stopped: (thread id, the comment's message)."""
    bot = await run_bot()
    opened = await open_thread(bot, double, world)
    first = await double.post_message(opened.thread_id, world.member_id, "stored before the stop")
    await stored_ids(bot, double, 1)
    await run_bot.stop(bot)
    return opened.thread_id, first


async def _refused_at_startup(double: DiscordDouble, world, run_bot) -> tuple[Any, Any, dict, list[dict], dict]:
    """A thread whose history answers 403 while the restarted bot backfills it, then a live message.

    Returns (bot, fault, first, gap, live); the fault is still active.
    """
    tid, first = await _one_comment_then_stopped(double, world, run_bot)
    gap = [await double.post_message(tid, world.member_id, f"while Matinee was down {i}") for i in range(3)]
    fault = double.inject_fault("GET", rf"^/channels/{tid}/messages$", 403, times=None, body=MISSING_ACCESS)
    bot = await run_bot()
    await caught_up(bot, double, timeout=30)
    assert fault.hits >= 1  # the start-up backfill was refused
    live = await double.post_message(tid, world.admin_id, "live, after the refused backfill")
    await wait_rows(bot, double, "SELECT 1 FROM comments WHERE message_id = ?", (int(live["id"]),), count=1)
    return bot, fault, first, gap, live


async def test_a_gap_left_by_a_refused_backfill_is_retried_until_discord_answers(
    double: DiscordDouble, world, run_bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(backfill_module, "RETRY_FIRST_DELAY", 0.2)
    monkeypatch.setattr(backfill_module, "RETRY_MAX_DELAY", 0.5)
    bot, fault, first, gap, live = await _refused_at_startup(double, world, run_bot)
    hits = fault.hits
    await double.wait_until(lambda: fault.hits > hits, timeout=20)  # retried while still refused
    double.faults.remove(fault)  # e.g. staff gave back Read Message History

    assert await stored_ids(bot, double, 5) == ids(first, *gap, live)
    await run_bot.stop(bot)


async def test_a_gap_left_by_a_refused_backfill_is_read_by_the_next_session(
    double: DiscordDouble, world, run_bot
) -> None:
    bot, fault, first, gap, live = await _refused_at_startup(double, world, run_bot)
    double.faults.remove(fault)
    passes = bot.get_cog("Discussions").discussions.backfill.catch_ups_done
    identifies = double.identify_count
    await double.invalid_session(resumable=False)
    await double.wait_until(lambda: double.identify_count > identifies, timeout=20)
    await caught_up(bot, double, passes=passes + 1, timeout=30)

    assert await stored_ids(bot, double, 5) == ids(first, *gap, live)
    await run_bot.stop(bot)


async def test_the_recheck_stores_messages_that_were_never_stored(double: DiscordDouble, world, run_bot) -> None:
    tid, first = await _one_comment_then_stopped(double, world, run_bot)
    never = [await double.post_message(tid, world.member_id, f"never stored {i}") for i in range(3)]
    # The database an older Matinee left: a live message had moved the cursor past these.
    async with aiosqlite.connect(run_bot.database_path) as conn:
        await conn.execute("UPDATE discussion_threads SET last_message_id = ? WHERE thread_id = ?",
                           (int(never[-1]["id"]), tid))  # fmt: skip
        await conn.commit()

    bot = await run_bot()
    await caught_up(bot, double, timeout=30)
    assert await stored_ids(bot, double, 4) == ids(first, *never)
    history = double.find_requests("GET", rf"^/channels/{tid}/messages$")
    assert any("before" in r.query for r in history)  # found by the re-check, not by the backfill
    assert all(int(r.query["after"]) >= int(never[-1]["id"]) for r in history if "after" in r.query)
    await run_bot.stop(bot)
