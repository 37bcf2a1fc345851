"""ChatService with a fake model client: the tool loop's limits, malformed calls, think, guards."""

from __future__ import annotations

import contextlib
import dataclasses
import json
from types import SimpleNamespace
from typing import Any

from bot.chat import ChatRequest, ChatService, Outcome, TokenCounter
from bot.chat.service import MAX_TOOL_ROUNDS, NOT_CONFIGURED_POINTER
from bot.llm import LLM
from bot.settings import Settings
from bot.storage import Database
from bot.storage.conversations import ConversationRepository


def text_chunks(text: str) -> list[Any]:
    return [
        SimpleNamespace(usage=None, choices=[SimpleNamespace(delta=SimpleNamespace(content=p, tool_calls=None))])
        for p in text.split("|")
    ] + [SimpleNamespace(usage=SimpleNamespace(total_tokens=42), choices=[])]


def tool_chunks(calls: list[tuple[str, str]]) -> list[Any]:
    chunks = []
    for i, (name, args) in enumerate(calls):
        half = len(args) // 2
        for part, first in ((args[:half], True), (args[half:], False)):
            call = SimpleNamespace(
                index=i,
                id=f"c{i}" if first else None,
                function=SimpleNamespace(name=name if first else None, arguments=part),
            )
            chunks.append(
                SimpleNamespace(
                    usage=None, choices=[SimpleNamespace(delta=SimpleNamespace(content=None, tool_calls=[call]))]
                )
            )
    return chunks


class FakeStream:
    def __init__(self, chunks: list[Any]) -> None:
        self._chunks = chunks

    def __aiter__(self):
        return self._gen()

    async def _gen(self):
        for chunk in self._chunks:
            yield chunk

    async def close(self) -> None:
        pass


class FakeClient:
    """Just enough of AsyncOpenAI: chat.completions.create(stream=True) and moderations."""

    def __init__(self, replies: list[list[Any]]) -> None:
        self.replies = replies
        self.requests: list[dict[str, Any]] = []
        self.chat = SimpleNamespace(completions=SimpleNamespace(create=self._create))

    async def _create(self, **kwargs: Any) -> FakeStream:
        self.requests.append(json.loads(json.dumps(kwargs)))
        return FakeStream(self.replies.pop(0) if self.replies else text_chunks("default"))


class FakeTarget:
    def __init__(self) -> None:
        self.messages: list[str] = []

    async def send(self, text: str) -> int:
        self.messages.append(text)
        return len(self.messages) - 1

    async def edit(self, message: int, text: str) -> None:
        self.messages[message] = text

    async def delete(self, message: int) -> None:
        self.messages[message] = ""

    def typing(self):
        return contextlib.nullcontext()


def service(db: Database, client: Any, **overrides: Any) -> ChatService:
    settings = dataclasses.replace(Settings(discord_token=None), **overrides)
    counter = TokenCounter(loader=lambda name: (_ for _ in ()).throw(OSError("offline")))
    counter.wait_loaded()
    llm = LLM(client, settings.openai_model) if client is not None else None
    return ChatService(db, settings, llm, counter=counter, edit_interval=0.0)


def request(**overrides: Any) -> ChatRequest:
    fields = {"conversation_id": 55, "author_id": 7, "author_name": "Mo", "content": "hello", "guild_id": 1}
    fields.update(overrides)
    return ChatRequest(**fields)


async def test_tool_rounds_stop_at_three_then_tool_choice_none(db: Database) -> None:
    client = FakeClient([tool_chunks([("search_films", '{"query": "x"}')]) for _ in range(5)])
    reply = await service(db, client).respond(request(), FakeTarget())
    assert len(client.requests) == MAX_TOOL_ROUNDS + 1
    assert [r["tool_choice"] for r in client.requests] == ["auto"] * MAX_TOOL_ROUNDS + ["none"]
    assert reply.tool_rounds == MAX_TOOL_ROUNDS
    assert reply.outcome is Outcome.ANSWERED and reply.text  # a friendly answer, not a crash


async def test_malformed_arguments_and_unknown_tools_become_error_results(db: Database) -> None:
    client = FakeClient([tool_chunks([("search_films", '{"query": '), ("rm_rf", "{}")]), text_chunks("Done|.")])
    target = FakeTarget()
    reply = await service(db, client).respond(request(), target)
    tool_messages = [m for m in client.requests[1]["messages"] if m["role"] == "tool"]
    assert [json.loads(m["content"]).get("error", "")[:20] for m in tool_messages] == [
        "the arguments were n",
        "unknown tool 'rm_rf'",
    ]
    assert target.messages == ["Done."] and reply.text == "Done."


async def test_think_is_stripped_and_history_stored_without_it(db: Database) -> None:
    client = FakeClient([text_chunks("<think>secret|</think>Visible @everyone|.")])
    target = FakeTarget()
    await service(db, client).respond(request(), target)
    assert target.messages == ["Visible @\u200beveryone."]
    turns = await ConversationRepository(db).recent(55)
    assert [(t.role, t.content) for t in reversed(turns)] == [("user", "hello"), ("assistant", "Visible @everyone.")]


async def test_rate_limit_refuses_before_the_model(db: Database) -> None:
    client = FakeClient([])
    chat = service(db, client, chat_requests_per_minute=1)
    await chat.respond(request(), FakeTarget())
    target = FakeTarget()
    reply = await chat.respond(request(), target)
    assert reply.outcome is Outcome.RATE_LIMITED and "try again in" in target.messages[0]
    assert len(client.requests) == 1


async def test_no_client_gives_the_pointer(db: Database) -> None:
    target = FakeTarget()
    reply = await service(db, None).respond(request(), target)
    assert reply.outcome is Outcome.NOT_CONFIGURED and target.messages == [NOT_CONFIGURED_POINTER]


async def test_ephemeral_requests_are_not_remembered(db: Database) -> None:
    client = FakeClient([text_chunks("Private.")])
    await service(db, client).respond(request(remember=False), FakeTarget())
    assert await ConversationRepository(db).recent(55) == []
