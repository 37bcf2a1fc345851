"""Discord faults end to end: rate limits, server errors, gateway drops.

In every case: no member message is lost (stored comments == messages posted),
and no announcement, thread or opening message is duplicated.
"""

from __future__ import annotations

import asyncio

import pytest

from bot.discord_double import DiscordDouble, DiscordError
from tests.e2e._discussions import open_thread, wait_rows
from tests.e2e.reviews_support import bot_posts, forum_posts, run_command
from tests.reliability._audit import mention_violations
from tests.reliability._reviews import first_scan_done

pytestmark = pytest.mark.e2e

FAULTS = {
    "per-route 429": dict(status=429, retry_after=0.3),
    "global 429 with Retry-After": dict(status=429, retry_after=1.0, global_=True),
    "500": dict(status=500),
    "502": dict(status=502),
}


def write_review(directory, name: str = "heat") -> None:
    (directory / f"{name}.md").write_text(
        f"---\ntitle: {name.title()} reconsidered\nfilm: {name.title()}\nyear: 1995\nrating: 4\n"
        f"date: 2025-03-01\nurl: https://blog.example/{name}/\n---\nTwo men, one table.\n",
        encoding="utf-8",
    )


async def setup_channel(double: DiscordDouble, world, channel_id: int) -> None:
    answer = await run_command(double, world.guild_id, channel_id, world.admin_id, "matinee setup", channel=channel_id)
    assert "announced in" in answer["content"], answer


def openings(double: DiscordDouble, thread_id: int) -> list[dict]:
    return [m for m in double.messages_in(thread_id) if m.get("poll")]


async def quiet(bot, seconds: float = 1.5) -> None:
    """Let the reviews loop run a few more turns (a duplicate would show up now)."""
    cog = bot.get_cog("Reviews")
    for _ in range(3):
        await cog.run_once()
    await asyncio.sleep(seconds)


@pytest.mark.parametrize("fault", sorted(FAULTS))
async def test_announcement_and_thread_survive_rest_faults_exactly_once(double, world, run_bot, fault: str) -> None:
    bot = await run_bot(feed_poll_seconds=1)
    await setup_channel(double, world, world.text_channel_id)
    channel = world.text_channel_id
    hits = [
        double.inject_fault("POST", rf"^/channels/{channel}/messages$", **FAULTS[fault]),
        double.inject_fault("POST", rf"^/channels/{channel}/messages/\d+/threads$", **FAULTS[fault]),
        double.inject_fault("POST", r"^/channels/\d+/messages$", **FAULTS[fault]),  # the opening message
    ]
    await first_scan_done(bot)  # a file there before the first scan is history
    write_review(run_bot.reviews_dir)
    await double.wait_until(lambda: bot_posts(double, channel), timeout=30)
    thread_id = int(bot_posts(double, channel)[0]["id"])
    await double.wait_until(lambda: openings(double, thread_id), timeout=30)
    await quiet(bot)
    assert all(f.hits >= 1 for f in hits[:2]), "the faults were not hit; the test proved nothing"
    assert len(bot_posts(double, channel)) == 1
    assert len(openings(double, thread_id)) == 1
    assert double.channels[thread_id]["name"].startswith("What did you think")
    rows = await bot.db.fetchall("SELECT state FROM announcements")
    assert [r[0] for r in rows] == ["sent"]
    assert mention_violations(double) == []
    await run_bot.stop(bot)


def lose_responses(double: DiscordDouble, handler_name: str, times: int = 1) -> list[int]:
    """Discord does the work, then the answer is lost (a 500 after the fact). Returns a hit counter."""
    hits = [0]
    for route in double._routes:
        if route.handler.__name__ == handler_name:
            original = route.handler

            async def lossy(*args, _original=original):
                result = await _original(*args)
                if hits[0] < times:
                    hits[0] += 1
                    raise DiscordError(500, 0, "500: Internal Server Error (after the fact)")
                return result

            route.handler = lossy
    return hits


async def test_a_lost_response_to_an_announcement_does_not_duplicate_it(double, world, run_bot) -> None:
    bot = await run_bot(feed_poll_seconds=1)
    await setup_channel(double, world, world.text_channel_id)
    hits = lose_responses(double, "_r_post_message")
    await first_scan_done(bot)  # a file there before the first scan is history
    write_review(run_bot.reviews_dir)
    await double.wait_until(lambda: bot_posts(double, world.text_channel_id), timeout=30)
    await quiet(bot, 2.5)
    assert hits[0] == 1
    assert len(bot_posts(double, world.text_channel_id)) == 1  # the nonce made the retry idempotent
    await run_bot.stop(bot)


def threads_of(double: DiscordDouble, channel_id: int) -> list[dict]:
    return [c for c in double.channels.values() if c.get("parent_id") == str(channel_id)]


async def recorded_opening(bot, thread_id: int) -> int | None:
    return await bot.db.fetchval("SELECT opening_message_id FROM discussion_threads WHERE thread_id = ?", (thread_id,))


async def test_a_lost_response_to_the_thread_creation_leaves_one_thread_with_one_opening(
    double, world, run_bot
) -> None:
    bot = await run_bot(feed_poll_seconds=1)
    await setup_channel(double, world, world.text_channel_id)
    channel = world.text_channel_id
    lost = double.lose_response("POST", rf"^/channels/{channel}/messages/\d+/threads$")  # made, then a 502
    write_review(run_bot.reviews_dir)
    await double.wait_until(lambda: bot_posts(double, channel), timeout=30)
    thread_id = int(bot_posts(double, channel)[0]["id"])
    await double.wait_until(lambda: openings(double, thread_id), timeout=30)
    await quiet(bot)

    assert lost.hits == 1, "the fault was not hit; the test proved nothing"
    assert [int(t["id"]) for t in threads_of(double, channel)] == [thread_id]  # the retry got 160004
    [opening] = openings(double, thread_id)
    assert len(opening["poll"]["answers"]) == 5
    assert await recorded_opening(bot, thread_id) == int(opening["id"])
    await run_bot.stop(bot)


async def test_a_lost_response_to_the_opening_message_does_not_post_a_second_one(double, world, run_bot) -> None:
    bot = await run_bot(feed_poll_seconds=1)
    await setup_channel(double, world, world.text_channel_id)
    channel = world.text_channel_id
    # Any channel but the announcements': the thread's opening message is posted, then answered 502.
    lost = double.lose_response("POST", rf"^/channels/(?!{channel}/)\d+/messages$")
    write_review(run_bot.reviews_dir)
    await double.wait_until(lambda: bot_posts(double, channel), timeout=30)
    thread_id = int(bot_posts(double, channel)[0]["id"])
    await double.wait_until(lambda: openings(double, thread_id), timeout=30)
    await double.wait_until(lambda: len(double.find_requests("POST", rf"^/channels/{thread_id}/messages$")) == 2,
                            timeout=30)  # fmt: skip
    await quiet(bot)

    assert lost.hits == 1, "the fault was not hit; the test proved nothing"
    [opening] = openings(double, thread_id)  # the retry carried the same nonce: Discord returned the first
    sent = double.find_requests("POST", rf"^/channels/{thread_id}/messages$")
    assert [r.json["nonce"] for r in sent] == [f"op{thread_id}"] * 2 and all(r.json["enforce_nonce"] for r in sent)
    await double.wait_until(lambda: bot.get_cog("Discussions").discussions.poll_service.is_known(int(opening["id"])))
    assert await recorded_opening(bot, thread_id) == int(opening["id"])
    await run_bot.stop(bot)


async def test_a_lost_response_to_a_forum_post_does_not_duplicate_it(double, world, run_bot) -> None:
    """Discord makes the post and answers 502: one post, found and recorded, never sent again."""
    bot = await run_bot(feed_poll_seconds=1)
    await setup_channel(double, world, world.forum_channel_id)
    forum = world.forum_channel_id
    lost = double.lose_response("POST", rf"^/channels/{forum}/threads$", 502)
    await first_scan_done(bot)  # a file there before the first scan is history
    write_review(run_bot.reviews_dir)
    await double.wait_until(lambda: forum_posts(double, forum), timeout=30)
    rows = await wait_rows(bot, double, "SELECT thread_id FROM announcements WHERE state = 'sent'", count=1)
    await quiet(bot, 2.5)
    assert lost.hits == 1
    assert [r.status for r in double.find_requests("POST", rf"^/channels/{forum}/threads$")] == [502]  # no retry
    [post] = forum_posts(double, forum)
    assert rows[0][0] == int(post["id"])  # the post Discord made is the one recorded
    assert double.find_requests("GET", rf"^/guilds/{world.guild_id}/threads/active$"), "it looked before re-sending"
    await run_bot.stop(bot)


@pytest.mark.parametrize("fault", sorted(FAULTS))
async def test_interaction_responses_survive_rest_faults(double, world, run_bot, fault: str) -> None:
    bot = await run_bot()
    injected = double.inject_fault("POST", r"^/interactions/\d+/[^/]+/callback$", **FAULTS[fault])
    record = await double.invoke_command(world.guild_id, world.text_channel_id, world.admin_id, "matinee about")
    response = await record.wait_response(timeout=15)
    assert injected.hits == 1
    assert len(record.callbacks) == 1 and response["data"]["embeds"][0]["title"] == "Matinee"
    await run_bot.stop(bot)


async def _comment_count(bot) -> int:
    return await bot.db.fetchval("SELECT count(*) FROM comments")


GATEWAY = ["disconnect + RESUME", "RECONNECT (op 7)", "INVALID_SESSION + IDENTIFY"]


@pytest.mark.parametrize("fault", GATEWAY)
async def test_gateway_faults_lose_no_comment_and_duplicate_nothing(double, world, run_bot, fault: str) -> None:
    bot = await run_bot()
    opened = await open_thread(bot, double, world)
    tid = opened.thread_id
    sent = [await double.post_message(tid, world.member_id, f"before {i}") for i in range(5)]
    await wait_rows(bot, double, "SELECT 1 FROM comments", count=5)
    resumes, identifies = double.resume_count, double.identify_count

    double.hold_connections()
    if fault == "disconnect + RESUME":
        await double.disconnect()
    elif fault == "RECONNECT (op 7)":
        await double.reconnect()
    else:
        await double.invalid_session(resumable=False)
    during = [await double.post_message(tid, world.member_id, f"during {i}") for i in range(20)]
    double.release_connections()
    if fault == "INVALID_SESSION + IDENTIFY":
        await double.wait_until(lambda: double.identify_count > identifies, timeout=20)
    else:
        await double.wait_until(lambda: double.resume_count > resumes, timeout=20)
        assert double.replayed_count >= 20
    after = [await double.post_message(tid, world.member_id, f"after {i}") for i in range(5)]

    expected = sorted(int(m["id"]) for m in (*sent, *during, *after))
    rows = await wait_rows(bot, double, "SELECT message_id FROM comments ORDER BY message_id", count=30, timeout=20)
    await asyncio.sleep(0.5)  # a late duplicate or a second backfill would show up now
    assert [r[0] for r in rows] == expected
    assert await _comment_count(bot) == 30
    assert len(openings(double, tid)) == 1, "the opening message was posted again after the reconnect"
    await run_bot.stop(bot)


@pytest.mark.parametrize("fault", ["per-route 429", "500"])
async def test_streamed_chat_reply_survives_faults_on_its_edits(double, world, run_bot, openai_stub, fault) -> None:
    from tests.e2e._chat import mention, start_chat_bot, wait_reply_text

    await start_chat_bot(run_bot, openai_stub, edit_interval=0.05)
    words = [f"word{i} " for i in range(20)]
    full = "".join(words).strip()
    openai_stub.queue_text("".join(words), chunks=words, delay_between_chunks=0.03)
    injected = double.inject_fault("PATCH", rf"^/channels/{world.text_channel_id}/messages/\d+$", times=2,
                                   **FAULTS[fault])  # fmt: skip
    await double.post_message(world.text_channel_id, world.member_id, f"{mention(double)} talk to me")
    await wait_reply_text(double, world.text_channel_id, lambda t: t == full, timeout=20)
    assert injected.hits >= 1
    replies = [m for m in bot_posts(double, world.text_channel_id) if m["content"].startswith("word0")]
    assert len(replies) == 1, "a failed edit must not turn into a second message"
    assert mention_violations(double) == []


async def test_one_thread_whose_history_is_forbidden_does_not_stop_the_backfill_of_others(
    double, world, run_bot
) -> None:
    bot = await run_bot()
    first = await open_thread(bot, double, world)
    second = await open_thread(bot, double, world, slug="second", source_key="second.md")
    await run_bot.stop(bot)
    missed = [await double.post_message(second.thread_id, world.member_id, f"missed {i}") for i in range(5)]
    await double.post_message(first.thread_id, world.member_id, "unreachable")
    double.inject_fault("GET", rf"^/channels/{first.thread_id}/messages$", 403, times=None,
                        body={"message": "Missing Access", "code": 50001})  # fmt: skip
    bot = await run_bot()
    rows = await wait_rows(bot, double, "SELECT message_id FROM comments WHERE thread_id = ? ORDER BY message_id",
                           (second.thread_id,), count=5, timeout=20)  # fmt: skip
    assert [r[0] for r in rows] == [int(m["id"]) for m in missed]
    await run_bot.stop(bot)


@pytest.mark.parametrize("fault", GATEWAY)
async def test_gateway_faults_after_an_announcement_repeat_nothing(double, world, run_bot, fault: str) -> None:
    bot = await run_bot(feed_poll_seconds=1)
    await setup_channel(double, world, world.text_channel_id)
    await first_scan_done(bot)  # a file there before the first scan is history
    write_review(run_bot.reviews_dir)
    await double.wait_until(lambda: bot_posts(double, world.text_channel_id), timeout=30)
    thread_id = int(bot_posts(double, world.text_channel_id)[0]["id"])
    await double.wait_until(lambda: openings(double, thread_id), timeout=30)
    identifies, resumes = double.identify_count, double.resume_count
    if fault == "disconnect + RESUME":
        await double.disconnect()
    elif fault == "RECONNECT (op 7)":
        await double.reconnect()
    else:
        await double.invalid_session(resumable=False)
    await double.wait_until(lambda: double.identify_count > identifies or double.resume_count > resumes, timeout=20)
    await double.wait_until(lambda: double.connected, timeout=20)
    await quiet(bot)  # start-up work that runs again on a new session would act now
    assert len(bot_posts(double, world.text_channel_id)) == 1
    assert len(openings(double, thread_id)) == 1
    assert len([c for c in double.channels.values() if c.get("parent_id") == str(world.text_channel_id)]) == 1
    await run_bot.stop(bot)
