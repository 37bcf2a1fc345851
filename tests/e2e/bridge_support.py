"""Helpers for the blog-comment bridge's end-to-end tests: a WordPress-shaped blog, an announced review, waits.

The blog (:class:`tests.doubles.wordpress.WordPressSite`) serves a posts feed with
``wfw:commentRss`` and per-post comment feeds with ETags from a loopback feed server.
:func:`discussed_review` starts the real bot, follows the blog's feed (announcing its
newest post), waits for the review's thread and for the first read of the post's
comment feed (which records what is there without posting it).
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from bot.discord_double import DiscordDouble
from tests.doubles.wordpress import WordPressSite
from tests.e2e._discussions import eventually
from tests.e2e.reviews_support import FAST, run_command, set_up_guild

SLUG = "chungking-express"
TITLE = "Chungking Express: A Love Letter to Loneliness"


async def discussed_review(double: DiscordDouble, world: SimpleNamespace, run_bot: Any, site: WordPressSite,
                           **overrides: Any) -> SimpleNamespace:  # fmt: skip
    """The bot running, the blog's newest post announced in the text channel, its thread open, its comments read."""
    site.publish()
    bot = await run_bot(**{**FAST, **overrides})
    await set_up_guild(double, world.guild_id, world.text_channel_id, world.admin_id)
    answer = await run_command(double, world.guild_id, world.text_channel_id, world.admin_id, "matinee feed add",
                               url=site.feed_url, backfill=1)  # fmt: skip
    assert "Following" in answer["content"], answer
    row = await eventually_row(
        bot, "SELECT a.review_id, a.thread_id FROM announcements AS a JOIN reviews AS r ON r.id = a.review_id "
        "WHERE r.url = ? AND a.thread_id IS NOT NULL", (site.post_url(SLUG),),
    )  # fmt: skip
    review_id, thread_id = int(row[0]), int(row[1])
    await eventually_row(bot, "SELECT 1 FROM comment_feeds WHERE review_id = ? AND baseline_at IS NOT NULL",
                         (review_id,))  # fmt: skip
    return SimpleNamespace(bot=bot, review_id=review_id, thread_id=thread_id)


async def eventually_row(bot: Any, sql: str, params: tuple = (), *, timeout: float = 20.0) -> Any:
    """Poll SQLite until the query returns a row; returns it."""

    async def loop() -> Any:
        while (row := await bot.db.fetchone(sql, params)) is None:
            await asyncio.sleep(0.02)
        return row

    return await asyncio.wait_for(loop(), timeout)


def mirrors(double: DiscordDouble, thread_id: int) -> list[dict]:
    """Matinee's mirrors of blog comments in a thread (webhook messages, or the bot's blog cards), oldest first."""

    def is_card(message: dict) -> bool:
        return message["author"]["id"] == str(double.bot_user_id) and any(
            "commented [on the blog]" in (e.get("description") or "") for e in message.get("embeds", [])
        )

    return [m for m in double.messages_in(thread_id) if m.get("webhook_id") or is_card(m)]


def mirror_text(message: dict) -> str:
    """What a mirror says: a webhook message's content, or a bot card's description."""
    return message["content"] or "".join(e.get("description") or "" for e in message.get("embeds", []))


async def wait_mirrors(double: DiscordDouble, thread_id: int, count: int, *, timeout: float = 20.0) -> list[dict]:
    """Wait until the thread holds exactly ``count`` mirrors; returns them."""
    await double.wait_until(lambda: len(mirrors(double, thread_id)) == count, timeout=timeout)
    return mirrors(double, thread_id)


async def blog_comments(bot: Any, review_id: int) -> list[tuple[str, str, int]]:
    """(author, content, deleted) of the review's stored blog comments, oldest first."""
    rows = await bot.db.fetchall(
        "SELECT author_name, content, deleted FROM comments WHERE review_id = ? AND source = 'blog' "
        "ORDER BY created_at, message_id DESC",
        (review_id,),
    )
    return [(r[0], r[1], int(r[2])) for r in rows]


async def bridge_turns(bot: Any, turns: int = 2) -> None:
    """Run a few of the bridge's turns now (each reads what is due and delivers what is owed)."""
    cog = bot.get_cog("Bridge")
    for _ in range(turns):
        await cog.run_once()


async def settled(fn: Any, expected: Any) -> Any:
    return await eventually(fn, expected, timeout=20)
