"""Server-Sent Events mechanics: heartbeats, resuming with Last-Event-ID, caps, shutdown, slow readers."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp

from bot.storage.web import WebRepository
from bot.web import hub as hub_module
from tests.web._seed import OTHER, read_event, seed, serving


async def _open(session: aiohttp.ClientSession, **params: str) -> aiohttp.ClientResponse:
    response = await session.get("/v1/events", params={"review": "chungking-express", **params})
    assert response.status == 200, await response.text()
    return response


async def test_heartbeats_keep_an_idle_stream_open(tmp_path: Path) -> None:
    seeded = await seed(tmp_path / "m.db")
    async with serving(seeded.db, heartbeat_seconds=0.05) as (_, session):
        response = await _open(session)
        assert response.headers["Content-Type"].startswith("text/event-stream")
        assert response.headers["Cache-Control"] == "no-store" and response.headers["X-Accel-Buffering"] == "no"
        ready = await read_event(response)
        assert ready["event"] == "ready" and ready["retry"] == "3000"
        pings = 0
        while pings < 3:
            line = await asyncio.wait_for(response.content.readuntil(b"\n\n"), 10)
            pings += line == b": ping\n\n"
        response.close()
    await seeded.db.close()


async def test_last_event_id_resumes_without_a_gap(tmp_path: Path) -> None:
    seeded = await seed(tmp_path / "m.db")
    first = await seeded.comment("first")
    async with serving(seeded.db) as (_, session):
        response = await _open(session)
        ready = await read_event(response)
        await seeded.comment("second")
        event = await asyncio.wait_for(read_event(response), 10)
        assert event["event"] == "comment" and json.loads(event["data"])["comment"]["content"] == "second"
        last_id = event["id"]
        response.close()  # the reader drops off…
        third = await seeded.comment("third", author=OTHER, name="Ana", reply_to=first)
        await seeded.db.execute("UPDATE comments SET content = 'first, edited', edited_at = 'x' WHERE message_id = ?",
                                (first,))  # fmt: skip
        await seeded.db.execute("UPDATE comments SET deleted = 1 WHERE content = 'second'")
        # …and comes back with the id of the last event it saw: everything since, in order.
        resumed = await session.get(
            "/v1/events", params={"review": "chungking-express"}, headers={"Last-Event-ID": last_id}
        )
        assert (await read_event(resumed))["event"] == "ready"
        names, payloads = [], []
        while len(names) < 3:
            event = await asyncio.wait_for(read_event(resumed), 10)
            names.append(event["event"])
            payloads.append(json.loads(event["data"]))
            assert int(event["id"]) > int(last_id)
        assert names == ["comment", "comment", "remove"]
        assert payloads[0]["comment"]["id"] == str(third) and payloads[0]["parent_id"] == str(first)
        assert payloads[1]["comment"]["content"] == "first, edited"
        assert payloads[2]["comment_count"] == 2
        resumed.close()
        assert int(ready["id"]) < int(last_id)
    await seeded.db.close()


async def test_resuming_from_before_the_pruned_log_reloads(tmp_path: Path) -> None:
    seeded = await seed(tmp_path / "m.db")
    for n in range(20):
        await seeded.comment(f"c{n}")
    assert await WebRepository(seeded.db).prune_changes(keep=5) > 0
    async with serving(seeded.db) as (_, session):
        response = await _open(session, since="1")
        assert (await read_event(response))["event"] == "ready"
        event = await asyncio.wait_for(read_event(response), 10)
        assert event["event"] == "reload"
        response.close()
        malformed = await session.get(
            "/v1/events", params={"review": "chungking-express"}, headers={"Last-Event-ID": "7; DROP"}
        )
        assert malformed.status == 400
    await seeded.db.close()


async def test_streams_are_capped_per_address_and_in_total(tmp_path: Path) -> None:
    seeded = await seed(tmp_path / "m.db")
    async with serving(seeded.db, streams_per_address=3, max_streams=5) as (_, session):
        held = [await _open(session) for _ in range(3)]
        refused = await session.get("/v1/events", params={"review": "chungking-express"})
        assert refused.status == 429 and "Too many live connections" in (await refused.json())["error"]
        assert refused.headers["Retry-After"]
        held[0].close()

        async def reopened() -> int:
            while True:
                response = await session.get("/v1/events", params={"review": "chungking-express"})
                if response.status == 200:
                    held.append(response)
                    return 200
                response.close()
                await asyncio.sleep(0.05)

        assert await asyncio.wait_for(reopened(), 10) == 200  # a closed stream frees its slot
        for response in held:
            response.close()
    async with serving(seeded.db, streams_per_address=10, max_streams=2) as (_, session):
        held = [await _open(session) for _ in range(2)]
        full = await session.get("/v1/events", params={"review": "chungking-express"})
        assert full.status == 503
        for response in held:
            response.close()
    await seeded.db.close()


async def test_shutdown_ends_every_stream_at_once(tmp_path: Path) -> None:
    seeded = await seed(tmp_path / "m.db")
    async with serving(seeded.db, heartbeat_seconds=3600) as (server, session):
        streams = [await _open(session) for _ in range(5)]
        for response in streams:
            await read_event(response)
        closing = asyncio.create_task(server.close())
        for response in streams:
            # The stream ends (EOF) instead of waiting an hour for its next heartbeat.
            rest = await asyncio.wait_for(response.content.read(), 10)
            assert b"event:" not in rest
        await asyncio.wait_for(closing, 10)
    await seeded.db.close()


async def test_a_reader_too_slow_to_keep_up_is_told_to_reload(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(hub_module, "MAX_PENDING", 3)
    subscription = hub_module.Subscription(1)
    subscription.push([(1, b"a"), (2, b"b")])
    assert not subscription.overflowed and len(subscription.pending) == 2
    subscription.push([(3, b"c"), (4, b"d")])
    assert subscription.overflowed and subscription.pending == []
