"""Announcement → thread + opening message with prompts and a star poll; spoilers; /discussion open."""

from __future__ import annotations

import pytest

from bot.storage import AnnouncementRepository
from tests.doubles.discord_double import DiscordDouble
from tests.e2e._discussions import announce_in_text_channel, open_thread, store_review

pytestmark = pytest.mark.e2e

EPHEMERAL = 1 << 6
MANAGE_THREADS = 1 << 34


async def test_announcement_opens_thread_with_prompts_and_poll(double: DiscordDouble, world, run_bot) -> None:
    bot = await run_bot()
    opened = await open_thread(bot, double, world)
    thread_id = opened.thread_id

    create = double.find_requests("POST", rf"/channels/{world.text_channel_id}/messages/{thread_id}/threads$")
    assert len(create) == 1
    assert create[0].json["name"] == "What did you think of Chungking Express?"
    assert create[0].json["auto_archive_duration"] == 10080  # default: one week

    sends = double.find_requests("POST", rf"/channels/{thread_id}/messages$")
    assert len(sends) == 1
    body = sends[0].json
    assert body["allowed_mentions"] == {"parse": []}
    lines = body["content"].split("\n")
    assert lines[0] == "**What did you think of Chungking Express?**"
    prompts = [line for line in lines if line.startswith("• ")]
    assert len(prompts) == 3
    assert "4.5/5" in prompts[0]  # the rating template
    assert "loneliness and Hong Kong" in prompts[1]  # the themes template
    assert "Spoiler" not in body["content"]
    assert body["poll"] == {
        "question": {"text": "How many stars would you give Chungking Express?"},
        "answers": [{"poll_media": {"text": stars}} for stars in ("★", "★★", "★★★", "★★★★", "★★★★★")],
        "duration": 168,
        "allow_multiselect": False,
        "layout_type": 1,
    }

    announcement = await AnnouncementRepository(bot.db).get(opened.review.id, world.guild_id)
    assert announcement.thread_id == thread_id
    row = await bot.db.fetchone("SELECT review_id, thread_id FROM discussion_polls WHERE message_id = ?",
                                (int(opened.opening["id"]),))
    assert tuple(row) == (opened.review.id, thread_id)

    # The same event again (a retried dispatch) opens nothing twice.
    cog = bot.get_cog("Discussions")
    await cog.open_discussion(opened.review, announcement)
    assert len(double.find_requests("POST", rf"/channels/{thread_id}/messages$")) == 1
    await run_bot.stop(bot)


async def test_spoiler_review_gets_spoiler_thread_and_guild_archive_setting(
    double: DiscordDouble, world, run_bot
) -> None:
    bot = await run_bot()
    record = await double.invoke_command(
        world.guild_id, world.text_channel_id, world.admin_id, "matinee archive-after", {"minutes": 1440}
    )
    assert "1 days" in (await record.wait_response())["data"]["content"] or "1 day" in record.response["data"][
        "content"
    ]
    opened = await open_thread(bot, double, world, spoilers=True)
    create = double.find_requests("POST", rf"/channels/{world.text_channel_id}/messages/{opened.thread_id}/threads$")
    assert create[0].json["name"] == "⚠ Spoilers: What did you think of Chungking Express?"
    assert create[0].json["auto_archive_duration"] == 1440
    content = double.find_requests("POST", rf"/channels/{opened.thread_id}/messages$")[0].json["content"]
    assert "Spoiler thread" in content.split("\n")[1]
    announcement = await AnnouncementRepository(bot.db).get(opened.review.id, world.guild_id)
    assert announcement.spoiler
    await run_bot.stop(bot)


async def test_staff_toggle_spoilers_renames_thread_and_edits_opening(double: DiscordDouble, world, run_bot) -> None:
    bot = await run_bot()
    opened = await open_thread(bot, double, world)
    # The double's @everyone role grants Manage Threads; a real server's usually doesn't.
    everyone = next(r for r in double.roles[world.guild_id] if r["id"] == str(world.guild_id))
    everyone["permissions"] = str(int(everyone["permissions"]) & ~MANAGE_THREADS)

    refused = await double.invoke_command(world.guild_id, opened.thread_id, world.member_id, "discussion spoilers",
                                          {"state": "on"})
    assert (await refused.wait_response())["data"]["flags"] & EPHEMERAL
    assert "Manage Threads" in refused.response["data"]["content"]

    record = await double.invoke_command(world.guild_id, opened.thread_id, world.admin_id, "discussion spoilers",
                                         {"state": "on"})
    followup = await record.wait_followup()
    assert "spoiler thread" in followup["content"]
    assert double.channels[opened.thread_id]["name"] == "⚠ Spoilers: What did you think of Chungking Express?"
    opening = double.get_message(opened.thread_id, int(opened.opening["id"]))
    assert "Spoiler thread" in opening["content"]
    assert (await AnnouncementRepository(bot.db).by_thread(opened.thread_id)).spoiler

    record = await double.invoke_command(world.guild_id, opened.thread_id, world.admin_id, "discussion spoilers",
                                         {"state": "off"})
    await record.wait_followup()
    assert double.channels[opened.thread_id]["name"] == "What did you think of Chungking Express?"
    assert "Spoiler thread" not in double.get_message(opened.thread_id, int(opened.opening["id"]))["content"]
    await run_bot.stop(bot)


async def test_admin_opens_and_reopens_a_thread_by_hand(double: DiscordDouble, world, run_bot) -> None:
    bot = await run_bot()
    review = await store_review(bot, slug="in-the-mood", source_key="mood.md", title="In the Mood for Love",
                                film_title="In the Mood for Love", film_year=2000)
    choices = await double.autocomplete_choices(world.guild_id, world.text_channel_id, world.admin_id,
                                                "discussion open", {"review": "mood"}, "review")
    assert choices == [{"name": "In the Mood for Love", "value": str(review.id)}]

    refused = await double.invoke_command(world.guild_id, world.forum_channel_id, world.member_id,
                                          "discussion open", {"review": str(review.id)})
    assert "Manage Server" in (await refused.wait_response())["data"]["content"]

    record = await double.invoke_command(world.guild_id, world.forum_channel_id, world.admin_id,
                                         "discussion open", {"review": str(review.id)})
    await record.wait_followup(timeout=10)
    announcement = await AnnouncementRepository(bot.db).get(review.id, world.guild_id)
    assert announcement is not None and announcement.state == "sent" and announcement.thread_id
    thread = double.channels[announcement.thread_id]
    assert thread["parent_id"] == str(world.forum_channel_id)
    assert thread["name"] == "What did you think of In the Mood for Love?"
    assert any(m.get("poll") for m in double.messages_in(announcement.thread_id))

    # Archived, then re-opened by hand: unarchived, no second opening message.
    thread["thread_metadata"]["archived"] = True
    await double.dispatch("THREAD_UPDATE", thread)
    record = await double.invoke_command(world.guild_id, world.forum_channel_id, world.admin_id,
                                         "discussion open", {"review": review.slug})
    await record.wait_followup(timeout=10)
    assert thread["thread_metadata"]["archived"] is False
    assert sum(1 for m in double.messages_in(announcement.thread_id) if m.get("poll")) == 1
    await run_bot.stop(bot)


async def test_text_channel_announcement_without_review_thread_is_ignored_safely(
    double: DiscordDouble, world, run_bot
) -> None:
    """An announcement whose message vanished: no crash, nothing recorded."""
    bot = await run_bot()
    review = await store_review(bot)
    announcement = await announce_in_text_channel(bot, world, review)
    await double.delete_message(world.text_channel_id, announcement.message_id)
    cog = bot.get_cog("Discussions")
    assert await cog.open_discussion(review, announcement) is None
    assert (await AnnouncementRepository(bot.db).get(review.id, world.guild_id)).thread_id is None
    await run_bot.stop(bot)
