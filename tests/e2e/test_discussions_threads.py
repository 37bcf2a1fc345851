"""Announcement → thread + opening message with prompts and a star poll; spoilers; /discussion open."""

from __future__ import annotations

import pytest

from bot.discord_double import DiscordDouble
from bot.storage import AnnouncementRepository, ReviewRepository
from tests.e2e._discussions import announce_in_text_channel, open_thread, review_fields, store_review, wait_rows

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
    assert body["content"] == (
        "**What did you think of Chungking Express?**\n"
        "A few questions to get you started:\n"
        "• The review gives it ★★★★½ (4.5/5). Too generous, too harsh, or about right?\n"
        "• The review picks out loneliness and Hong Kong. Did those themes land for you?\n"
        "• Would you recommend Chungking Express to a friend who hasn't seen it? Who would love it most?\n"
        "Vote in the poll below, and reply here: every message becomes a comment on the review."
    )
    assert body["poll"] == {
        "question": {"text": "How many stars would you give Chungking Express?"},
        "answers": [{"poll_media": {"text": stars}} for stars in ("★", "★★", "★★★", "★★★★", "★★★★★")],
        "duration": 168,
        "allow_multiselect": False,
        "layout_type": 1,
    }

    announcement = await AnnouncementRepository(bot.db).get(opened.review.id, world.guild_id)
    assert announcement.thread_id == thread_id
    row = await bot.db.fetchone(
        "SELECT review_id, thread_id FROM discussion_polls WHERE message_id = ?", (int(opened.opening["id"]),)
    )
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
    assert (
        "1 days" in (await record.wait_response())["data"]["content"] or "1 day" in record.response["data"]["content"]
    )
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

    refused = await double.invoke_command(
        world.guild_id, opened.thread_id, world.member_id, "discussion spoilers", {"state": "on"}
    )
    assert (await refused.wait_response())["data"]["flags"] & EPHEMERAL
    assert "Manage Threads" in refused.response["data"]["content"]

    record = await double.invoke_command(
        world.guild_id, opened.thread_id, world.admin_id, "discussion spoilers", {"state": "on"}
    )
    followup = await record.wait_followup()
    assert "spoiler thread" in followup["content"]
    assert double.channels[opened.thread_id]["name"] == "⚠ Spoilers: What did you think of Chungking Express?"
    opening = double.get_message(opened.thread_id, int(opened.opening["id"]))
    assert "Spoiler thread" in opening["content"]
    assert (await AnnouncementRepository(bot.db).by_thread(opened.thread_id)).spoiler

    record = await double.invoke_command(
        world.guild_id, opened.thread_id, world.admin_id, "discussion spoilers", {"state": "off"}
    )
    await record.wait_followup()
    assert double.channels[opened.thread_id]["name"] == "What did you think of Chungking Express?"
    assert "Spoiler thread" not in double.get_message(opened.thread_id, int(opened.opening["id"]))["content"]
    await run_bot.stop(bot)


async def test_admin_opens_and_reopens_a_thread_by_hand(double: DiscordDouble, world, run_bot) -> None:
    bot = await run_bot()
    review = await store_review(
        bot,
        slug="in-the-mood",
        source_key="mood.md",
        title="In the Mood for Love",
        film_title="In the Mood for Love",
        film_year=2000,
    )
    choices = await double.autocomplete_choices(
        world.guild_id, world.text_channel_id, world.admin_id, "discussion open", {"review": "mood"}, "review"
    )
    assert choices == [{"name": "In the Mood for Love", "value": str(review.id)}]

    refused = await double.invoke_command(
        world.guild_id, world.forum_channel_id, world.member_id, "discussion open", {"review": str(review.id)}
    )
    assert "Manage Server" in (await refused.wait_response())["data"]["content"]

    record = await double.invoke_command(
        world.guild_id, world.forum_channel_id, world.admin_id, "discussion open", {"review": str(review.id)}
    )
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
    record = await double.invoke_command(
        world.guild_id, world.forum_channel_id, world.admin_id, "discussion open", {"review": review.slug}
    )
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


async def test_forum_post_from_the_announcer_gets_the_opening_message(double: DiscordDouble, world, run_bot) -> None:
    bot = await run_bot()
    review = await store_review(bot)
    forum = bot.get_channel(world.forum_channel_id)
    # What the announcer does for a forum: the post (review embed as starter), then record it.
    created = await forum.create_thread(
        name="What did you think of Chungking Express?", content="review card", auto_archive_duration=10080
    )
    early = await double.post_message(created.thread.id, world.member_id, "First!")  # before we know the thread
    announcement = await AnnouncementRepository(bot.db).record_sent(
        review.id, world.guild_id, forum.id, created.message.id, thread_id=created.thread.id
    )
    bot.dispatch("review_announced", review, announcement)
    opening = await double.wait_until(
        lambda: next((m for m in double.messages_in(created.thread.id) if m.get("poll")), None), timeout=10
    )
    assert opening["content"].startswith("**What did you think of Chungking Express?**")
    assert double.find_requests("POST", r"/messages/\d+/threads$") == []  # no second thread
    assert double.find_requests("PATCH", rf"/channels/{created.thread.id}$") == []  # name already right

    member_post = await double.post_message(created.thread.id, world.member_id, "Forum comment")
    rows = await wait_rows(bot, double, "SELECT message_id, review_id FROM comments ORDER BY message_id", count=2)
    assert [tuple(r) for r in rows] == [(int(early["id"]), review.id), (int(member_post["id"]), review.id)]

    # The review's front matter later says "spoilers": the thread becomes a spoiler thread.
    updated, _ = await ReviewRepository(bot.db).upsert(**review_fields(spoilers=True, content_hash="v2"))
    bot.dispatch("review_updated", updated)
    await double.wait_until(lambda: double.channels[created.thread.id]["name"].startswith("⚠ Spoilers"), timeout=10)
    await double.wait_until(
        lambda: "Spoiler thread" in double.get_message(created.thread.id, int(opening["id"]))["content"], timeout=10
    )
    await run_bot.stop(bot)


async def test_export_autocomplete_lists_reviews(double: DiscordDouble, world, run_bot) -> None:
    bot = await run_bot()
    review = await store_review(bot)
    choices = await double.autocomplete_choices(
        world.guild_id, world.text_channel_id, world.admin_id, "matinee export", {"review": "chungk"}, "review"
    )
    assert choices == [{"name": review.title, "value": str(review.id)}]
    await run_bot.stop(bot)


async def test_model_failure_or_junk_falls_back_to_template_prompts(
    double: DiscordDouble, world, run_bot, openai_stub
) -> None:
    bot = await run_bot(openai_base_url=openai_stub.base_url)
    openai_stub.queue_error(500)
    opened = await open_thread(bot, double, world)
    content = double.find_requests("POST", rf"/channels/{opened.thread_id}/messages$")[0].json["content"]
    assert "• The review gives it ★★★★½ (4.5/5)." in content
    assert len(openai_stub.requests) == 1  # no retries: a short, single attempt

    openai_stub.queue_text("Sure! @everyone")  # not a list of prompts
    second = await open_thread(bot, double, world, slug="fallen-angels", source_key="fa.md", film_title="Fallen Angels")
    content = double.find_requests("POST", rf"/channels/{second.thread_id}/messages$")[0].json["content"]
    assert "@everyone" not in content and "• The review gives it" in content
    await run_bot.stop(bot)


async def test_thread_creation_refused_by_discord_is_logged_not_fatal(
    double: DiscordDouble, world, run_bot, caplog: pytest.LogCaptureFixture
) -> None:
    bot = await run_bot()
    review = await store_review(bot)
    announcement = await announce_in_text_channel(bot, world, review)
    double.inject_fault("POST", r"/messages/\d+/threads$", 403)
    cog = bot.get_cog("Discussions")
    assert await cog.open_discussion(review, announcement) is None
    assert "could not create the thread" in caplog.text
    # Once the permission is fixed, the same announcement opens normally.
    thread = await cog.open_discussion(review, announcement)
    assert thread is not None and thread.id == announcement.message_id
    assert any(m.get("poll") for m in double.messages_in(thread.id))
    await run_bot.stop(bot)


async def test_staff_name_a_review_by_its_post_address_or_slug(double: DiscordDouble, world, run_bot) -> None:
    """/discussion open and /matinee export take the blog's address as well as the list's choice."""
    bot = await run_bot()
    post = "https://blog.example/2026/11/24/in-the-mood-for-love-a-review/"
    review = await store_review(
        bot, slug=None, source_key="mood.md", url=post, title="In the Mood for Love", film_title="In the Mood for Love"
    )
    assert review.slug == "in-the-mood-for-love-a-review"
    pasted = "http://www.blog.example/2026/11/24/in-the-mood-for-love-a-review?utm_source=newsletter"
    choices = await double.autocomplete_choices(
        world.guild_id, world.text_channel_id, world.admin_id, "discussion open", {"review": pasted}, "review"
    )
    assert choices[0] == {"name": "In the Mood for Love", "value": str(review.id)}

    record = await double.invoke_command(
        world.guild_id, world.text_channel_id, world.admin_id, "discussion open", {"review": pasted}
    )
    await record.wait_followup(timeout=10)
    announcement = await AnnouncementRepository(bot.db).get(review.id, world.guild_id)
    assert announcement is not None and announcement.thread_id

    for name in (post, "In-The-Mood-For-Love-A-Review"):
        record = await double.invoke_command(
            world.guild_id, world.text_channel_id, world.admin_id, "matinee export", {"review": name, "format": "json"}
        )
        await record.wait_followup(timeout=10)
        upload = double.find_requests("POST", r"/webhooks/")[-1]
        assert upload.files[0].filename == f"in-the-mood-for-love-a-review-{review.id}-comments.json"

    unknown = await double.invoke_command(
        world.guild_id, world.text_channel_id, world.admin_id, "discussion open", {"review": "https://blog.example/x/"}
    )
    text = (await unknown.wait_response())["data"]["content"]
    assert "slug, id or post address" in text
    await run_bot.stop(bot)
