"""Chat e2e: provider failures become friendly replies (429, timeout, context length, cut stream, model)."""

from __future__ import annotations

import logging

import pytest

from tests.e2e._chat import completion_requests, mention, start_chat_bot, wait_reply_text

pytestmark = pytest.mark.e2e


async def ask(double, world, text: str = "hello there") -> None:
    await double.post_message(world.text_channel_id, world.member_id, f"{mention(double)} {text}")


async def test_rate_limited_once_then_success(double, world, run_bot, openai_stub) -> None:
    await start_chat_bot(run_bot, openai_stub, edit_interval=0.05)
    openai_stub.queue_error(429, code="rate_limit_exceeded", message="Slow down", retry_after=0.05)
    openai_stub.queue_text("Second time lucky.")

    await ask(double, world)
    text = await wait_reply_text(double, world.text_channel_id, lambda t: t.endswith("lucky."))

    assert text == "Second time lucky."
    assert len(completion_requests(openai_stub)) == 2  # the client's own retry, honouring retry-after


async def test_rate_limit_that_persists_gets_a_friendly_reply(double, world, run_bot, openai_stub) -> None:
    await start_chat_bot(run_bot, openai_stub, edit_interval=0.05, openai_max_retries=0)
    openai_stub.queue_error(429, code="rate_limit_exceeded", message="Slow down")

    await ask(double, world)
    text = await wait_reply_text(double, world.text_channel_id, lambda t: bool(t))
    assert "too many requests" in text


async def test_timeout_gets_a_friendly_reply_and_is_logged(double, world, run_bot, openai_stub, caplog) -> None:
    await start_chat_bot(run_bot, openai_stub, openai_timeout_seconds=0.3, openai_max_retries=0)
    openai_stub.queue_hang(5)

    await ask(double, world)
    text = await wait_reply_text(double, world.text_channel_id, lambda t: bool(t))

    assert "took too long" in text
    logged = [r.getMessage() for r in caplog.records if r.name == "bot.chat"]
    assert any("kind=timeout" in m for m in logged)
    assert not any("test" in m.split("model=")[0] for m in logged if "api_key" in m)  # no key in logs


async def test_context_length_error_retries_once_with_a_smaller_prompt(double, world, run_bot, openai_stub) -> None:
    await start_chat_bot(run_bot, openai_stub, edit_interval=0.05)
    openai_stub.queue_error(400, code="context_length_exceeded", message="This model's maximum context length is 9")
    openai_stub.queue_text("Short and sweet.")

    await ask(double, world, "tell me everything " + "about cinema " * 400)
    text = await wait_reply_text(double, world.text_channel_id, lambda t: "sweet." in t)

    assert text.startswith("Short and sweet.")
    first, second = completion_requests(openai_stub)
    assert len(str(second["json"]["messages"])) < len(str(first["json"]["messages"]))


async def test_context_length_error_twice_gets_a_friendly_reply(double, world, run_bot, openai_stub) -> None:
    await start_chat_bot(run_bot, openai_stub, edit_interval=0.05)
    for _ in range(2):
        openai_stub.queue_error(400, code="context_length_exceeded", message="too long")

    await ask(double, world)
    text = await wait_reply_text(double, world.text_channel_id, lambda t: bool(t))

    assert "longer than my model can read" in text
    assert len(completion_requests(openai_stub)) == 2


async def test_bad_request_mentioning_context_in_text_only_is_not_treated_as_context_length(
    double, world, run_bot, openai_stub
) -> None:
    await start_chat_bot(run_bot, openai_stub, edit_interval=0.05)
    for _ in range(2):
        openai_stub.queue_error(400, code="invalid_value", message="context length exceeded (but not really)")

    await ask(double, world)
    text = await wait_reply_text(double, world.text_channel_id, lambda t: bool(t))

    assert "longer than my model can read" not in text
    first, second = completion_requests(openai_stub)
    # The only retry is the one without tools; the context was not shrunk on the strength of words.
    assert "tools" in first["json"] and "tools" not in second["json"]
    assert second["json"]["messages"] == first["json"]["messages"]


async def test_server_without_tool_support_is_retried_without_tools(double, world, run_bot, openai_stub) -> None:
    await start_chat_bot(run_bot, openai_stub, edit_interval=0.05)
    openai_stub.queue_error(400, message="registry.ollama.ai/library/gemma:2b does not support tools")
    openai_stub.queue_text("Happy to chat, no tools needed.")

    await ask(double, world)
    text = await wait_reply_text(double, world.text_channel_id, lambda t: t.endswith("needed."))

    assert text == "Happy to chat, no tools needed."
    first, second = completion_requests(openai_stub)
    assert "tools" in first["json"] and "tools" not in second["json"] and "tool_choice" not in second["json"]


async def test_cut_stream_keeps_what_was_said_and_adds_a_note(double, world, run_bot, openai_stub) -> None:
    await start_chat_bot(run_bot, openai_stub, edit_interval=0.05, openai_max_retries=0)
    openai_stub.queue_cut_stream("Chungking Express is a film about ", chunks=4)

    await ask(double, world)
    text = await wait_reply_text(double, world.text_channel_id, lambda t: "incomplete" in t)

    assert text.startswith("Chungking Express is a film about")
    assert "dropped mid-answer" in text


@pytest.mark.parametrize(
    ("status", "code"),
    [(404, "model_not_found"), (400, "model_not_found")],
)
async def test_unknown_model_is_reported_plainly(double, world, run_bot, openai_stub, status, code) -> None:
    await start_chat_bot(run_bot, openai_stub, edit_interval=0.05, openai_model="no-such-model")
    openai_stub.queue_error(status, code=code, message="The model `no-such-model` does not exist")

    await ask(double, world)
    text = await wait_reply_text(double, world.text_channel_id, lambda t: bool(t))

    assert "OPENAI_MODEL" in text


async def test_server_error_gets_a_friendly_reply(double, world, run_bot, openai_stub, caplog) -> None:
    caplog.set_level(logging.INFO)
    await start_chat_bot(run_bot, openai_stub, edit_interval=0.05, openai_max_retries=0)
    openai_stub.queue_error(503, message="overloaded")

    await ask(double, world)
    text = await wait_reply_text(double, world.text_channel_id, lambda t: bool(t))

    assert "server error" in text
    assert any("kind=server_error" in r.getMessage() and "status=503" in r.getMessage() for r in caplog.records)
