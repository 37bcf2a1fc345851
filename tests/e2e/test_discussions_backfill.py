"""Nothing is lost while Matinee is down: backfill on start-up, after a reconnect, and on unarchive."""

from __future__ import annotations

import pytest

from bot.discord_double import DiscordDouble
from bot.storage import CommentRepository
from tests.e2e._discussions import open_thread, wait_rows

pytestmark = pytest.mark.e2e


async def test_messages_posted_while_stopped_are_stored_on_restart(double: DiscordDouble, world, run_bot) -> None:
    bot = await run_bot()
    opened = await open_thread(bot, double, world)
    tid = opened.thread_id
    live = await double.post_message(tid, world.member_id, "said while Matinee listened")
    await wait_rows(bot, double, "SELECT 1 FROM comments", count=1)
    await run_bot.stop(bot)

    missed = [await double.post_message(tid, world.member_id, f"missed {i}", dispatch=False) for i in range(150)]
    reply = await double.post_message(tid, world.admin_id, "a missed reply", reference=int(live["id"]), dispatch=False)
    await double.post_message(tid, double.bot_user_id, "a bot line, not a comment", dispatch=False)

    bot = await run_bot()
    rows = await wait_rows(bot, double, "SELECT message_id FROM comments ORDER BY message_id", count=152)
    assert [r[0] for r in rows] == [int(m["id"]) for m in (live, *missed, reply)]
    comments = CommentRepository(bot.db, bot.writer)
    assert (await comments.get(int(reply["id"]))).reply_to_id == int(live["id"])
    # History was read from after the last stored message, not from the beginning.
    history = double.find_requests("GET", rf"/channels/{tid}/messages$")
    assert history and history[0].query.get("after") == live["id"]
    await run_bot.stop(bot)


async def test_messages_missed_across_a_fresh_session_are_backfilled(double: DiscordDouble, world, run_bot) -> None:
    bot = await run_bot()
    opened = await open_thread(bot, double, world)
    tid = opened.thread_id
    await double.post_message(tid, world.member_id, "before the outage")
    await wait_rows(bot, double, "SELECT 1 FROM comments", count=1)

    identifies = double.identify_count
    double.hold_connections()
    await double.invalid_session(resumable=False)  # the session is gone: the client must IDENTIFY again
    lost = await double.post_message(tid, world.member_id, "during the outage")  # never delivered
    double.release_connections()
    await double.wait_until(lambda: double.identify_count > identifies, timeout=15)

    rows = await wait_rows(bot, double, "SELECT message_id FROM comments ORDER BY message_id", count=2, timeout=15)
    assert rows[-1][0] == int(lost["id"])
    await run_bot.stop(bot)


async def test_archived_thread_is_backfilled_when_unarchived(double: DiscordDouble, world, run_bot) -> None:
    bot = await run_bot()
    opened = await open_thread(bot, double, world)
    tid = opened.thread_id
    thread = double.channels[tid]
    thread["thread_metadata"]["archived"] = True
    await double.dispatch("THREAD_UPDATE", thread)
    await double.wait_until(lambda: bot.get_channel(tid) is None or bot.get_channel(tid).archived)

    quiet = await double.post_message(tid, world.member_id, "posted while archived", dispatch=False)
    thread["thread_metadata"]["archived"] = False
    await double.dispatch("THREAD_UPDATE", thread)
    rows = await wait_rows(bot, double, "SELECT message_id FROM comments", count=1)
    assert rows[0][0] == int(quiet["id"])
    await run_bot.stop(bot)


async def test_poll_that_ended_while_stopped_gets_its_final_counts(double: DiscordDouble, world, run_bot) -> None:
    bot = await run_bot()
    opened = await open_thread(bot, double, world)
    poll_id = int(opened.opening["id"])
    await double.poll_vote(opened.thread_id, poll_id, world.member_id, 3)
    await wait_rows(bot, double, "SELECT 1 FROM poll_votes", count=1)
    await run_bot.stop(bot)

    await double.end_poll(opened.thread_id, poll_id)  # nobody is listening
    # A week went by: the stored expiry is now in the past.
    import aiosqlite

    async with aiosqlite.connect(run_bot.database_path) as conn:
        await conn.execute("UPDATE discussion_polls SET expires_at = '2000-01-01T00:00:00.000Z'")
        await conn.commit()

    bot = await run_bot()
    rows = await wait_rows(bot, double, "SELECT answer_id, votes FROM poll_results WHERE votes > 0", count=1)
    assert tuple(rows[0]) == (3, 1)
    await run_bot.stop(bot)


async def test_votes_cast_while_stopped_are_caught_up(double: DiscordDouble, world, run_bot) -> None:
    bot = await run_bot()
    opened = await open_thread(bot, double, world)
    poll_id = int(opened.opening["id"])
    await double.poll_vote(opened.thread_id, poll_id, world.admin_id, 2)
    await wait_rows(bot, double, "SELECT 1 FROM poll_votes", count=1)
    await run_bot.stop(bot)

    await double.poll_vote(opened.thread_id, poll_id, world.member_id, 5)  # nobody is listening
    await double.poll_vote(opened.thread_id, poll_id, world.admin_id, 2, add=False)

    bot = await run_bot()
    # Stale votes are removed before missing ones are added, so once the new vote is there, we're done.
    await wait_rows(bot, double, "SELECT 1 FROM poll_votes WHERE user_id = ?", (world.member_id,), count=1)
    rows = await bot.db.fetchall("SELECT user_id, answer_id FROM poll_votes")
    assert [tuple(r) for r in rows] == [(world.member_id, 5)]
    await run_bot.stop(bot)


async def test_resumed_session_replays_events_and_backfills_the_rest(double: DiscordDouble, world, run_bot) -> None:
    bot = await run_bot()
    opened = await open_thread(bot, double, world)
    tid = opened.thread_id
    resumes = double.resume_count
    double.hold_connections()
    await double.disconnect()  # resumable: the client will RESUME
    replayed = await double.post_message(tid, world.member_id, "buffered for RESUME")
    lost = await double.post_message(tid, world.admin_id, "an event Discord never delivered", dispatch=False)
    double.release_connections()
    await double.wait_until(lambda: double.resume_count > resumes, timeout=15)
    rows = await wait_rows(bot, double, "SELECT message_id FROM comments ORDER BY message_id", count=2, timeout=15)
    assert [r[0] for r in rows] == [int(replayed["id"]), int(lost["id"])]
    await run_bot.stop(bot)
