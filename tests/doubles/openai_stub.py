"""A loopback, OpenAI-compatible HTTP server for tests.

Why a real server: openai>=3 talks through httpx2, which the usual transport
mocks (respx & co.) do not intercept. Running a tiny aiohttp server on
127.0.0.1 with an ephemeral port lets the *real* ``openai.AsyncOpenAI`` client
exercise its whole stack (retries, timeouts, SSE parsing, error mapping).

Usage::

    async with OpenAIStub() as stub:
        stub.queue_text("Hello there")
        client = openai.AsyncOpenAI(base_url=stub.base_url, api_key="test")
        ...

Scripted replies are consumed FIFO by ``POST /v1/chat/completions``; when the
queue is empty the server answers with ``stub.default_text``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import re
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

__all__ = ["OpenAIStub", "ScriptedReply"]

MODERATION_CATEGORIES = (
    "harassment",
    "harassment/threatening",
    "hate",
    "hate/threatening",
    "illicit",
    "illicit/violent",
    "self-harm",
    "self-harm/instructions",
    "self-harm/intent",
    "sexual",
    "sexual/minors",
    "violence",
    "violence/graphic",
)

# Default error ``type`` per status, mirroring what the real API sends.
_DEFAULT_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "invalid_request_error",
    404: "invalid_request_error",
    429: "requests",
}


@dataclass
class ScriptedReply:
    """One queued reply. Build these through the ``OpenAIStub.queue_*`` helpers."""

    kind: str  # "text" | "tool_calls" | "error" | "hang" | "cut"
    text: str = ""
    chunks: list[str] | None = None
    delay_between_chunks: float = 0.0
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200
    error: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0


def _approx_tokens(text: str) -> int:
    """Cheap, deterministic token estimate (~4 chars/token); good enough for usage blocks."""
    return max(1, math.ceil(len(text) / 4)) if text else 0


def _prompt_text(body: dict[str, Any]) -> str:
    parts: list[str] = []
    for message in body.get("messages") or []:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts.extend(p.get("text", "") for p in content if isinstance(p, dict))
    return "\n".join(parts)


def _default_chunks(text: str) -> list[str]:
    """Split into word-ish pieces (word + trailing whitespace), like a real token stream."""
    return re.findall(r"\S+\s*|\s+", text) or ([text] if text else [])


def _split_even(text: str, n: int) -> list[str]:
    if n <= 1 or len(text) <= 1:
        return [text]
    size = math.ceil(len(text) / n)
    return [text[i : i + size] for i in range(0, len(text), size)]


class OpenAIStub:
    """Scriptable fake of the OpenAI REST API bound to 127.0.0.1:<ephemeral>."""

    def __init__(
        self,
        *,
        default_text: str = "This is the stub's default reply.",
        models: Sequence[str] = ("gpt-4o-mini", "gpt-4o", "omni-moderation-latest"),
        host: str = "127.0.0.1",
        api_key: str | None = None,
    ) -> None:
        """``api_key``: when set, ``GET /v1/models`` answers 401 to any other bearer token, like OpenAI."""
        self.default_text = default_text
        self.models = list(models)
        self.api_key = api_key
        self.host = host
        self.requests: list[dict[str, Any]] = []
        self._queue: deque[ScriptedReply] = deque()
        self._moderation_predicate: Callable[[str], bool] | None = None
        self._moderation_categories: tuple[str, ...] = ("harassment",)
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._closing = asyncio.Event()
        self._new_request = asyncio.Condition()
        self._wait_cursor = 0

    # ------------------------------------------------------------------ lifecycle
    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1`` — pass straight to ``AsyncOpenAI(base_url=...)``."""
        if self._port is None:
            raise RuntimeError("OpenAIStub is not started")
        return f"http://{self.host}:{self._port}/v1"

    async def start(self) -> OpenAIStub:
        if self._runner is not None:
            return self
        self._closing = asyncio.Event()
        self._new_request = asyncio.Condition()
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat_completions)
        app.router.add_post("/v1/moderations", self._moderations)
        app.router.add_get("/v1/models", self._models)
        app.router.add_route("*", "/{tail:.*}", self._not_found)
        # Short shutdown timeout: a hanging handler must never stall test teardown.
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, self.host, 0)
        await site.start()
        server = site._server  # aiohttp exposes no public port accessor
        assert server is not None and server.sockets
        self._port = server.sockets[0].getsockname()[1]
        self._runner = runner
        return self

    async def stop(self) -> None:
        if self._runner is None:
            return
        self._closing.set()  # wakes queue_hang sleepers and stream delays
        runner, self._runner = self._runner, None
        await runner.cleanup()

    async def __aenter__(self) -> OpenAIStub:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ scripting
    def queue_text(
        self,
        text: str,
        *,
        chunks: int | Sequence[str] | None = None,
        delay_between_chunks: float = 0.0,
    ) -> None:
        """Queue an assistant text reply.

        ``chunks`` controls the SSE split when the request streams: ``None`` splits on
        words, an ``int`` splits into that many even pieces, a sequence of strings is
        used verbatim (it must join back to ``text``).
        """
        if isinstance(chunks, int):
            pieces: list[str] | None = _split_even(text, chunks)
        elif chunks is not None:
            pieces = list(chunks)
            if "".join(pieces) != text:
                raise ValueError("chunks must concatenate to text")
        else:
            pieces = None
        self._queue.append(
            ScriptedReply("text", text=text, chunks=pieces, delay_between_chunks=delay_between_chunks)
        )

    def queue_tool_calls(self, calls: Iterable[dict[str, Any]], *, delay_between_chunks: float = 0.0) -> None:
        """Queue a reply made of tool calls: ``[{"name": ..., "arguments": "<raw json>"}]``.

        ``arguments`` is sent verbatim (it may be invalid JSON, to test the caller's
        handling). An optional ``"id"`` overrides the generated call id.
        """
        normalized = []
        for i, call in enumerate(calls):
            normalized.append(
                {
                    "id": call.get("id") or f"call_{uuid.uuid4().hex[:24]}",
                    "name": call["name"],
                    "arguments": call.get("arguments", "{}"),
                    "index": i,
                }
            )
        self._queue.append(
            ScriptedReply("tool_calls", tool_calls=normalized, delay_between_chunks=delay_between_chunks)
        )

    def queue_error(
        self,
        status: int,
        *,
        type: str | None = None,  # mirrors the OpenAI field name
        code: str | None = None,
        message: str = "Stubbed error",
        param: str | None = None,
        retry_after: float | None = None,
        should_retry: bool | None = None,
    ) -> None:
        """Queue an OpenAI-shaped error ``{"error": {message, type, code, param}}``.

        ``retry_after`` (seconds, may be fractional) is sent both as ``retry-after-ms``
        and ``retry-after``. Note the openai client only honours a *positive* delay;
        ``retry_after=0`` makes it fall back to its own backoff (~0.4-0.5 s).
        """
        if type is None:
            type = _DEFAULT_ERROR_TYPES.get(
                status, "server_error" if status >= 500 else "invalid_request_error"
            )
        headers: dict[str, str] = {}
        if retry_after is not None:
            headers["retry-after-ms"] = str(round(retry_after * 1000))
            headers["retry-after"] = f"{retry_after:g}"
        if should_retry is not None:
            headers["x-should-retry"] = "true" if should_retry else "false"
        body = {"message": message, "type": type, "code": code, "param": param}
        self._queue.append(ScriptedReply("error", status=status, error=body, headers=headers))

    def queue_hang(self, seconds: float) -> None:
        """Queue a reply that stalls ``seconds`` before answering (to trip client timeouts)."""
        self._queue.append(ScriptedReply("hang", seconds=seconds))

    def queue_cut_stream(self, text_before_cut: str, *, chunks: int | Sequence[str] | None = None) -> None:
        """Queue a stream that sends ``text_before_cut`` then drops the TCP connection.

        No finish chunk and no ``[DONE]`` are sent; the chunked body is left
        unterminated so the client sees a protocol/connection error. A
        non-streaming request gets the connection dropped without any response.
        """
        if isinstance(chunks, int):
            pieces: list[str] | None = _split_even(text_before_cut, chunks)
        elif chunks is not None:
            pieces = list(chunks)
        else:
            pieces = None
        self._queue.append(ScriptedReply("cut", text=text_before_cut, chunks=pieces))

    def clear_queue(self) -> None:
        self._queue.clear()

    @property
    def pending(self) -> int:
        """Number of scripted replies not yet consumed."""
        return len(self._queue)

    def flag_moderation(
        self,
        rule: Callable[[str], bool] | Iterable[str] | None,
        *,
        categories: Sequence[str] = ("harassment",),
    ) -> None:
        """Make ``/v1/moderations`` flag inputs.

        ``rule`` is a predicate over the input text, or a collection of words
        (case-insensitive, whole-word match). ``None`` resets to "never flagged".
        """
        if rule is None:
            self._moderation_predicate = None
        elif callable(rule):
            self._moderation_predicate = rule
        else:
            words = {w.lower() for w in rule}
            pattern = re.compile(r"\b(" + "|".join(re.escape(w) for w in sorted(words)) + r")\b", re.I)
            self._moderation_predicate = (lambda text: bool(pattern.search(text))) if words else None
        self._moderation_categories = tuple(categories)

    # ------------------------------------------------------------------ recording
    async def wait_for_request(self, timeout: float = 5.0) -> dict[str, Any]:
        """Return the next recorded request not yet returned by this method.

        Waits up to ``timeout`` seconds; raises ``TimeoutError`` otherwise.
        """

        async def _wait() -> dict[str, Any]:
            async with self._new_request:
                await self._new_request.wait_for(lambda: len(self.requests) > self._wait_cursor)
                req = self.requests[self._wait_cursor]
                self._wait_cursor += 1
                return req

        return await asyncio.wait_for(_wait(), timeout)

    async def _record(self, request: web.Request) -> dict[str, Any]:
        raw = await request.read()
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = None
        entry = {
            "method": request.method,
            "path": request.path,
            "headers": dict(request.headers),
            "json": body,
            "time": time.perf_counter(),
        }
        self.requests.append(entry)
        async with self._new_request:
            self._new_request.notify_all()
        return entry

    # ------------------------------------------------------------------ handlers
    async def _sleep(self, seconds: float) -> None:
        """Sleep, but wake early when the stub is stopping."""
        if seconds <= 0:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), seconds)

    async def _not_found(self, request: web.Request) -> web.Response:
        await self._record(request)
        return self._error_response(
            404,
            {
                "message": f"Unknown path {request.path}",
                "type": "invalid_request_error",
                "code": None,
                "param": None,
            },
        )

    async def _models(self, request: web.Request) -> web.Response:
        await self._record(request)
        if self.api_key is not None and request.headers.get("Authorization") != f"Bearer {self.api_key}":
            error = {"message": "Incorrect API key provided.", "type": "invalid_request_error",
                     "code": "invalid_api_key", "param": None}
            return self._error_response(401, error)
        data = [{"id": m, "object": "model", "created": 1700000000, "owned_by": "stub"} for m in self.models]
        return web.json_response({"object": "list", "data": data})

    async def _moderations(self, request: web.Request) -> web.Response:
        entry = await self._record(request)
        body = entry["json"] or {}
        raw_input = body.get("input", "")
        inputs: list[str]
        if isinstance(raw_input, str):
            inputs = [raw_input]
        elif isinstance(raw_input, list) and all(isinstance(i, dict) for i in raw_input):
            inputs = [" ".join(i.get("text", "") for i in raw_input if i.get("type") == "text")]
        else:
            inputs = [str(i) for i in raw_input]
        results = []
        for text in inputs:
            flagged = bool(self._moderation_predicate and self._moderation_predicate(text))
            hit = set(self._moderation_categories) if flagged else set()
            results.append(
                {
                    "flagged": flagged,
                    "categories": {c: c in hit for c in MODERATION_CATEGORIES},
                    "category_scores": {c: (0.99 if c in hit else 0.0001) for c in MODERATION_CATEGORIES},
                    "category_applied_input_types": {
                        c: (["text"] if c in hit else []) for c in MODERATION_CATEGORIES
                    },
                }
            )
        return web.json_response(
            {
                "id": f"modr-{uuid.uuid4().hex[:24]}",
                "model": body.get("model") or "omni-moderation-latest",
                "results": results,
            }
        )

    @staticmethod
    def _error_response(
        status: int, error: dict[str, Any], headers: dict[str, str] | None = None
    ) -> web.Response:
        return web.json_response({"error": error}, status=status, headers=headers)

    async def _chat_completions(self, request: web.Request) -> web.StreamResponse:
        entry = await self._record(request)
        body = entry["json"]
        if not isinstance(body, dict):
            return self._error_response(
                400,
                {
                    "message": "Invalid JSON body",
                    "type": "invalid_request_error",
                    "code": None,
                    "param": None,
                },
            )
        reply = self._queue.popleft() if self._queue else ScriptedReply("text", text=self.default_text)

        if reply.kind == "hang":
            await self._sleep(reply.seconds)
            reply = ScriptedReply("text", text=self.default_text)
        if reply.kind == "error":
            return self._error_response(reply.status, reply.error, reply.headers)

        stream = bool(body.get("stream"))
        if reply.kind == "cut" and not stream:
            if request.transport is not None:
                request.transport.abort()
            return web.Response(status=500)  # never reaches the client

        meta = {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "created": int(time.time()),
            "model": body.get("model") or "gpt-4o-mini",
            "system_fingerprint": "fp_stub",
        }
        prompt_tokens = _approx_tokens(_prompt_text(body))
        if reply.kind == "tool_calls":
            completion_tokens = sum(_approx_tokens(c["name"] + c["arguments"]) for c in reply.tool_calls)
        else:
            completion_tokens = _approx_tokens(reply.text)
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }

        if not stream:
            return web.json_response(self._completion_body(reply, meta, usage))
        return await self._stream(request, body, reply, meta, usage)

    @staticmethod
    def _completion_body(reply: ScriptedReply, meta: dict[str, Any], usage: dict[str, int]) -> dict[str, Any]:
        if reply.kind == "tool_calls":
            message: dict[str, Any] = {
                "role": "assistant",
                "content": None,
                "refusal": None,
                "tool_calls": [
                    {
                        "id": c["id"],
                        "type": "function",
                        "function": {"name": c["name"], "arguments": c["arguments"]},
                    }
                    for c in reply.tool_calls
                ],
            }
            finish = "tool_calls"
        else:
            message = {"role": "assistant", "content": reply.text, "refusal": None}
            finish = "stop"
        return {
            **meta,
            "object": "chat.completion",
            "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
            "usage": usage,
        }

    async def _stream(
        self,
        request: web.Request,
        body: dict[str, Any],
        reply: ScriptedReply,
        meta: dict[str, Any],
        usage: dict[str, int],
    ) -> web.StreamResponse:
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        resp = web.StreamResponse(
            status=200,
            headers={"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"},
        )
        await resp.prepare(request)

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            out = {
                **meta,
                "object": "chat.completion.chunk",
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
            }
            if include_usage:
                out["usage"] = None
            return out

        events: list[dict[str, Any]] = []
        if reply.kind == "tool_calls":
            events.append(chunk({"role": "assistant", "content": None}))
            for call in reply.tool_calls:
                head = {
                    "index": call["index"],
                    "id": call["id"],
                    "type": "function",
                    "function": {"name": call["name"], "arguments": ""},
                }
                events.append(chunk({"tool_calls": [head]}))
                for frag in _split_even(call["arguments"], max(1, math.ceil(len(call["arguments"]) / 8))):
                    if frag:
                        events.append(
                            chunk({"tool_calls": [{"index": call["index"], "function": {"arguments": frag}}]})
                        )
            finish: str | None = "tool_calls"
        else:
            events.append(chunk({"role": "assistant", "content": ""}))
            pieces = reply.chunks if reply.chunks is not None else _default_chunks(reply.text)
            events.extend(chunk({"content": p}) for p in pieces)
            finish = "stop"

        try:
            for i, event in enumerate(events):
                if i and reply.delay_between_chunks:
                    await self._sleep(reply.delay_between_chunks)
                await resp.write(b"data: " + json.dumps(event).encode() + b"\n\n")
            if reply.kind == "cut":
                # Give the client a moment to read what was sent, then drop the socket
                # mid-body: the chunked transfer is never terminated.
                await asyncio.sleep(0.01)
                if request.transport is not None:
                    request.transport.abort()
                return resp
            await resp.write(b"data: " + json.dumps(chunk({}, finish)).encode() + b"\n\n")
            if include_usage:
                final = {**meta, "object": "chat.completion.chunk", "choices": [], "usage": usage}
                await resp.write(b"data: " + json.dumps(final).encode() + b"\n\n")
            await resp.write(b"data: [DONE]\n\n")
            await resp.write_eof()
        except (ConnectionResetError, ConnectionError):
            pass  # client went away (e.g. its own timeout); nothing to do
        return resp
