"""The LLM layer against the loopback OpenAI stub, with the real AsyncOpenAI client.

One-shot calls are single attempts under a deadline that come back without
reasoning or fail as one classified, logged :class:`ModelError`; streamed calls
yield text and assemble tool calls and usage; moderation reports flags.
"""

from __future__ import annotations

import dataclasses
import logging

import openai
import pytest

from bot.llm import LLM, ONE_SHOT_DEADLINE, ModelError
from bot.settings import Secret, Settings
from tests.doubles.openai_stub import OpenAIStub


def completions(stub: OpenAIStub) -> list[dict]:
    return [r for r in stub.requests if r["path"].endswith("/chat/completions")]


async def test_complete_sends_system_and_user_and_strips_reasoning(openai_stub: OpenAIStub, stub_llm: LLM) -> None:
    openai_stub.queue_text("<think>The member wants three questions.</think>\nWhat moved you?")
    text = await stub_llm.complete("be brief", "the review", purpose="discussion prompts", max_tokens=123)
    assert text == "What moved you?"
    body = completions(openai_stub)[0]["json"]
    assert body["messages"] == [{"role": "system", "content": "be brief"}, {"role": "user", "content": "the review"}]
    assert body["model"] == "gpt-4o-mini" and body["max_tokens"] == 123 and not body.get("stream")


FAULTS = {
    "rate_limited": lambda stub: stub.queue_error(429, code="rate_limit_exceeded", message="Slow down"),
    "server_error": lambda stub: stub.queue_error(503, message="overloaded"),
    "timeout": lambda stub: stub.queue_hang(30),
    "connection": lambda stub: stub.queue_cut_stream("never sent"),
    "unknown_model": lambda stub: stub.queue_error(404, code="model_not_found"),
}


@pytest.mark.parametrize("kind", sorted(FAULTS))
async def test_complete_failures_are_one_attempt_classified_and_logged(
    openai_stub: OpenAIStub, stub_llm: LLM, caplog: pytest.LogCaptureFixture, kind: str
) -> None:
    caplog.set_level(logging.WARNING, logger="bot.llm")
    FAULTS[kind](openai_stub)
    with pytest.raises(ModelError) as raised:
        await stub_llm.complete("s", "u", purpose="discussion summary", timeout=0.3)
    assert raised.value.kind == kind
    assert isinstance(raised.value.__cause__, openai.OpenAIError)
    assert len(completions(openai_stub)) == 1  # no retries, whatever the client's default
    logged = [r.getMessage() for r in caplog.records if r.name.startswith("bot.llm")]
    assert any(m.startswith("discussion summary model call failed") and f"kind={kind}" in m for m in logged)


async def test_complete_turns_any_other_failure_into_a_model_error(caplog: pytest.LogCaptureFixture) -> None:
    class Broken:
        def with_options(self, **options):
            raise RuntimeError("a bug in a client")

    with pytest.raises(ModelError) as raised:
        await LLM(Broken(), "m").complete("s", "u", purpose="discussion prompts")
    assert raised.value.kind == "other" and "kind=other" in caplog.text


async def test_stream_yields_text_and_counts_usage(openai_stub: OpenAIStub, stub_llm: LLM) -> None:
    openai_stub.queue_text("Faye Wong plays California Dreamin'.", chunks=4)
    async with stub_llm.stream([{"role": "user", "content": "hi"}]) as stream:
        pieces = [piece async for piece in stream]
    assert len(pieces) == 4 and "".join(pieces) == "Faye Wong plays California Dreamin'."
    assert stream.total_tokens > 0 and stream.tool_calls == []
    body = completions(openai_stub)[0]["json"]
    assert body["stream"] is True and "tools" not in body


async def test_stream_assembles_tool_calls_in_order(openai_stub: OpenAIStub, stub_llm: LLM) -> None:
    openai_stub.queue_tool_calls(
        [
            {"id": "a", "name": "get_film", "arguments": '{"film_id": 12345}'},
            {"name": "search_reviews", "arguments": "{}"},
        ]
    )
    tools = [{"type": "function", "function": {"name": "get_film", "parameters": {"type": "object"}}}]
    async with stub_llm.stream([{"role": "user", "content": "hi"}], tools=tools, tool_choice="auto") as stream:
        assert [piece async for piece in stream] == []
    calls = stream.tool_calls
    assert [(c.name, c.arguments) for c in calls] == [("get_film", '{"film_id": 12345}'), ("search_reviews", "{}")]
    assert calls[0].id == "a" and calls[1].id
    assert completions(openai_stub)[0]["json"]["tool_choice"] == "auto"


async def test_stream_failures_are_model_errors_before_and_during_the_stream(
    openai_stub: OpenAIStub, stub_llm: LLM
) -> None:
    openai_stub.queue_error(400, code="context_length_exceeded")
    with pytest.raises(ModelError) as before:
        async with stub_llm.stream([{"role": "user", "content": "hi"}]):
            pass
    assert before.value.kind == "context_length" and before.value.status == 400

    openai_stub.queue_cut_stream("The first half of a thought about")
    seen: list[str] = []
    with pytest.raises(ModelError) as during:
        async with stub_llm.stream([{"role": "user", "content": "hi"}]) as stream:
            async for piece in stream:
                seen.append(piece)
    assert during.value.kind == "connection" and "".join(seen).startswith("The first half")


async def test_moderation_flags_and_failures(openai_stub: OpenAIStub, stub_llm: LLM) -> None:
    openai_stub.flag_moderation(["spoil"])
    assert await stub_llm.moderate("I will spoil the ending") is True
    assert await stub_llm.moderate("What a lovely film") is False
    await openai_stub.stop()
    with pytest.raises(ModelError) as raised:
        await stub_llm.moderate("anything")
    assert raised.value.kind == "connection"


async def test_from_settings_builds_one_client_with_the_short_deadline() -> None:
    base = Settings(discord_token=None)
    assert LLM.from_settings(dataclasses.replace(base, openai_base_url=None, openai_api_key=None)) is None
    slow = dataclasses.replace(base, openai_api_key=Secret("sk-test"), openai_timeout_seconds=60.0, openai_model="m1")
    llm = LLM.from_settings(slow)
    assert llm is not None and llm.model == "m1" and llm.deadline == ONE_SHOT_DEADLINE
    assert isinstance(llm.client, openai.AsyncOpenAI) and llm.client.max_retries == base.openai_max_retries
    await llm.aclose()
    quick = LLM.from_settings(dataclasses.replace(slow, openai_timeout_seconds=3.0))
    assert quick is not None and quick.deadline == 3.0
    await quick.aclose()
