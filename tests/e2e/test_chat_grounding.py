"""Chat e2e: a mention in a review thread is grounded in the review and the thread's comments."""

from __future__ import annotations

import pytest

from tests.e2e._chat import (
    REVIEW_BODY,
    bot_messages,
    completion_requests,
    mention,
    prompt_text,
    review_thread,
    start_chat_bot,
    wait_reply_text,
)

pytestmark = pytest.mark.e2e


async def test_mention_in_review_thread_sends_review_and_recent_comments(double, world, run_bot, openai_stub) -> None:
    bot = await start_chat_bot(run_bot, openai_stub)
    thread = await review_thread(bot, double, world)
    openai_stub.queue_text("The pineapple tins are about love with a use-by date.")

    await double.post_message(thread.thread_id, world.member_id, f"{mention(double)} what's with the pineapple?")
    text = await wait_reply_text(double, thread.thread_id, lambda t: "use-by date" in t)

    request = completion_requests(openai_stub)[0]["json"]
    prompt = prompt_text({"json": request})
    assert REVIEW_BODY in prompt
    for _, name, content in thread.comments:
        assert content in prompt and name in prompt
    # Member text is fenced as untrusted quotation, and the question is the last user turn.
    assert 'kind="comment"' in prompt and 'untrusted="true"' in prompt
    assert request["messages"][-1]["role"] == "user"
    assert "what's with the pineapple?" in request["messages"][-1]["content"]
    assert request["stream"] is True
    assert {t["function"]["name"] for t in request["tools"]} == {
        "search_films",
        "get_film",
        "search_reviews",
        "discussion_stats",
    }
    # The reply answers the member's message and pings nobody.
    reply = bot_messages(double, thread.thread_id)[0]
    assert reply["message_reference"]["message_id"]
    assert text.startswith("The pineapple tins")


async def test_reply_to_the_bot_continues_without_a_mention(double, world, run_bot, openai_stub) -> None:
    await start_chat_bot(run_bot, openai_stub, edit_interval=0.05)
    openai_stub.queue_text("Try Fallen Angels next.")
    await double.post_message(world.text_channel_id, world.member_id, f"{mention(double)} what next?")
    await wait_reply_text(double, world.text_channel_id, lambda t: t == "Try Fallen Angels next.")
    bot_reply = bot_messages(double, world.text_channel_id)[0]

    openai_stub.queue_text("It's the companion piece.")
    await double.post_message(world.text_channel_id, world.member_id, "why that one?", reference=int(bot_reply["id"]))
    await wait_reply_text(double, world.text_channel_id, lambda t: "companion piece" in t)
    # A plain message that neither mentions nor replies to the bot is left alone.
    await double.post_message(world.text_channel_id, world.member_id, "thanks all")
    assert len(completion_requests(openai_stub)) == 2


async def test_ask_streams_into_the_interaction(double, world, run_bot, openai_stub) -> None:
    await start_chat_bot(run_bot, openai_stub, edit_interval=0.05)
    openai_stub.queue_text("In the Mood for Love, without a doubt.")
    record = await double.invoke_command(
        world.guild_id, world.text_channel_id, world.member_id, "ask", {"question": "Best Wong Kar-wai?"}
    )
    assert (await record.wait_response())["type"] == 5
    first = await record.wait_followup()
    await double.wait_until(lambda: record.followups[0]["content"] == "In the Mood for Love, without a doubt.")
    assert first["id"] == record.followups[0]["id"]
    request = completion_requests(openai_stub)[0]["json"]
    assert "Best Wong Kar-wai?" in request["messages"][-1]["content"]


async def test_moderation_flags_input_before_the_model_sees_it(double, world, run_bot, openai_stub) -> None:
    await start_chat_bot(run_bot, openai_stub, edit_interval=0.05, openai_moderation=True)
    openai_stub.flag_moderation(["nastyword"])
    await double.post_message(world.text_channel_id, world.member_id, f"{mention(double)} nastyword you")
    text = await wait_reply_text(double, world.text_channel_id, lambda t: bool(t))

    assert "rather not respond" in text
    assert completion_requests(openai_stub) == []
    assert [r["path"] for r in openai_stub.requests] == ["/v1/moderations"]


async def test_with_every_feature_loaded_comments_stored_by_discussions_ground_the_reply(
    double, world, run_bot, openai_stub
) -> None:
    from tests.e2e._chat import llm_settings
    from tests.e2e._discussions import open_thread, wait_rows

    bot = await run_bot(**llm_settings(openai_stub))  # all extensions, as in production
    assert "cogs.chat" not in bot.failed_extensions
    opened = await open_thread(bot, double, world)
    await double.post_message(opened.thread_id, world.admin_id, "That jukebox scene never leaves me.")
    await wait_rows(bot, double, "SELECT 1 FROM comments WHERE thread_id = ?", (opened.thread_id,), count=1)
    openai_stub.queue_text("The jukebox is the film's heartbeat.")
    await double.post_message(opened.thread_id, world.member_id, f"{mention(double)} why the jukebox?")
    await wait_reply_text(double, opened.thread_id, lambda t: "heartbeat" in t)

    prompt = prompt_text(completion_requests(openai_stub)[-1])
    assert "canned pineapple" in prompt  # the review, stored by the test helper
    assert "That jukebox scene never leaves me." in prompt  # a comment the discussions feature stored
