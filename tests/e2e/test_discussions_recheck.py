"""Comments older than the quick re-check's window are re-checked in the background after downtime.

A thread of a few hundred messages, with the window and the page made small (50)
and the pace quick, so the background pass has several pages to walk.
"""

from __future__ import annotations

import pytest

from bot.discord_double import DiscordDouble
from bot.discussions import backfill, recheck
from bot.storage import CommentRepository
from tests.e2e._discussions import open_thread, wait_rows

pytestmark = pytest.mark.e2e

WINDOW = PAGE = 50


@pytest.fixture(autouse=True)
def small_window(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backfill, "RECONCILE_WINDOW", WINDOW)
    monkeypatch.setattr(recheck, "RECHECK_PAGE", PAGE)
    monkeypatch.setattr(recheck, "PAGE_INTERVAL", 0.05)


async def test_an_old_comment_edited_or_deleted_while_down_is_mirrored_by_the_background_pass(
    double: DiscordDouble, world, run_bot
) -> None:
    bot = await run_bot()
    opened = await open_thread(bot, double, world)
    tid = opened.thread_id
    await run_bot.stop(bot)
    posted = [await double.post_message(tid, world.member_id, f"comment {i}", dispatch=False) for i in range(300)]
    bot = await run_bot()  # stores them (a backfill), then re-checks them, all while nothing changed
    await wait_rows(bot, double, "SELECT 1 FROM comments", count=300, timeout=30)
    first = bot.get_cog("Discussions").discussions.older
    await double.wait_until(lambda: first.threads_done >= 1, timeout=60)  # so the next walk starts afresh
    assert (first.deleted, first.changed) == (0, 0)
    await run_bot.stop(bot)

    # While Matinee is down, members change comments far older than the newest 50.
    old, gone, liked, recent = (int(posted[i]["id"]) for i in (10, 20, 30, 290))
    await double.edit_message(tid, old, "rewritten much later")
    await double.delete_message(tid, gone)
    await double.add_reaction(tid, liked, world.admin_id, "🍿")
    await double.edit_message(tid, recent, "a recent change")
    double.clear_requests()

    bot = await run_bot()
    older = bot.get_cog("Discussions").discussions.older
    await double.wait_until(lambda: older.threads_done >= 1, timeout=60)
    comments = CommentRepository(bot.db, bot.writer)
    assert (await comments.get(old)).content == "rewritten much later"
    assert (await comments.get(gone)).deleted
    assert dict((await comments.get(liked)).reactions) == {"🍿": 1}
    assert (await comments.get(recent)).content == "a recent change"  # the quick re-check's window
    live = await bot.db.fetchval("SELECT count(*) FROM comments WHERE deleted = 0")
    assert live == 299

    # The pass walked the thread from newest to oldest, a page at a time, after the quick re-check.
    pages = [r.query for r in double.find_requests("GET", rf"^/channels/{tid}/messages$") if "before" in r.query]
    assert all(int(q["limit"]) == PAGE for q in pages)
    befores = [int(q["before"]) for q in pages]
    assert befores == sorted(befores, reverse=True) and len(befores) >= 300 // PAGE
    assert await bot.db.fetchval("SELECT recheck_before FROM discussion_threads WHERE thread_id = ?", (tid,)) is None
    await run_bot.stop(bot)
