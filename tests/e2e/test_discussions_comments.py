"""Member messages, replies, edits, deletions and reactions mirrored in SQLite; poll votes recorded."""

from __future__ import annotations

import pytest

from bot.discord_double import DiscordDouble
from bot.storage import CommentRepository, FilmRepository, RatingRepository, ReviewRepository
from tests.e2e._discussions import eventually, open_thread, review_fields, wait_rows

pytestmark = pytest.mark.e2e


async def test_messages_replies_edits_deletes_and_reactions_are_mirrored(double: DiscordDouble, world, run_bot) -> None:
    bot = await run_bot()
    opened = await open_thread(bot, double, world)
    tid = opened.thread_id

    first = await double.post_message(
        tid, world.member_id, "Loved the **pineapple** cans <@123> @everyone", attachments=[{"filename": "still.png"}]
    )
    reply = await double.post_message(tid, world.admin_id, "Same here", reference=int(first["id"]))
    # A reply to the announcement itself, in the text channel, is a top-level comment too.
    channel_reply = await double.post_message(
        world.text_channel_id, world.member_id, "Great review!", reference=opened.announcement.message_id
    )
    # Not comments: a bot's message, a message in a channel, a thread of no review.
    bot_user = double.add_user("OtherBot", bot=True)
    await double.post_message(tid, int(bot_user["id"]), "beep")
    await double.post_message(world.text_channel_id, world.member_id, "unrelated chatter")
    other_thread = await double.add_thread(world.text_channel_id, "off-topic", owner_id=world.member_id)
    await double.post_message(int(other_thread["id"]), world.member_id, "not about a review")

    rows = await wait_rows(bot, double, "SELECT message_id FROM comments ORDER BY message_id", count=3)
    assert [r[0] for r in rows] == [int(first["id"]), int(reply["id"]), int(channel_reply["id"])]

    comments = CommentRepository(bot.db, bot.writer)
    stored = await comments.get(int(first["id"]))
    assert stored.review_id == opened.review.id and stored.guild_id == world.guild_id and stored.thread_id == tid
    assert stored.author_id == world.member_id and stored.author_name == "Mo Member"
    assert stored.content == "Loved the **pineapple** cans <@123> @everyone"
    assert stored.attachments == (first["attachments"][0]["url"],)
    assert stored.reply_to_id is None and stored.edited_at is None
    assert (await comments.get(int(reply["id"]))).reply_to_id == int(first["id"])
    top = await comments.get(int(channel_reply["id"]))
    assert top.review_id == opened.review.id and top.reply_to_id is None

    # Edits are mirrored (raw events: the cache is not needed).
    await double.edit_message(tid, int(first["id"]), "Loved the pineapple cans (edited)")
    await double.edit_message(tid, int(reply["id"]), "Same here, twice")
    await wait_rows(bot, double, "SELECT 1 FROM comments WHERE edited_at IS NOT NULL", count=2)
    assert (await comments.get(int(first["id"]))).content == "Loved the pineapple cans (edited)"
    assert (await comments.get(int(reply["id"]))).content == "Same here, twice"

    # Reactions are counted as they change.
    await double.add_reaction(tid, int(first["id"]), world.admin_id, "👍")
    await double.add_reaction(tid, int(first["id"]), world.member_id, "👍")
    await double.add_reaction(tid, int(first["id"]), world.member_id, "<:popcorn:42>")
    await double.remove_reaction(tid, int(first["id"]), world.member_id, "<:popcorn:42>")
    await double.add_reaction(tid, int(first["id"]), world.admin_id, "🎬")

    async def reactions():
        return dict((await comments.get(int(first["id"]))).reactions)

    await eventually(reactions, {"👍": 2, "🎬": 1})

    # Deletions: soft delete, content gone, excluded from reads.
    await double.delete_message(tid, int(reply["id"]))
    await double.bulk_delete(world.text_channel_id, [int(channel_reply["id"])])
    rows = await wait_rows(bot, double, "SELECT message_id, content FROM comments WHERE deleted = 1", count=2)
    assert all(r[1] == "" for r in rows)
    assert [c.message_id for c in await comments.for_review(opened.review.id)] == [int(first["id"])]
    await run_bot.stop(bot)


async def test_a_burst_of_messages_loses_none(double: DiscordDouble, world, run_bot) -> None:
    bot = await run_bot()
    opened = await open_thread(bot, double, world)
    for i in range(300):
        await double.post_message(opened.thread_id, world.member_id, f"message {i}")
    await wait_rows(bot, double, "SELECT 1 FROM comments", count=300, timeout=30)
    assert bot.writer.batches_committed < 300  # they were batched
    await run_bot.stop(bot)


async def test_poll_votes_are_recorded_mirrored_to_ratings_and_final_counts_kept(
    double: DiscordDouble, world, run_bot
) -> None:
    bot = await run_bot()
    film = await FilmRepository(bot.db).add(title="Chungking Express", year=1994)
    opened = await open_thread(bot, double, world, film_id=film.id)
    tid, poll_id = opened.thread_id, int(opened.opening["id"])
    ratings = RatingRepository(bot.db)

    await double.poll_vote(tid, poll_id, world.member_id, 4)
    await double.poll_vote(tid, poll_id, world.admin_id, 5)
    rows = await wait_rows(
        bot, double, "SELECT user_id, answer_id, review_id FROM poll_votes ORDER BY answer_id", count=2
    )
    assert [tuple(r) for r in rows] == [(world.member_id, 4, opened.review.id), (world.admin_id, 5, opened.review.id)]
    await eventually(lambda: ratings.get_rating(world.guild_id, world.member_id, film.id), 4.0)

    # Retracting a vote removes it and the poll-made rating.
    await double.poll_vote(tid, poll_id, world.member_id, 4, add=False)
    await wait_rows(bot, double, "SELECT 1 FROM poll_votes", count=1)
    await eventually(lambda: ratings.get_rating(world.guild_id, world.member_id, film.id), None)
    await eventually(lambda: ratings.get_rating(world.guild_id, world.admin_id, film.id), 5.0)
    # Changing one's vote (Discord sends only the new vote here) replaces the old one.
    await double.poll_vote(tid, poll_id, world.admin_id, 3)
    await eventually(lambda: ratings.get_rating(world.guild_id, world.admin_id, film.id), 3.0)
    await double.poll_vote(tid, poll_id, world.admin_id, 5)
    await eventually(lambda: ratings.get_rating(world.guild_id, world.admin_id, film.id), 5.0)

    # Votes on a member's own poll are not ours.
    member_poll = await double.post_message(
        tid,
        world.member_id,
        "",
    )
    member_poll["poll"] = {
        "question": {"text": "?"},
        "answers": [{"answer_id": 1, "poll_media": {"text": "a"}}],
        "allow_multiselect": False,
        "expiry": None,
        "layout_type": 1,
    }
    await double.poll_vote(tid, int(member_poll["id"]), world.member_id, 1)

    # The poll ends: Discord's final counts are stored.
    await double.end_poll(tid, poll_id)
    rows = await wait_rows(
        bot,
        double,
        "SELECT answer_id, votes FROM poll_results WHERE message_id = ? ORDER BY answer_id",
        (poll_id,),
        count=5,
    )
    assert [tuple(r) for r in rows] == [(1, 0), (2, 0), (3, 0), (4, 0), (5, 1)]
    assert await bot.db.fetchval(
        "SELECT finalized_at IS NOT NULL FROM discussion_polls WHERE message_id = ?", (poll_id,)
    )
    assert await bot.db.fetchval("SELECT count(*) FROM poll_votes") == 1
    assert (await ReviewRepository(bot.db).get(opened.review.id)).film_id == film.id
    assert review_fields()["slug"] == opened.review.slug
    await run_bot.stop(bot)
