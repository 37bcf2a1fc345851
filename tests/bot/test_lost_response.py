"""A create call inside ``single_attempt`` is sent once: a lost answer raises, discord.py does not retry it.

Driven through the real ``discord.http.HTTPClient`` against the loopback Discord double,
whose ``lose_response`` fault makes the thread and then answers 502.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import discord
import pytest
from discord.http import HTTPClient, Route

from bot.discord_double import DiscordDouble
from bot.lost_response import installed, lost_response_trace, single_attempt
from cogs._discord_errors import LostResponse

TOKEN = "test-token"


@pytest.fixture
async def double() -> AsyncIterator[DiscordDouble]:
    async with DiscordDouble() as running:
        with running.patched_endpoints():
            yield running


async def _client(trace: aiohttp.TraceConfig | None) -> HTTPClient:
    http = HTTPClient(asyncio.get_running_loop(), http_trace=trace)
    await http.static_login(TOKEN)
    return http


async def _forum(double: DiscordDouble) -> int:
    guild = double.add_guild("Film Club")
    forum = await double.add_forum_channel(int(guild["id"]), "reviews", tags=["Review"])
    return int(forum["id"])


def _post(forum_id: int, name: str) -> tuple[Route, dict]:
    route = Route("POST", "/channels/{channel_id}/threads", channel_id=forum_id)
    return route, {"name": name, "message": {"content": "a review"}}


def _posts(double: DiscordDouble, forum_id: int, name: str) -> list[str]:
    return [c["id"] for c in double.channels.values() if c.get("parent_id") == str(forum_id) and c["name"] == name]


async def test_a_lost_answer_inside_single_attempt_raises_after_one_request(double: DiscordDouble) -> None:
    forum_id = await _forum(double)
    http = await _client(lost_response_trace())
    try:
        lost = double.lose_response("POST", rf"^/channels/{forum_id}/threads$", 502)
        route, payload = _post(forum_id, "once")
        with pytest.raises(LostResponse) as raised, single_attempt(http, LostResponse):
            await http.request(route, json=payload)
        assert raised.value.status == 502
        assert isinstance(raised.value, discord.DiscordServerError)  # callers that know 5xx treat it as one
        assert lost.hits == 1
        assert len(double.find_requests("POST", rf"^/channels/{forum_id}/threads$")) == 1
        assert len(_posts(double, forum_id, "once")) == 1  # Discord made it; nobody made a copy

        # The block is over: the same client retries a 5xx as discord.py always did (and the copy shows why).
        double.lose_response("POST", rf"^/channels/{forum_id}/threads$", 502)
        route, payload = _post(forum_id, "twice")
        await http.request(route, json=payload)
        assert len(_posts(double, forum_id, "twice")) == 2
    finally:
        await http.close()


async def test_single_attempt_leaves_other_answers_and_other_tasks_alone(double: DiscordDouble) -> None:
    forum_id = await _forum(double)
    http = await _client(lost_response_trace())
    try:
        # A 429 said "not done": discord.py still waits and retries it, once, inside the block.
        limited = double.inject_fault("POST", rf"^/channels/{forum_id}/threads$", 429, retry_after=0.05)
        with single_attempt(http, LostResponse):
            route, payload = _post(forum_id, "after a 429")
            created = await http.request(route, json=payload)
        assert limited.hits == 1 and created["name"] == "after a 429"

        # A 4xx is the usual exception.
        route, payload = _post(424242, "nowhere")
        with pytest.raises(discord.NotFound), single_attempt(http, LostResponse):
            await http.request(route, json=payload)

        # Another task's request, made while this one is inside the block, keeps discord.py's retry.
        double.lose_response("POST", rf"^/channels/{forum_id}/threads$", 502)
        gate = asyncio.Event()

        async def elsewhere() -> None:
            await gate.wait()
            route, payload = _post(forum_id, "another task")
            await http.request(route, json=payload)

        task = asyncio.create_task(elsewhere())  # created outside the block: its context has the flag off
        with single_attempt(http, LostResponse):
            gate.set()
            await task
        assert len(_posts(double, forum_id, "another task")) == 2  # retried (no nonce): the copy proves it
    finally:
        await http.close()


async def test_single_attempt_refuses_a_client_without_the_trace(double: DiscordDouble) -> None:
    http = await _client(None)
    try:
        assert not installed(http)
        with pytest.raises(RuntimeError, match="lost_response_trace"), single_attempt(http, LostResponse):
            pass
    finally:
        await http.close()


def test_the_trace_is_added_once_to_a_trace_the_caller_already_has() -> None:
    mine = aiohttp.TraceConfig()
    seen: list[object] = []

    async def on_end(*args: object) -> None:
        seen.append(args)

    mine.on_request_end.append(on_end)
    trace = lost_response_trace(lost_response_trace(mine))
    assert trace is mine
    assert len(trace.on_request_end) == 2 and trace.on_request_end[0] is on_end
