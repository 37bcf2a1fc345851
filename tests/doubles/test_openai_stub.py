"""Self-tests for the OpenAI stub, driven by the real ``openai.AsyncOpenAI`` client."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator

import openai
import pytest
import pytest_asyncio

from tests.doubles.openai_stub import OpenAIStub

pytestmark = pytest.mark.asyncio

MESSAGES = [{"role": "user", "content": "Recommend a film about trains."}]


@pytest_asyncio.fixture
async def stub() -> AsyncIterator[OpenAIStub]:
    async with OpenAIStub() as s:
        yield s


def make_client(stub: OpenAIStub, **kwargs: object) -> openai.AsyncOpenAI:
    kwargs.setdefault("max_retries", 0)
    return openai.AsyncOpenAI(base_url=stub.base_url, api_key="test", **kwargs)  # type: ignore[arg-type]


async def test_base_url_shape(stub: OpenAIStub) -> None:
    assert stub.base_url.startswith("http://127.0.0.1:")
    assert stub.base_url.endswith("/v1")


async def test_plain_completion(stub: OpenAIStub) -> None:
    stub.queue_text("The General (1926).")
    async with make_client(stub) as client:
        resp = await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert resp.choices[0].message.content == "The General (1926)."
    assert resp.choices[0].finish_reason == "stop"
    assert resp.usage is not None
    assert resp.usage.total_tokens == resp.usage.prompt_tokens + resp.usage.completion_tokens > 0
    req = await stub.wait_for_request(1)
    assert req["path"] == "/v1/chat/completions"
    assert req["json"]["messages"] == MESSAGES
    assert req["headers"]["Authorization"] == "Bearer test"
    assert isinstance(req["time"], float)


async def test_default_text_when_queue_empty(stub: OpenAIStub) -> None:
    stub.default_text = "fallback"
    async with make_client(stub) as client:
        resp = await client.chat.completions.create(model="m", messages=MESSAGES)
    assert resp.choices[0].message.content == "fallback"


async def test_streamed_completion_reassembled(stub: OpenAIStub) -> None:
    text = "Try Snowpiercer, then The Lady Vanishes."
    stub.queue_text(text, chunks=5)
    async with make_client(stub) as client:
        stream = await client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
        parts: list[str] = []
        finish = None
        usage = None
        async for chunk in stream:
            if chunk.usage is not None:
                usage = chunk.usage
            for choice in chunk.choices:
                parts.append(choice.delta.content or "")
                finish = choice.finish_reason or finish
    assert "".join(parts) == text
    assert finish == "stop"
    assert usage is not None and usage.completion_tokens > 0


async def test_stream_without_usage_option_has_no_usage(stub: OpenAIStub) -> None:
    stub.queue_text("abc def", chunks=["abc ", "def"])
    async with make_client(stub) as client:
        stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        chunks = [c async for c in stream]
    assert all(c.usage is None for c in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "abc def"


async def test_streamed_tool_call_reassembled(stub: OpenAIStub) -> None:
    args = json.dumps({"title": "Paris, Texas", "year": 1984})
    stub.queue_tool_calls(
        [{"name": "lookup_film", "arguments": args}, {"name": "broken", "arguments": '{"x": '}]
    )
    async with make_client(stub) as client:
        stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        calls: dict[int, dict[str, str]] = {}
        finish = None
        async for chunk in stream:
            for choice in chunk.choices:
                finish = choice.finish_reason or finish
                for tc in choice.delta.tool_calls or []:
                    slot = calls.setdefault(tc.index, {"id": "", "name": "", "arguments": ""})
                    if tc.id:
                        slot["id"] = tc.id
                    if tc.function and tc.function.name:
                        slot["name"] += tc.function.name
                    if tc.function and tc.function.arguments:
                        slot["arguments"] += tc.function.arguments
    assert finish == "tool_calls"
    assert calls[0]["name"] == "lookup_film"
    assert json.loads(calls[0]["arguments"]) == {"title": "Paris, Texas", "year": 1984}
    assert calls[0]["id"].startswith("call_")
    assert calls[1] == {"id": calls[1]["id"], "name": "broken", "arguments": '{"x": '}


async def test_non_streamed_tool_call(stub: OpenAIStub) -> None:
    stub.queue_tool_calls([{"name": "lookup_film", "arguments": "not json", "id": "call_fixed"}])
    async with make_client(stub) as client:
        resp = await client.chat.completions.create(model="m", messages=MESSAGES)
    choice = resp.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    (tc,) = choice.message.tool_calls or []
    assert (tc.id, tc.function.name, tc.function.arguments) == ("call_fixed", "lookup_film", "not json")


async def test_429_then_success_is_retried_honouring_retry_after(stub: OpenAIStub) -> None:
    stub.queue_error(429, code="rate_limit_exceeded", message="Slow down", retry_after=0.05)
    stub.queue_text("after the storm")
    async with make_client(stub, max_retries=1) as client:
        resp = await client.chat.completions.create(model="m", messages=MESSAGES)
    assert resp.choices[0].message.content == "after the storm"
    assert len(stub.requests) == 2
    gap = stub.requests[1]["time"] - stub.requests[0]["time"]
    # The client waits the server-directed delay (50 ms), not its own ~0.5 s backoff.
    assert 0.045 <= gap < 0.35


async def test_429_exhausted_raises_rate_limit_error(stub: OpenAIStub) -> None:
    stub.queue_error(429, code="rate_limit_exceeded", retry_after=0.01)
    stub.queue_error(429, code="rate_limit_exceeded", retry_after=0.01)
    async with make_client(stub, max_retries=1) as client:
        with pytest.raises(openai.RateLimitError) as exc_info:
            await client.chat.completions.create(model="m", messages=MESSAGES)
    assert exc_info.value.code == "rate_limit_exceeded"
    assert len(stub.requests) == 2


async def test_500_and_404_error_mapping(stub: OpenAIStub) -> None:
    stub.queue_error(500, message="boom")
    stub.queue_error(404, code="model_not_found", message="The model `nope` does not exist")
    async with make_client(stub) as client:
        with pytest.raises(openai.InternalServerError):
            await client.chat.completions.create(model="m", messages=MESSAGES)
        with pytest.raises(openai.NotFoundError) as exc_info:
            await client.chat.completions.create(model="nope", messages=MESSAGES)
    assert exc_info.value.code == "model_not_found"
    assert exc_info.value.type == "invalid_request_error"


async def test_timeout(stub: OpenAIStub) -> None:
    stub.queue_hang(2)
    async with make_client(stub, timeout=0.5) as client:
        started = time.perf_counter()
        with pytest.raises(openai.APITimeoutError):
            await client.chat.completions.create(model="m", messages=MESSAGES)
    assert time.perf_counter() - started < 1.5


async def test_cut_stream_raises_on_client(stub: OpenAIStub) -> None:
    stub.queue_cut_stream("Half a senten", chunks=3)
    received: list[str] = []
    async with make_client(stub) as client:
        stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        with pytest.raises(openai.APIConnectionError):
            async for chunk in stream:
                for choice in chunk.choices:
                    received.append(choice.delta.content or "")
    assert "".join(received) == "Half a senten"


async def test_context_length_error(stub: OpenAIStub) -> None:
    stub.queue_error(
        400, code="context_length_exceeded", param="messages", message="This model's maximum context"
    )
    async with make_client(stub, max_retries=2) as client:
        with pytest.raises(openai.BadRequestError) as exc_info:
            await client.chat.completions.create(model="m", messages=MESSAGES)
    assert exc_info.value.code == "context_length_exceeded"
    assert exc_info.value.param == "messages"
    assert len(stub.requests) == 1  # 400s are never retried


async def test_moderation(stub: OpenAIStub) -> None:
    async with make_client(stub) as client:
        ok = await client.moderations.create(input="a lovely film")
        assert ok.results[0].flagged is False
        stub.flag_moderation({"Spoiler"})
        flagged = await client.moderations.create(input=["no problem here", "big SPOILER ahead"])
        assert [r.flagged for r in flagged.results] == [False, True]
        assert flagged.results[1].categories.harassment is True
        stub.flag_moderation(lambda text: "villain" in text, categories=("violence",))
        res = await client.moderations.create(input="the villain wins")
        assert res.results[0].categories.violence is True


async def test_models(stub: OpenAIStub) -> None:
    async with make_client(stub) as client:
        page = await client.models.list()
        ids = [m.id async for m in page]
    assert "gpt-4o-mini" in ids


async def test_wait_for_request_times_out(stub: OpenAIStub) -> None:
    with pytest.raises(TimeoutError):
        await stub.wait_for_request(0.05)


async def test_stop_does_not_wait_for_hanging_handler() -> None:
    stub = OpenAIStub()
    await stub.start()
    stub.queue_hang(30)
    client = make_client(stub, timeout=0.2)
    with pytest.raises(openai.APITimeoutError):
        await client.chat.completions.create(model="m", messages=MESSAGES)
    await client.close()
    started = time.perf_counter()
    await stub.stop()
    assert time.perf_counter() - started < 2
