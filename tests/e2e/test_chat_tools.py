"""Chat e2e: function calling — a tool round trip, malformed arguments, the three-round limit."""

from __future__ import annotations

import json

import pytest

from tests.e2e._chat import completion_requests, mention, review_thread, start_chat_bot, wait_reply_text

pytestmark = pytest.mark.e2e


async def test_tool_call_round_trip_feeds_results_back_to_the_model(double, world, run_bot, openai_stub) -> None:
    bot = await start_chat_bot(run_bot, openai_stub, edit_interval=0.05)
    thread = await review_thread(bot, double, world)
    openai_stub.queue_tool_calls(
        [
            {"id": "call_reviews", "name": "search_reviews", "arguments": '{"query": "pineapple"}'},
            {"id": "call_stats", "name": "discussion_stats", "arguments": "{}"},
        ]
    )
    openai_stub.queue_text("Two members discussed it, and Wren gave it 4.5 stars.")

    await double.post_message(world.text_channel_id, world.member_id, f"{mention(double)} any pineapple reviews?")
    await wait_reply_text(double, world.text_channel_id, lambda t: "4.5 stars" in t)

    first, second = completion_requests(openai_stub)[:2]
    assert first["json"]["tool_choice"] == "auto"
    messages = second["json"]["messages"]
    assistant = messages[-3]
    assert assistant["role"] == "assistant"
    assert [c["id"] for c in assistant["tool_calls"]] == ["call_reviews", "call_stats"]
    reviews_result = json.loads(messages[-2]["content"])
    assert messages[-2]["tool_call_id"] == "call_reviews"
    assert reviews_result["results"][0]["id"] == thread.review.id
    assert reviews_result["results"][0]["title"].startswith("Chungking Express")
    stats = json.loads(messages[-1]["content"])
    # Asked outside the review thread with no review_id: a clean error result, not a crash.
    assert "error" in stats


async def test_malformed_and_unknown_tool_calls_get_error_results(double, world, run_bot, openai_stub) -> None:
    await start_chat_bot(run_bot, openai_stub, edit_interval=0.05)
    openai_stub.queue_tool_calls(
        [
            {"id": "bad", "name": "search_films", "arguments": '{"query": "Chungking'},
            {"id": "nope", "name": "delete_everything", "arguments": "{}"},
        ]
    )
    openai_stub.queue_text("Sorry, I couldn't look that up.")

    await double.post_message(world.text_channel_id, world.member_id, f"{mention(double)} find Chungking")
    await wait_reply_text(double, world.text_channel_id, lambda t: "couldn't look that up" in t)

    messages = completion_requests(openai_stub)[1]["json"]["messages"]
    results = {m["tool_call_id"]: json.loads(m["content"]) for m in messages if m["role"] == "tool"}
    assert "not valid JSON" in results["bad"]["error"]
    assert "unknown tool" in results["nope"]["error"]
    # The echoed call carries valid JSON arguments, so the provider accepts the follow-up request.
    echoed = next(m for m in messages if m.get("tool_calls"))
    assert json.loads(echoed["tool_calls"][0]["function"]["arguments"]) == {}


async def test_after_three_tool_rounds_the_model_must_answer(double, world, run_bot, openai_stub) -> None:
    await start_chat_bot(run_bot, openai_stub, edit_interval=0.05)
    for i in range(4):
        openai_stub.queue_tool_calls([{"name": "search_films", "arguments": json.dumps({"query": f"film {i}"})}])
    openai_stub.queue_text("Final answer without more lookups.")

    await double.post_message(world.text_channel_id, world.member_id, f"{mention(double)} keep searching")
    # The fourth request forces an answer; the stub's fourth scripted reply is still tool calls,
    # which the bot ignores, so the member gets the friendly empty-answer text.
    await wait_reply_text(double, world.text_channel_id, lambda t: bool(t.strip()))
    await double.wait_until(lambda: len(completion_requests(openai_stub)) >= 4)

    requests = completion_requests(openai_stub)
    assert len(requests) == 4
    assert [r["json"]["tool_choice"] for r in requests] == ["auto", "auto", "auto", "none"]
    assert sum(1 for m in requests[-1]["json"]["messages"] if m["role"] == "tool") == 3
