"""Edits and deletions that happen while Matinee is down.

The backfill reads history after the last stored message, so it finds new
messages; after a fresh session the newest stored comments are re-read too. A
member who deletes (or edits) an already-stored comment while the bot is offline
must still have that honoured: a deleted comment must not stay in the exports.

The live "back online" message can be stored before the start-up catch-up has
re-read the thread, so each test waits for the catch-up's effect, not for that
message.
"""

from __future__ import annotations

import pytest

from tests.e2e._discussions import eventually, open_thread, wait_rows

pytestmark = pytest.mark.e2e

async def test_a_comment_deleted_while_the_bot_was_down_is_not_exported(double, world, run_bot) -> None:
    bot = await run_bot()
    opened = await open_thread(bot, double, world)
    keep = await double.post_message(opened.thread_id, world.member_id, "keep me")
    gone = await double.post_message(opened.thread_id, world.member_id, "please forget this")
    await wait_rows(bot, double, "SELECT 1 FROM comments", count=2)
    await run_bot.stop(bot)

    await double.delete_message(opened.thread_id, int(gone["id"]))  # no bot connected: nobody hears it
    bot = await run_bot()
    await double.post_message(opened.thread_id, world.member_id, "back online")
    await wait_rows(bot, double, "SELECT 1 FROM comments", count=3)
    deleted = "SELECT deleted FROM comments WHERE message_id = ?"
    await eventually(lambda: bot.db.fetchval(deleted, (int(gone["id"]),)), 1)
    live = await bot.db.fetchall("SELECT message_id FROM comments WHERE deleted = 0 ORDER BY message_id")
    await run_bot.stop(bot)
    assert int(gone["id"]) not in [r[0] for r in live]
    assert int(keep["id"]) in [r[0] for r in live]


async def test_a_comment_edited_while_the_bot_was_down_is_updated(double, world, run_bot) -> None:
    bot = await run_bot()
    opened = await open_thread(bot, double, world)
    message = await double.post_message(opened.thread_id, world.member_id, "first draft")
    await wait_rows(bot, double, "SELECT 1 FROM comments", count=1)
    await run_bot.stop(bot)

    await double.edit_message(opened.thread_id, int(message["id"]), "final words")
    bot = await run_bot()
    await double.post_message(opened.thread_id, world.member_id, "back online")
    await wait_rows(bot, double, "SELECT 1 FROM comments", count=2)
    content_sql = "SELECT content FROM comments WHERE message_id = ?"
    await eventually(lambda: bot.db.fetchval(content_sql, (int(message["id"]),)), "final words")
    content = await bot.db.fetchval(content_sql, (int(message["id"]),))
    await run_bot.stop(bot)
    assert content == "final words"


async def test_reactions_added_while_the_bot_was_down_are_counted(double, world, run_bot) -> None:
    bot = await run_bot()
    opened = await open_thread(bot, double, world)
    message = await double.post_message(opened.thread_id, world.member_id, "react to me")
    await wait_rows(bot, double, "SELECT 1 FROM comments", count=1)
    await run_bot.stop(bot)

    await double.add_reaction(opened.thread_id, int(message["id"]), world.admin_id, "🔥")
    bot = await run_bot()
    await double.post_message(opened.thread_id, world.member_id, "back online")
    await wait_rows(bot, double, "SELECT 1 FROM comments", count=2)
    reactions_sql = "SELECT instr(reactions, '🔥') > 0 FROM comments WHERE message_id = ?"
    await eventually(lambda: bot.db.fetchval(reactions_sql, (int(message["id"]),)), 1)
    reactions = await bot.db.fetchval("SELECT reactions FROM comments WHERE message_id = ?", (int(message["id"]),))
    await run_bot.stop(bot)
    assert "🔥" in (reactions or "")
