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
