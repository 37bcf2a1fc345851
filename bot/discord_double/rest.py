"""The REST API's front door: every ``/api/v10/...`` request is recorded, checked and routed.

Why this exists: what happens to a request before its handler runs is where Discord's
failure modes live, and their order matters: authentication (401), an injected fault (a lost
response is answered after the handler instead: see ``Faults.lose_response``), the
global rate limit, an unknown route (404, also listed in ``unhandled``), the route's bucket,
and only then the handler. Keeping that pipeline in one short function makes the order
visible; the handlers themselves live in :mod:`bot.discord_double.routes`, by resource.

A handler is called as ``handler(record, json_body, files, *path_groups)`` and returns the
JSON to answer (None answers 204), or raises :class:`DiscordError`. Tests may replace a
route's ``handler`` (found by its ``__name__``, e.g. ``_r_post_message``) to delay or lose
answers; the pipeline looks the handler up on every request.
"""

from __future__ import annotations

import json
import re
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from bot.discord_double.faults import Faults
from bot.discord_double.ratelimits import RateLimits, bucket_id
from bot.discord_double.recording import RecordedFile, RecordedRequest, RequestLog
from bot.discord_double.responses import DiscordError, json_response
from bot.discord_double.state import State

_CHANNEL_PATH = re.compile(r"/channels/(\d+)")  # a channel of a guild the bot is out of answers 403

ID = r"(\d+)"
"""A snowflake in a route pattern."""
TOKEN = r"([^/]+)"
"""An interaction token or an emoji in a route pattern."""

Handler = Callable[..., Awaitable[Any]]
RouteSpec = tuple[str, str, Handler]
"""(method, path pattern, handler), as each routes module lists them."""


@dataclass
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    template: str  # e.g. "POST /channels/{id}/messages": names the rate-limit bucket


async def parse_body(request: web.Request) -> tuple[Any, list[RecordedFile], bytes]:
    """(JSON body or multipart ``payload_json``, uploaded files, raw body)."""
    ctype = request.headers.get("Content-Type", "")
    if ctype.startswith("multipart/"):
        payload: Any = None
        files: list[RecordedFile] = []
        reader = await request.multipart()
        async for part in reader:
            if part is None or not hasattr(part, "read"):
                continue
            data = await part.read(decode=True)  # type: ignore[union-attr]
            name = part.name or ""  # type: ignore[union-attr]
            if name == "payload_json":
                payload = json.loads(data)
            else:
                files.append(RecordedFile(name, part.filename,  # type: ignore[union-attr]
                                          part.headers.get("Content-Type"), bytes(data)))
        return payload, files, b""
    body = await request.read()
    if body and "json" in ctype:
        return json.loads(body), [], body
    return None, [], body


class RestApi:
    """Answers REST requests: records them, applies auth, faults and rate limits, calls the route."""

    def __init__(self, state: State, routes: list[RouteSpec], *, log: RequestLog, faults: Faults,
                 limits: RateLimits) -> None:
        self.state = state
        self.log = log
        self.faults = faults
        self.limits = limits
        self.routes: list[Route] = []
        for method, pattern, handler in routes:
            template = re.sub(r"\(.*?\)", "{id}", pattern)
            self.routes.append(Route(method, re.compile(pattern), handler, f"{method} {template}"))

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """aiohttp handler for ``/api/v10/{tail}``."""
        path = "/" + request.match_info["tail"]
        try:
            payload, files, body = await parse_body(request)
        except ValueError:
            payload, files, body = None, [], b""
        rec = RecordedRequest(method=request.method, path=path, raw_path=request.raw_path,
                              query=dict(request.query), headers=dict(request.headers), json=payload,
                              files=files, body=body, timestamp=time.time())
        self.log.requests.append(rec)
        try:
            response = await self._answer(request, rec, path, payload, files)
        except Exception as exc:
            rec.response = {"message": f"double crashed: {exc!r}", "code": 0}
            response = json_response(rec.response, 500)
            traceback.print_exc()
        rec.status = response.status
        self.log.answered()
        return response

    def _match(self, method: str, path: str) -> tuple[Route, re.Match[str]] | tuple[None, None]:
        for candidate in self.routes:
            if candidate.method == method:
                match = candidate.pattern.fullmatch(path)
                if match:
                    return candidate, match
        return None, None

    async def _answer(self, request: web.Request, rec: RecordedRequest, path: str, payload: Any,
                      files: list[RecordedFile]) -> web.Response:
        route, match = self._match(request.method, path)
        template = route.template if route else f"{request.method} {path}"
        rec.route = route.template if route else None
        major = match.group(1) if match and match.groups() else ""
        bucket = bucket_id(template)

        token = self.state.token
        if token is not None and not path.startswith(("/interactions/", "/webhooks/")) and \
                request.headers.get("Authorization") != f"Bot {token}":
            rec.response = {"message": "401: Unauthorized", "code": 0}
            return json_response(rec.response, 401)
        fault = self.faults.find(request.method, path)
        if fault is not None and not fault.after_commit:
            return self.faults.respond(fault, bucket)
        channel = _CHANNEL_PATH.match(path)
        if channel is not None and self.state.is_away(self.state.channel_guild_id(int(channel.group(1)))):
            rec.response = DiscordError(403, 50001, "Missing Access").body()
            return json_response(rec.response, 403)
        wait = self.limits.check_global_limit(path)
        if wait is not None:
            rec.response = {"retry_after": wait, "global": True}
            return self.limits.too_many_requests(wait, global_=True, bucket=bucket)

        if route is None or match is None:
            self.log.unhandled.append(rec)
            rec.response = {"message": f"Unknown route (not supported by DiscordDouble): {request.method} {path}",
                            "code": 10003}
            return json_response(rec.response, 404)

        headers = self.limits.take(template, major)
        if self.limits.enforce_bucket_limits and int(headers["X-RateLimit-Remaining"]) == 0 and \
                self.limits.overflowed(template, major):
            return self.limits.too_many_requests(float(headers["X-RateLimit-Reset-After"]), global_=False,
                                                 bucket=headers["X-RateLimit-Bucket"])
        try:
            result = await route.handler(rec, payload or {}, files, *match.groups())
        except DiscordError as err:
            rec.response = err.body()
            return json_response(rec.response, err.status, headers)
        if fault is not None:  # the work is done; the answer is lost (Faults.lose_response)
            response = self.faults.respond(fault, bucket)
            rec.response = {"lost": result}
            return response
        rec.response = result
        if result is None:
            return web.Response(status=204, headers=headers)
        return json_response(result, 200, headers)
