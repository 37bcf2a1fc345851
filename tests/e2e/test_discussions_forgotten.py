"""Forgotten means forgotten (issue 17): a new gateway session or a restart never brings a member back.

Discord keeps listing a forgotten member's poll vote and keeps their messages; the
re-reads after a new session (poll voters, the thread's history) must not store them
again. What the member does after forgetting is stored, as the README promises.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from bot.discord_double import DiscordDouble
from bot.storage import FilmRepository, RatingRepository
from tests.e2e._discussions import caught_up, eventually, forget_me, matinee_cli, open_thread, wait_rows

pytestmark = pytest.mark.e2e


async def votes_of(bot: Any, user_id: int) -> list[tuple[int, int]]:
    rows = await bot.db.fetchall(
        "SELECT message_id, answer_id FROM poll_votes WHERE user_id = ? ORDER BY message_id", (user_id,)
    )
    return [tuple(r) for r in rows]


async def comments_of(bot: Any, user_id: int) -> list[int]:
    rows = await bot.db.fetchall("SELECT message_id FROM comments WHERE author_id = ? ORDER BY message_id", (user_id,))
    return [r[0] for r in rows]


async def new_session(bot: Any, double: DiscordDouble) -> None:
    """A non-resumable INVALID_SESSION: the bot IDENTIFYs again; wait until that session's catch-up is done."""
    passes = bot.get_cog("Discussions").discussions.backfill.catch_ups_done
    identifies = double.identify_count
    await double.invalid_session(resumable=False)
    await double.wait_until(lambda: double.identify_count > identifies, timeout=20)
    await caught_up(bot, double, passes=passes + 1, timeout=30)


async def test_forgotten_votes_are_not_resurrected_by_a_new_session(double: DiscordDouble, world, run_bot) -> None:
    bot = await run_bot()
    film = await FilmRepository(bot.db).add(title="Chungking Express", year=1994)
    opened = await open_thread(bot, double, world, film_id=film.id)
    tid, poll_id = opened.thread_id, int(opened.opening["id"])
    await double.poll_vote(tid, poll_id, world.member_id, 2)
    await double.poll_vote(tid, poll_id, world.admin_id, 4)
    await wait_rows(bot, double, "SELECT 1 FROM film_ratings", count=2)
    await caught_up(bot, double)
    ratings = RatingRepository(bot.db)

    await forget_me(double, world, tid, world.member_id)
    assert await votes_of(bot, world.member_id) == []
    assert double.poll_voters(poll_id, 2) == [world.member_id]  # Discord still lists her

    await new_session(bot, double)
    assert await votes_of(bot, world.member_id) == []
    assert await ratings.get_rating(world.guild_id, world.member_id, film.id) is None
    assert await votes_of(bot, world.admin_id) == [(poll_id, 4)]
    assert await ratings.get_rating(world.guild_id, world.admin_id, film.id) == 4.0

    # Voting again after forgetting is a live event: stored, with its rating, and kept by the next session.
    await double.poll_vote(tid, poll_id, world.member_id, 5)
    await wait_rows(bot, double, "SELECT 1 FROM poll_votes WHERE user_id = ?", (world.member_id,), count=1)
    await eventually(lambda: ratings.get_rating(world.guild_id, world.member_id, film.id), 5.0)
    await new_session(bot, double)
    assert await votes_of(bot, world.member_id) == [(poll_id, 5)]
    await run_bot.stop(bot)


async def test_forgotten_votes_stay_forgotten_across_a_restart(double: DiscordDouble, world, run_bot) -> None:
    bot = await run_bot()
    films = FilmRepository(bot.db)
    film = await films.add(title="Chungking Express", year=1994)
    opened = await open_thread(bot, double, world, film_id=film.id)
    tid, poll_id = opened.thread_id, int(opened.opening["id"])
    await double.poll_vote(tid, poll_id, world.member_id, 2)
    await wait_rows(bot, double, "SELECT 1 FROM film_ratings", count=1)
    await caught_up(bot, double)
    await forget_me(double, world, tid, world.member_id)

    # A review announced after she forgot: its poll did not exist when she asked.
    later_film = await films.add(title="Fallen Angels", year=1995)
    later = await open_thread(
        bot, double, world, source_key="fallen.md", slug="fallen-angels", title="Fallen Angels",
        url="https://blog.example/fallen-angels", film_id=later_film.id,
    )  # fmt: skip
    later_poll = int(later.opening["id"])
    await run_bot.stop(bot)

    await double.poll_vote(later.thread_id, later_poll, world.member_id, 4)  # nobody is listening

    bot = await run_bot()
    await caught_up(bot, double, timeout=30)
    # The old poll still lists her vote from before: it stays out. The new poll's vote is after: caught up.
    assert await votes_of(bot, world.member_id) == [(later_poll, 4)]
    ratings = RatingRepository(bot.db)
    assert await ratings.get_rating(world.guild_id, world.member_id, film.id) is None
    assert await ratings.get_rating(world.guild_id, world.member_id, later_film.id) == 4.0
    await run_bot.stop(bot)


async def test_matinee_forget_while_the_bot_runs_keeps_votes_and_messages_out(
    double: DiscordDouble, world, run_bot, tmp_path: Path
) -> None:
    bot = await run_bot()
    film = await FilmRepository(bot.db).add(title="Chungking Express", year=1994)
    opened = await open_thread(bot, double, world, film_id=film.id)
    tid, poll_id = opened.thread_id, int(opened.opening["id"])
    said = await double.post_message(tid, world.member_id, "the pineapple scene!")
    await double.post_message(tid, world.admin_id, "agreed")
    await double.poll_vote(tid, poll_id, world.member_id, 3)
    await wait_rows(bot, double, "SELECT 1 FROM comments", count=2)
    await wait_rows(bot, double, "SELECT 1 FROM film_ratings", count=1)
    await caught_up(bot, double)

    env_file = tmp_path / "cli.env"
    env_file.write_text(f"DATABASE_PATH={run_bot.database_path}\n")
    done = await asyncio.to_thread(matinee_cli, env_file, tmp_path, "forget", str(world.member_id))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("erased 1 comments, 1 poll votes, 1 film ratings")

    # The re-check re-reads the thread (her message is in it) and the poll lists her vote.
    await new_session(bot, double)
    assert await comments_of(bot, world.member_id) == []
    assert await votes_of(bot, world.member_id) == []
    assert await RatingRepository(bot.db).get_rating(world.guild_id, world.member_id, film.id) is None
    assert int(said["id"]) in [int(m["id"]) for m in double.messages_in(tid)]

    again = await double.post_message(tid, world.member_id, "I'm back")  # after forgetting: stored
    await wait_rows(bot, double, "SELECT 1 FROM comments WHERE author_id = ?", (world.member_id,), count=1)
    assert await comments_of(bot, world.member_id) == [int(again["id"])]
    await run_bot.stop(bot)
