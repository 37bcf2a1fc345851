"""Hostile requests: each gets a clear 4xx, nothing leaks, and the server (and the bot) keep running."""

from __future__ import annotations

import asyncio
import contextlib
import resource
from pathlib import Path

import aiohttp
import pytest

from tests.e2e._discussions import wait_rows
from tests.web._seed import seed, serving
from tests.web.conftest import Published


async def _raw(port: int, payload: bytes, *, timeout: float = 10.0) -> bytes:
    """Send bytes exactly as given (no client library to tidy them up) and read the whole answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(payload)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), timeout)
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


def _status(raw: bytes) -> int:
    return int(raw.split(b" ", 2)[1])


async def test_malformed_parameters_get_a_clear_400(tmp_path: Path) -> None:
    seeded = await seed(tmp_path / "m.db")
    async with serving(seeded.db) as (server, session):
        cases = {
            "/v1/comments?url=https://blog.example/" + "a" * 3000: "longer than 2048",
            "/v1/comments?url=https://a.example/&url=https://b.example/": "more than once",
            "/v1/comments?review=a%0D%0ASet-Cookie:%20pwned=1": "control characters",
            "/v1/comments?review=%FF%FE%FD": "not valid UTF-8",
            "/v1/comments?review=chungking-express&" + "&".join(f"x{i}=1" for i in range(200)): "Too many",
            "/v1/comments?review=../../etc/passwd": "`review` must be",
            "/v1/comments?review=chungking-express&limit=99999999999999999999": "`limit`",
            "/v1/counts?" + "&".join(f"url=https://blog.example/{i}" for i in range(101)): "At most 100",
            "/v1/events?review=chungking-express&since=-1": "`since`",
            "/healthz?debug=1": "Unknown parameter",
        }
        # Twice: valid query strings are remembered, and a refusal must never become an answer.
        for path, message in [*cases.items(), *cases.items()]:
            async with session.get(path) as response:
                body = await response.json()
                assert response.status == 400, (path, body)
                assert message in body["error"], (path, body)
                assert response.headers["X-Content-Type-Options"] == "nosniff"
                assert "Set-Cookie" not in response.headers and "pwned" not in response.headers.get("Set-Cookie", "")

        # Too long for the request line itself: refused by the HTTP parser before any handler runs.
        giant = await _raw(server.port, b"GET /v1/comments?url=" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        assert 400 <= _status(giant) < 500
        # Raw CR/LF and invalid UTF-8 bytes in the request line.
        for line in (b"GET /v1/comments?review=a\rb HTTP/1.1", b"GET /v1/comments?review=\xff\xfe HTTP/1.1"):
            raw = await _raw(server.port, line + b"\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert 400 <= _status(raw) < 500, raw[:200]
        async with session.get("/healthz") as response:
            assert response.status == 200
    await seeded.db.close()


async def test_path_traversal_finds_nothing(tmp_path: Path) -> None:
    seeded = await seed(tmp_path / "m.db")
    async with serving(seeded.db) as (server, _):
        for path in (
            b"/../../../../etc/passwd",
            b"/%2e%2e/%2e%2e/etc/passwd",
            b"/embed.js/../../bot/settings.py",
            b"/static/..%2f..%2fpyproject.toml",
            b"/v1/../../../../etc/shadow",
            b"/bot/web/static/embed.js",
            b"/.env",
        ):
            raw = await _raw(server.port, b"GET " + path + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert _status(raw) in (400, 404), (path, raw[:200])
            assert b"root:" not in raw and b"DISCORD" not in raw and b"[project]" not in raw
    await seeded.db.close()


async def test_only_get_and_head_are_answered(tmp_path: Path) -> None:
    seeded = await seed(tmp_path / "m.db")
    async with serving(seeded.db) as (server, session):
        for method in ("POST", "PUT", "PATCH", "DELETE", "TRACE", "OPTIONS", "PROPFIND"):
            async with session.request(method, "/v1/comments?review=chungking-express") as response:
                assert response.status == 405, method
                assert response.headers["Allow"] == "GET, HEAD"
                assert (await response.json())["error"] == "This server only answers GET and HEAD."
        # A body on a GET is refused and the connection closed (no reading a slow body forever).
        raw = await _raw(
            server.port,
            b"GET /v1/comments?review=chungking-express HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
        )
        assert _status(raw) == 400 and b"carry no body" in raw and b"Connection: close" in raw
    await seeded.db.close()


async def test_slow_headers_are_cut_off(tmp_path: Path) -> None:
    """Slowloris: a client that never finishes its headers loses the connection after the header timeout."""
    seeded = await seed(tmp_path / "m.db")
    async with serving(seeded.db, header_timeout=0.5) as (server, _):
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET /v1/comments?review=chungking-express HTTP/1.1\r\nHost: x\r\n")
        await writer.drain()

        async def trickle() -> None:
            with contextlib.suppress(ConnectionError):
                for n in range(100):  # a header line every 0.1 s, never the blank line that ends them
                    writer.write(f"X-Slow-{n}: {n}\r\n".encode())
                    await writer.drain()
                    await asyncio.sleep(0.1)

        sender = asyncio.create_task(trickle())
        try:
            answer = await asyncio.wait_for(reader.read(), 10)  # EOF: the server hung up
        finally:
            sender.cancel()
            writer.close()
        assert answer == b"", answer[:200]
        assert not sender.done() or sender.cancelled() or sender.exception() is None
    await seeded.db.close()


async def test_rate_limits_per_address_believe_forwarded_for_only_from_trusted_proxies(tmp_path: Path) -> None:
    seeded = await seed(tmp_path / "m.db")
    async with serving(seeded.db, requests_per_second=1.0, request_burst=5) as (_, session):
        statuses = []
        for n in range(8):  # a spoofed X-Forwarded-For from an untrusted peer changes nothing
            async with session.get("/healthz", headers={"X-Forwarded-For": f"203.0.113.{n}"}) as response:
                statuses.append(response.status)
                if response.status == 429:
                    assert int(response.headers["Retry-After"]) >= 1
                    assert "slow down" in (await response.json())["error"]
        assert statuses[:5] == [200] * 5 and 429 in statuses[5:]
    async with serving(seeded.db, requests_per_second=1.0, request_burst=5, trusted_proxies=("127.0.0.1/32",)) as (
        _,
        session,
    ):
        for n in range(12):  # behind a trusted proxy, each reader has a bucket of its own
            async with session.get("/healthz", headers={"X-Forwarded-For": f"198.51.100.7, 203.0.113.{n}"}) as r:
                assert r.status == 200
        statuses = []
        for _ in range(7):
            async with session.get("/healthz", headers={"X-Forwarded-For": "203.0.113.200"}) as response:
                statuses.append(response.status)
        assert statuses[:5] == [200] * 5 and statuses[-1] == 429
    await seeded.db.close()


async def test_thousands_of_event_streams_get_429_beyond_the_cap_and_nothing_breaks(tmp_path: Path) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 1200
    if soft < 2 * wanted + 200:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 2 * wanted + 400), hard))
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    count = min(wanted, (soft - 200) // 2)
    if count < 200:
        pytest.skip(f"the open-file limit ({soft}) is too low for this test")
    seeded = await seed(tmp_path / "m.db")
    async with serving(seeded.db, request_burst=10_000, requests_per_second=10_000) as (server, _):
        connector = aiohttp.TCPConnector(limit=0, force_close=True)
        async with aiohttp.ClientSession(base_url=server.url, connector=connector) as flood:

            async def one() -> tuple[int, aiohttp.ClientResponse | None]:
                response = await flood.get("/v1/events", params={"review": "chungking-express"})
                if response.status == 200:
                    return 200, response
                await response.read()
                return response.status, None

            results = await asyncio.gather(*(one() for _ in range(count)))
            statuses = [s for s, _ in results]
            assert statuses.count(200) == server.config.streams_per_address
            assert set(statuses) == {200, 429}
            async with flood.get("/v1/comments", params={"review": "chungking-express"}) as response:
                assert response.status == 200  # the server still serves everything else
            for _, response in results:
                if response is not None:
                    response.close()
    await seeded.db.close()


@pytest.mark.e2e
async def test_the_bot_keeps_running_under_hostile_requests(published: Published) -> None:
    p = published
    port = int(p.api.rsplit(":", 1)[1])
    payloads = [
        b"GET /v1/comments?url=" + b"%" * 20_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST /v1/comments HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n" + b"x" * 1000,
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64,  # a TLS hello to a plain-HTTP port
        b"GET /v1/events?review=" + b"\xc3\x28" * 10 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET / HTTP/1.1\r\n" + b"X-Header: " + b"h" * 20_000 + b"\r\n\r\n",
        b"GET /v1/comments?review=x HTTP/1.1\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(500)) + b"\r\n",
    ]
    for payload in payloads:
        raw = await _raw(port, payload)
        assert raw == b"" or 400 <= _status(raw) < 500, raw[:120]
    health = await _raw(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert _status(health) == 200
    await p.post(p.world.member_id, "still here")
    await wait_rows(p.bot, p.double, "SELECT 1 FROM comments", count=1)
    status, doc, _ = await p.get("/v1/comments", params={"review": p.review.slug})
    assert status == 200 and doc["comment_count"] == 1
