"""A blog comment's mirror against a real crash: SIGKILL between "Discord created it" and "Matinee recorded it".

The bot runs in a subprocess (the real ``matinee run``); the double creates the mirror
(a thread webhook's message, or the bot's card where Matinee may not manage webhooks)
but holds its answer back, and the process is killed. A webhook message takes no nonce,
so the restarted bot must find its own message in the thread by the comment's anchor
and adopt it: exactly one mirror, and no second send.
"""

from __future__ import annotations

import signal
import sqlite3
from pathlib import Path
from types import SimpleNamespace

import discord
import pytest

from bot.discord_double import DiscordDouble
from tests.doubles.feed_server import FeedServer
from tests.doubles.wordpress import WordPressSite
from tests.e2e._sigkill import Held, kill_when
from tests.e2e.bridge_support import SLUG, TITLE, bridge_turns, discussed_review, mirrors
from tests.e2e.reviews_support import FAST

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def posts(database: Path) -> list[tuple]:
    conn = sqlite3.connect(database, timeout=10)
    try:
        return conn.execute("SELECT state, attempts, message_id FROM blog_comment_posts ORDER BY comment_id").fetchall()
    finally:
        conn.close()


@pytest.mark.parametrize("mode", ["webhook", "bot card"])
async def test_sigkill_between_the_mirror_and_its_record_leaves_exactly_one_after_restart(
    double: DiscordDouble, world, run_bot, feeds: FeedServer, tmp_path: Path, mode: str
) -> None:
    if mode == "bot card":  # Matinee may not manage webhooks there: its own message, with a nonce
        denied = discord.Permissions(manage_webhooks=True).value
        channel = await double.add_text_channel(world.guild_id, "reviews-no-webhooks", permission_overwrites=[
            {"id": str(double.bot_user_id), "type": 1, "allow": "0", "deny": str(denied)}])  # fmt: skip
        world = SimpleNamespace(**{**vars(world), "text_channel_id": int(channel["id"])})
    site = WordPressSite(feeds)
    site.add_post(SLUG, TITLE)
    site.add_comment(SLUG, "Faye", "<p>History, recorded at the first read.</p>", hours=1)
    review = await discussed_review(double, world, run_bot, site)
    await run_bot.stop(review.bot)

    site.add_comment(SLUG, "Ana", "<p>Posted while Matinee was dying.</p>")
    site.publish()
    send = "_r_execute_webhook" if mode == "webhook" else "_r_post_message"
    # The new comment makes the comment feed due at once in the bot process, whatever FEED_POLL_SECONDS says.
    code = await kill_when(double, run_bot, tmp_path, lambda: mirrors(double, review.thread_id), Held(double, send))
    assert code == -signal.SIGKILL
    assert posts(run_bot.database_path) == [("pending", 1, None)]  # Discord has it; Matinee recorded the attempt only
    [created] = mirrors(double, review.thread_id)
    path = r"^/webhooks/\d+/[^/]+$" if mode == "webhook" else rf"^/channels/{review.thread_id}/messages$"
    sends = len(double.find_requests("POST", path))

    bot = await run_bot(**FAST)
    await bridge_turns(bot, 2)
    await double.wait_until(lambda: posts(run_bot.database_path)[0][0] == "sent", timeout=20)
    assert posts(run_bot.database_path) == [("sent", 1, int(created["id"]))]  # adopted, not sent again
    assert len(double.find_requests("POST", path)) == sends
    assert [m["id"] for m in mirrors(double, review.thread_id)] == [created["id"]]
    await run_bot.stop(bot)
