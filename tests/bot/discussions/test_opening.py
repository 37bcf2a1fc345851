"""Opening a discussion through a fake Discord: once, under concurrency, in forums, by hand, spoilers."""

from __future__ import annotations

import asyncio
import logging
from types import SimpleNamespace

import pytest

from bot.discussions.opening import opening_nonce
from bot.discussions.opening_prompts import SPOILER_NOTICE, template_prompts
from bot.discussions.transport import TransportError
from bot.errors import UserFacingError
from bot.storage import (
    AnnouncementRepository,
    BatchedWriter,
    CommentRepository,
    Database,
    DiscussionThreadRepository,
    GuildSettingsRepository,
    PollRepository,
    ReviewRepository,
)
from tests.bot.discussions.fakes import FORUM_CHANNEL, GUILD, MEMBER, TEXT_CHANNEL, FakeTransport, make_feature


@pytest.fixture
async def env(db: Database, writer: BatchedWriter):
    transport = FakeTransport()
    feature = make_feature(db, writer, transport)
    await feature.load()
    review, _ = await ReviewRepository(db).upsert(
        source="s", source_key="k", slug="heat", title="Heat", film_title="Heat", rating=4.0, content_hash="1"
    )
    yield SimpleNamespace(
        db=db,
        transport=transport,
        feature=feature,
        opening=feature.opening,
        review=review,
        announcements=AnnouncementRepository(db),
        threads=DiscussionThreadRepository(db),
        polls=PollRepository(db, writer),
        comments=CommentRepository(db, writer),
    )
    await feature.close()


async def announce_in_text_channel(env) -> object:
    """What the reviews feature does: post the card and record the announcement as sent."""
    message_id = await env.transport.send_review_card(TEXT_CHANNEL, env.review)
    env.transport.calls.clear()
    return await env.announcements.record_sent(env.review.id, GUILD, TEXT_CHANNEL, message_id)


async def test_an_announcement_in_a_text_channel_gets_a_thread_an_opening_and_a_poll(env) -> None:
    announcement = await announce_in_text_channel(env)
    thread = await env.opening.open(env.review, announcement)

    assert thread is not None and thread.id == announcement.message_id  # started from the announcement
    assert env.transport.called("create_thread") == [
        (TEXT_CHANNEL, announcement.message_id, "What did you think of Heat?", 10080)
    ]
    [(thread_id, content, poll)] = env.transport.called("post_opening")
    assert thread_id == thread.id and content.startswith("**What did you think of Heat?**")
    assert "• The review gives it ★★★★ (4/5)." in content  # no model: the templates
    assert poll.question == "How many stars would you give Heat?" and len(poll.answers) == 5
    assert (await env.announcements.get(env.review.id, GUILD)).thread_id == thread.id
    record = await env.threads.get(thread.id)
    info = await env.polls.get_poll(record.opening_message_id)
    assert (info.review_id, info.guild_id, info.thread_id) == (env.review.id, GUILD, thread.id)
    assert env.feature.poll_service.is_known(record.opening_message_id)
    assert (await env.feature.index.thread(thread.id)).review_id == env.review.id

    # The same event again (a retried dispatch) opens nothing twice.
    again = await env.opening.open(env.review, await env.announcements.get(env.review.id, GUILD))
    assert again is not None and again.id == thread.id
    assert len(env.transport.called("post_opening")) == 1


async def test_concurrent_announcement_events_open_the_discussion_once(env) -> None:
    announcement = await announce_in_text_channel(env)
    env.transport.latency = 0.001  # every request yields, so the five attempts interleave
    results = await asyncio.gather(*(env.opening.open(env.review, announcement) for _ in range(5)))
    assert {r.id for r in results} == {announcement.message_id}
    assert len(env.transport.called("create_thread")) == 1
    assert len(env.transport.called("post_opening")) == 1
    assert await env.db.fetchval("SELECT count(*) FROM discussion_polls") == 1


async def test_the_model_writes_the_prompts_when_it_can(db, writer) -> None:
    transport = FakeTransport()
    asked = []

    async def model(review):
        asked.append(review.id)
        return ["Why the diner scene?", "Who wins?"] if len(asked) == 1 else None

    feature = make_feature(db, writer, transport, write_prompts=model)
    announcements = AnnouncementRepository(db)
    reviews = ReviewRepository(db)
    opened = []
    for slug in ("heat", "ronin"):
        review, _ = await reviews.upsert(source="s", source_key=slug, slug=slug, title=slug, content_hash="1")
        message_id = await transport.send_review_card(TEXT_CHANNEL, review)
        await feature.opening.open(review, await announcements.record_sent(review.id, GUILD, TEXT_CHANNEL, message_id))
        opened.append(review)
    first, second = [content for _, content, _ in transport.called("post_opening")]
    assert "• Why the diner scene?\n• Who wins?" in first
    templates = "\n".join(f"• {p}" for p in template_prompts(opened[1]))
    assert templates in second and "Why the diner scene?" not in second  # None from the model: the templates
    assert len(asked) == 2


async def test_a_forum_post_is_adopted_renamed_and_its_early_replies_caught(env) -> None:
    await GuildSettingsRepository(env.db).update(GUILD, auto_archive_minutes=1440)
    post_id = env.transport.add_thread(name="Heat (2024 review)")  # the announcer's post
    early = env.transport.post(post_id, content="First!")  # before we knew it was a review thread
    announcement = await env.announcements.record_sent(env.review.id, GUILD, FORUM_CHANNEL, post_id, thread_id=post_id)
    thread = await env.opening.open(env.review, announcement)

    assert thread.id == post_id and env.transport.called("create_thread") == []
    assert env.transport.called("edit_thread") == [(post_id, "What did you think of Heat?", 1440, None, None)]
    assert env.transport.threads[post_id].name == "What did you think of Heat?"
    stored = await _eventually(lambda: env.comments.for_thread(post_id))  # a backfill in the background
    assert [c.message_id for c in stored] == [early.message_id]


async def test_a_live_reply_before_the_adoption_backfill_cannot_hide_the_early_ones(env) -> None:
    """The adopted post owes a backfill from the start: a live message stored first doesn't move the cursor past."""
    post_id = env.transport.add_thread(name="Heat (2024 review)")
    early = env.transport.post(post_id, content="First!")
    announcement = await env.announcements.record_sent(env.review.id, GUILD, FORUM_CHANNEL, post_id, thread_id=post_id)
    scheduled: list[int] = []
    env.feature.backfill.schedule = scheduled.append  # hold the background backfill: the live event wins the race
    await env.opening.open(env.review, announcement)
    assert scheduled == [post_id] and await env.threads.owed(post_id) > 0
    live = env.transport.post(post_id, content="Forum comment")
    await env.feature.comment_service.ingest(live)
    assert await env.threads.last_message_id(post_id) is None  # the cursor did not jump the unread reply

    await env.feature.backfill.backfill_thread(post_id)
    stored = await env.comments.for_thread(post_id)
    assert [c.message_id for c in stored] == [early.message_id, live.message_id]
    assert await env.threads.owed(post_id) == 0


async def _eventually(read, timeout: float = 5.0):
    """Await ``read()`` until it returns something truthy."""

    async def loop():
        while not (value := await read()):
            await asyncio.sleep(0.01)
        return value

    return await asyncio.wait_for(loop(), timeout)


async def test_a_refused_thread_is_logged_then_opened_once_discord_allows_it(env, caplog) -> None:
    announcement = await announce_in_text_channel(env)
    env.transport.fail["create_thread"] = TransportError("Missing Permissions", status=403)
    with caplog.at_level(logging.WARNING):
        assert await env.opening.open(env.review, announcement) is None
    assert "could not create the thread" in caplog.text
    assert (await env.announcements.get(env.review.id, GUILD)).thread_id is None
    assert env.transport.called("post_opening") == []

    del env.transport.fail["create_thread"]
    thread = await env.opening.open(env.review, announcement)
    assert thread.id == announcement.message_id and len(env.transport.called("post_opening")) == 1


async def test_an_announcement_whose_thread_is_gone_opens_nothing(env) -> None:
    announcement = await env.announcements.record_sent(env.review.id, GUILD, FORUM_CHANNEL, 4242, thread_id=4242)
    assert await env.opening.open(env.review, announcement) is None
    assert env.transport.called("post_opening") == []


async def test_opening_by_hand_in_a_text_channel_posts_a_card_and_threads_from_it(env) -> None:
    thread = await env.opening.open_by_hand(env.review, GUILD, TEXT_CHANNEL)

    [(channel_id, review_id)] = env.transport.called("send_review_card")
    assert (channel_id, review_id) == (TEXT_CHANNEL, env.review.id)
    announcement = await env.announcements.get(env.review.id, GUILD)
    assert announcement.state == "sent" and announcement.channel_id == TEXT_CHANNEL
    assert thread.id == announcement.message_id == announcement.thread_id
    assert env.transport.called("create_thread")[0][:2] == (TEXT_CHANNEL, announcement.message_id)
    assert len(env.transport.called("post_opening")) == 1


async def test_opening_by_hand_in_a_forum_makes_the_post_the_thread(env) -> None:
    thread = await env.opening.open_by_hand(env.review, GUILD, FORUM_CHANNEL)

    assert env.transport.called("create_thread") == [] and env.transport.called("send_review_card") == []
    assert env.transport.called("create_forum_post") == [(FORUM_CHANNEL, env.review.id, "What did you think of Heat?")]
    announcement = await env.announcements.get(env.review.id, GUILD)
    assert announcement.channel_id == FORUM_CHANNEL and announcement.thread_id == thread.id
    assert [args[0] for args in env.transport.called("post_opening")] == [thread.id]
    assert env.transport.called("edit_thread") == []  # the post already has our name and archive setting


async def test_opening_by_hand_elsewhere_says_where_it_works(env) -> None:
    thread_id = env.transport.add_thread()
    with pytest.raises(UserFacingError, match="text or forum channel"):
        await env.opening.open_by_hand(env.review, GUILD, thread_id)
    env.transport.fail["send_review_card"] = TransportError("Missing Access", status=403)
    with pytest.raises(UserFacingError, match="check my permissions"):
        await env.opening.open_by_hand(env.review, GUILD, TEXT_CHANNEL)
    assert await env.announcements.get(env.review.id, GUILD) is None


async def test_reopening_by_hand_unarchives_without_a_second_opening(env) -> None:
    first = await env.opening.open_by_hand(env.review, GUILD, TEXT_CHANNEL)
    await env.transport.edit_thread(first.id, archived=True, locked=True)
    env.transport.calls.clear()

    again = await env.opening.open_by_hand(env.review, GUILD, FORUM_CHANNEL)  # from anywhere: same thread
    assert again.id == first.id and not again.archived and not again.locked
    assert env.transport.called("edit_thread") == [(first.id, None, None, False, False)]
    assert env.transport.called("post_opening") == [] and env.transport.called("create_forum_post") == []


async def test_staff_toggle_spoilers_and_a_review_update_marks_them(env) -> None:
    announcement = await announce_in_text_channel(env)
    thread = await env.opening.open(env.review, announcement)
    opening_id = (await env.threads.get(thread.id)).opening_message_id

    await env.opening.set_spoiler(thread.id, env.review, True)
    assert env.transport.threads[thread.id].name == "⚠ Spoilers: What did you think of Heat?"
    assert env.transport.contents[opening_id].split("\n")[1] == SPOILER_NOTICE
    assert (await env.announcements.by_thread(thread.id)).spoiler
    assert (await env.feature.index.thread(thread.id)).spoiler

    await env.opening.set_spoiler(thread.id, env.review, False)
    assert env.transport.threads[thread.id].name == "What did you think of Heat?"
    assert SPOILER_NOTICE not in env.transport.contents[opening_id]

    # The review's front matter now says "spoilers": the thread follows.
    updated, _ = await ReviewRepository(env.db).upsert(
        source="s", source_key="k", slug="heat", title="Heat", film_title="Heat", spoilers=True, content_hash="2"
    )
    await env.opening.review_updated(updated)
    assert env.transport.threads[thread.id].name.startswith("⚠ Spoilers")
    assert SPOILER_NOTICE in env.transport.contents[opening_id]


async def test_a_failed_edit_of_the_opening_is_only_logged(env, caplog) -> None:
    thread = await env.opening.open(env.review, await announce_in_text_channel(env))
    env.transport.fail["edit_message"] = TransportError("Unknown Message", status=404)
    with caplog.at_level(logging.WARNING):
        await env.opening.set_spoiler(thread.id, env.review, True)
    assert "could not update the opening message" in caplog.text
    assert env.transport.threads[thread.id].name.startswith("⚠ Spoilers")


async def test_summary_and_archive_setting_go_through_the_feature(env) -> None:
    thread = await env.opening.open(env.review, await announce_in_text_channel(env))
    env.transport.post(thread.id, MEMBER, "great")
    await env.feature.backfill.backfill_thread(thread.id)
    ref, review = await env.feature.review_thread(thread.id)
    assert review.id == env.review.id
    assert await env.feature.summary(ref, review) == "1 comments, spoiler=False"
    with pytest.raises(UserFacingError, match="inside a review's discussion thread"):
        await env.feature.review_thread(999)
    with pytest.raises(UserFacingError, match="offered durations"):
        await env.feature.set_archive_after(GUILD, 61)
    await env.feature.set_archive_after(GUILD, 4320)
    assert (await GuildSettingsRepository(env.db).get(GUILD)).auto_archive_minutes == 4320


# -- exactly once when Discord's answer is lost or the process stops ---------------------------------

LOST = TransportError("Discord error 502: Bad Gateway", status=502)


async def test_the_opening_is_sent_with_a_nonce_derived_from_the_thread(env) -> None:
    thread = await env.opening.open(env.review, await announce_in_text_channel(env))
    assert list(env.transport.nonces) == [opening_nonce(thread.id)]
    assert len(opening_nonce(2**64 - 1)) <= 25  # Discord's limit, for any snowflake


async def test_a_lost_answer_to_the_opening_never_posts_a_second_one(env) -> None:
    announcement = await announce_in_text_channel(env)
    env.transport.lose_answer["post_opening"] = [LOST]  # Discord posted it; the answer never came back
    assert await env.opening.open(env.review, announcement) is not None  # the thread; its opening failed
    thread_id = announcement.message_id
    [posted] = env.transport.openings[thread_id]
    assert (await env.threads.get(thread_id)).opening_message_id is None
    assert (await env.threads.get(thread_id)).opening_attempts == 1

    # Later (Discord's nonce memory has passed) the discussion is opened again, e.g. at the next start.
    env.transport.nonces.clear()
    assert await env.opening.resume() == 1
    assert env.transport.openings[thread_id] == [posted]  # found in the thread and adopted, not re-sent
    assert len(env.transport.called("post_opening")) == 1
    assert env.transport.called("find_opening") == [(thread_id,)]
    assert (await env.threads.get(thread_id)).opening_message_id == posted
    assert (await env.polls.get_poll(posted)).thread_id == thread_id  # its votes are counted
    assert await env.opening.resume() == 0


async def test_an_opening_that_was_never_posted_is_posted_once_after_an_attempt(env) -> None:
    announcement = await announce_in_text_channel(env)
    env.transport.fail["post_opening"] = LOST  # Discord failed before doing anything
    await env.opening.open(env.review, announcement)
    assert (await env.threads.get(announcement.message_id)).opening_message_id is None
    del env.transport.fail["post_opening"]

    assert await env.opening.resume() == 1
    assert env.transport.called("find_opening") == [(announcement.message_id,)]  # looked first: nothing there
    assert len(env.transport.openings[announcement.message_id]) == 1


async def test_a_lost_answer_to_the_thread_creation_leaves_one_thread_opened_once(env) -> None:
    announcement = await announce_in_text_channel(env)
    env.transport.lose_answer["create_thread"] = [LOST]
    assert await env.opening.open(env.review, announcement) is None  # logged; the thread exists on Discord
    assert list(env.transport.threads) == [announcement.message_id]

    assert await env.opening.resume() == 1  # at the next start: the existing thread is found, not a second one
    assert list(env.transport.threads) == [announcement.message_id]
    assert len(env.transport.openings[announcement.message_id]) == 1
    assert (await env.announcements.get(env.review.id, GUILD)).thread_id == announcement.message_id


async def test_resume_opens_only_recent_announcements_without_an_opening(env) -> None:
    opened = await env.opening.open(env.review, await announce_in_text_channel(env))
    old, _ = await ReviewRepository(env.db).upsert(
        source="s", source_key="old", slug="old", title="Old", content_hash="1"
    )
    message_id = await env.transport.send_review_card(TEXT_CHANNEL, old)
    await env.announcements.record_sent(old.id, GUILD, TEXT_CHANNEL, message_id)
    await env.db.execute("UPDATE announcements SET sent_at = '2000-01-01T00:00:00.000Z' WHERE review_id = ?", (old.id,))
    env.transport.calls.clear()

    assert await env.opening.resume() == 0  # one is opened already, the other is too old to open now
    assert env.transport.calls == []
    assert list(env.transport.openings) == [opened.id]
