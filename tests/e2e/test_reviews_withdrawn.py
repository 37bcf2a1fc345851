"""Markdown reviews whose files are deleted, moved or brought back, end to end (issue 16).

The real bot reads a REVIEWS_DIR in tmp. A deleted file withdraws its review: the
announcement stays in Discord, the log channel is told, and the review leaves
``/reviews``, the film card and the discussion autocomplete. A file moved with the
same ``url`` is the same review (no second announcement); a file that comes back
brings it back.
"""

from __future__ import annotations

import asyncio
import copy

import pytest

from bot.discord_double import DiscordDouble
from bot.storage import FilmRepository
from tests.e2e.reviews_support import bot_posts, set_up_guild
from tests.reliability._reviews import first_scan_done

pytestmark = pytest.mark.e2e


def write(directory, name: str, title: str, url: str) -> None:
    (directory / name).write_text(
        f"---\ntitle: {title}\nfilm: Heat\nyear: 1995\nrating: 4\ndate: 2025-03-01\nurl: {url}\n---\n"
        "Two men, one table, one pineapple.\n",
        encoding="utf-8",
    )


def announcements(double: DiscordDouble, channel_id: int) -> list[dict]:
    """The bot's review announcements in a channel (not its answers to commands)."""
    return [m for m in bot_posts(double, channel_id)
            if m.get("embeds") and str(m["embeds"][0].get("url", "")).startswith("https://blog.example/")]  # fmt: skip


async def turn(bot) -> None:
    await bot.get_cog("Reviews").run_once()


async def reviews_listed(double: DiscordDouble, world) -> list[str]:
    record = await double.invoke_command(world.guild_id, world.text_channel_id, world.member_id, "reviews", {})
    embed = (await record.wait_response())["data"]["embeds"][0]
    return sorted(field["name"] for field in embed.get("fields", []))


async def film_card_reviews(double: DiscordDouble, world, film_id: int) -> str:
    record = await double.invoke_command(world.guild_id, world.text_channel_id, world.member_id, "film",
                                         {"title": str(film_id)})  # fmt: skip
    embed = (await record.wait_response())["data"]["embeds"][0]
    return next((f["value"] for f in embed.get("fields", []) if f["name"] == "Our reviews"), "")


async def open_choices(double: DiscordDouble, world, text: str) -> list[str]:
    choices = await double.autocomplete_choices(
        world.guild_id, world.text_channel_id, world.admin_id, "discussion open", {"review": text}, "review"
    )
    return [c["name"] for c in choices]


async def test_a_deleted_file_withdraws_the_review_a_moved_one_stays_and_a_returning_one_is_back(
    double: DiscordDouble, world, run_bot
) -> None:
    bot = await run_bot(feed_poll_seconds=1)
    log_channel = int((await double.add_text_channel(world.guild_id, "bot-log"))["id"])
    await set_up_guild(double, world.guild_id, world.text_channel_id, world.admin_id, log_channel=log_channel)
    heat = await FilmRepository(bot.db).add("Heat", year=1995)
    await first_scan_done(bot)
    folder = run_bot.reviews_dir
    write(folder, "heat.md", "Heat reconsidered", "https://blog.example/heat/")
    write(folder, "heat-again.md", "Heat, again", "https://blog.example/heat-again/")
    await double.wait_until(lambda: len(announcements(double, world.text_channel_id)) == 2, timeout=30)
    posts = copy.deepcopy(announcements(double, world.text_channel_id))
    assert await reviews_listed(double, world) == ["Heat reconsidered (Heat (1995))", "Heat, again (Heat (1995))"]
    assert "Heat reconsidered" in await film_card_reviews(double, world, heat.id)
    assert "Heat reconsidered" in await open_choices(double, world, "reconsidered")

    # Deleted: withdrawn everywhere, the announcement stays, staff are told.
    (folder / "heat.md").unlink()
    await double.wait_until(lambda: bot_posts(double, log_channel), timeout=30)
    [note] = bot_posts(double, log_channel)
    assert "**Heat reconsidered** was withdrawn" in note["content"] and "stay here" in note["content"]
    assert await reviews_listed(double, world) == ["Heat, again (Heat (1995))"]
    card = await film_card_reviews(double, world, heat.id)
    assert "Heat, again" in card and "Heat reconsidered" not in card
    assert await open_choices(double, world, "reconsidered") == []
    refused = await double.invoke_command(world.guild_id, world.forum_channel_id, world.admin_id, "discussion open",
                                          {"review": "heat"})  # fmt: skip
    assert "withdrawn from the blog" in (await refused.wait_response())["data"]["content"]
    still = announcements(double, world.text_channel_id)
    assert [(m["id"], m["embeds"]) for m in still] == [(m["id"], m["embeds"]) for m in posts]  # there, unchanged

    # Moved with the same url: the same review; nothing announced, nothing withdrawn.
    (folder / "heat-again.md").rename(folder / "2025-03-02-heat-again.md")
    await turn(bot)
    await turn(bot)
    assert await reviews_listed(double, world) == ["Heat, again (Heat (1995))"]
    assert len(bot_posts(double, log_channel)) == 1
    rows = await bot.db.fetchall("SELECT source_key FROM review_keys WHERE source = 'markdown' ORDER BY source_key")
    assert [r[0] for r in rows] == ["2025-03-02-heat-again.md", "heat.md"]

    # Back: listed again, staff told, still one announcement.
    write(folder, "heat.md", "Heat reconsidered", "https://blog.example/heat/")
    await double.wait_until(lambda: len(bot_posts(double, log_channel)) == 2, timeout=30)
    assert "**Heat reconsidered** is back" in bot_posts(double, log_channel)[1]["content"]
    assert await reviews_listed(double, world) == ["Heat reconsidered (Heat (1995))", "Heat, again (Heat (1995))"]
    await turn(bot)
    await asyncio.sleep(0)
    assert [m["id"] for m in announcements(double, world.text_channel_id)] == [p["id"] for p in posts]
    await run_bot.stop(bot)


async def test_a_file_deleted_while_the_bot_was_down_is_withdrawn_at_start(
    double: DiscordDouble, world, run_bot
) -> None:
    bot = await run_bot(feed_poll_seconds=1)
    await set_up_guild(double, world.guild_id, world.text_channel_id, world.admin_id)
    await first_scan_done(bot)
    write(run_bot.reviews_dir, "heat.md", "Heat reconsidered", "https://blog.example/heat/")
    write(run_bot.reviews_dir, "alien.md", "Alien at 45", "https://blog.example/alien/")
    await double.wait_until(lambda: len(announcements(double, world.text_channel_id)) == 2, timeout=30)
    await run_bot.stop(bot)

    (run_bot.reviews_dir / "heat.md").unlink()
    bot = await run_bot(feed_poll_seconds=1)
    await first_scan_done(bot)
    await turn(bot)
    assert await reviews_listed(double, world) == ["Alien at 45 (Heat (1995))"]
    assert await bot.db.fetchval("SELECT withdrawn_at IS NOT NULL FROM reviews WHERE slug = 'heat'") == 1
    await run_bot.stop(bot)
