"""The aiohttp application: thin handlers over :class:`~bot.web.public.PublicDiscussions`, and its server.

Handlers only parse and validate parameters, call the service and shape the
response; the middleware and the response signal apply what every route needs
(GET/HEAD only, no bodies, rate limits, JSON errors, security headers, CORS).
:class:`WebServer` is the same in the bot's process (``matinee run``) and alone
(``matinee web``): created once, started, closed on shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gzip
import hashlib
import json
import logging
import math
import re
import socket
from collections.abc import Mapping
from importlib import resources
from types import MappingProxyType
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from .. import __version__
from ..storage import Database
from ..storage.web import WebRepository
from .hub import ChangeHub
from .openapi import MAX_COUNT_URLS, MAX_URL_LENGTH, openapi_document
from .public import DEFAULT_LIMIT, MAX_LIMIT, MAX_OFFSET, SORTS, ApiError, Page, PublicDiscussions, Rendered
from .security import KeyedRateLimiter, StreamLimiter, WebConfig, allowed_origin, client_address

__all__ = [
    "CONFIG_KEY",
    "HUB_KEY",
    "SERVICE_KEY",
    "WebServer",
    "build_app",
]

log = logging.getLogger(__name__)

CONFIG_KEY = web.AppKey("config", WebConfig)
SERVICE_KEY = web.AppKey("service", PublicDiscussions)
HUB_KEY = web.AppKey("hub", ChangeHub)
LIMITER_KEY = web.AppKey("limiter", KeyedRateLimiter)
STREAMS_KEY = web.AppKey("streams", StreamLimiter)
ROLE_KEY = web.AppKey("role", str)
ASSETS_KEY = web.AppKey("assets", dict)
CLIENT = web.RequestKey("client", str)  # the client's address as the guards see it

CSP = "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
MAX_QUERY_FIELDS = 120
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_EVENT_ID = re.compile(r"^[0-9]{1,18}$")
_INT = re.compile(r"^[0-9]{1,9}$")

routes = web.RouteTableDef()


class _QuietMalformedRequests(logging.Filter):
    """Malformed requests are the open internet's background noise: one INFO line each, no traceback.

    aiohttp logs every request its parser refuses at ERROR with a traceback, so a
    scanner could fill the logs; the 4xx it answers is unchanged.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HttpProcessingError):
            record.levelno, record.levelname = logging.INFO, "INFO"
            record.msg = "refused a malformed request from %s: " + f"{type(error).__name__} {error.code}"
            record.exc_info, record.exc_text = None, None
        return True


protocol_log = logging.getLogger("bot.web.protocol")
protocol_log.addFilter(_QuietMalformedRequests())


# --------------------------------------------------------------------------- helpers


def _json_bytes(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


def _error_response(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    response = web.json_response({"error": message}, status=status, headers=headers or {})
    response.headers["Cache-Control"] = "public, max-age=10" if status == 404 else "no-store"
    return response


def _query(
    request: web.Request, allowed: frozenset[str], repeatable: frozenset[str] = frozenset()
) -> Mapping[str, Any]:
    """The query string, strictly: known names only, each once (unless repeatable), valid UTF-8, no control chars.

    Repeatable names map to a tuple of values. The answer is read-only: for short query
    strings (every widget on a page sends the same few) it is shared by later requests.
    """
    raw = request.rel_url.raw_query_string
    if len(raw) <= _REMEMBERED_QUERY_LENGTH:
        return _parsed_query(raw, allowed, repeatable)
    return _parse_query(raw, allowed, repeatable)


_REMEMBERED_QUERY_LENGTH = 1024


@functools.lru_cache(maxsize=2048)
def _parsed_query(raw: str, allowed: frozenset[str], repeatable: frozenset[str]) -> Mapping[str, Any]:
    return _parse_query(raw, allowed, repeatable)  # an ApiError is raised again each time, never remembered


def _parse_query(raw: str, allowed: frozenset[str], repeatable: frozenset[str]) -> Mapping[str, Any]:
    try:
        pairs = parse_qsl(raw, keep_blank_values=True, errors="strict", max_num_fields=MAX_QUERY_FIELDS)
    except UnicodeDecodeError:
        raise ApiError(400, "The query string is not valid UTF-8.") from None
    except ValueError:
        raise ApiError(400, f"Too many query parameters (at most {MAX_QUERY_FIELDS}).") from None
    values: dict[str, Any] = {}
    for name, value in pairs:
        if name not in allowed:
            shown = name[:40] if not _CONTROL.search(name) else "(unprintable)"
            raise ApiError(400, f"Unknown parameter {shown!r}; this endpoint takes {', '.join(sorted(allowed))}.")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ApiError(400, f"`{name}` is not valid UTF-8.") from None
        if _CONTROL.search(value):
            raise ApiError(400, f"`{name}` contains control characters.")
        if name in repeatable:
            values[name] = (*values.get(name, ()), value)
        elif name in values:
            raise ApiError(400, f"`{name}` is given more than once.")
        else:
            values[name] = value
    return MappingProxyType(values)


def _int_param(values: Mapping[str, Any], name: str, default: int, low: int, high: int) -> int:
    raw = values.get(name)
    if raw is None:
        return default
    if not _INT.match(raw) or not low <= int(raw) <= high:
        raise ApiError(400, f"`{name}` must be a whole number from {low} to {high}.")
    return int(raw)


def _page(values: Mapping[str, Any]) -> Page:
    sort = values.get("sort", "oldest")
    if sort not in SORTS:
        raise ApiError(400, f"`sort` must be one of {', '.join(SORTS)}.")
    return Page(
        sort,
        _int_param(values, "offset", 0, 0, MAX_OFFSET),
        _int_param(values, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT),
    )


def _url_value(value: str | None) -> str | None:
    if value is not None and len(value) > MAX_URL_LENGTH:
        raise ApiError(400, f"`url` is longer than {MAX_URL_LENGTH} characters.")
    return value


def _etag_matches(header_values: list[str], etag: str) -> bool:
    """If-None-Match, compared weakly (RFC 9110 §13.1.2)."""
    bare = etag.removeprefix("W/")
    for header in header_values:
        for candidate in header.split(","):
            candidate = candidate.strip()
            if candidate == "*" or candidate.removeprefix("W/") == bare:
                return True
    return False


def _accepts_gzip(request: web.Request) -> bool:
    for part in request.headers.get("Accept-Encoding", "").lower().split(","):
        name, _, params = part.strip().partition(";")
        if name.strip() == "gzip":
            return params.replace(" ", "") not in ("q=0", "q=0.0", "q=0.00", "q=0.000")
    return False


def _cached_response(request: web.Request, body: bytes, etag: str, content_type: str, gzipped: bytes | None = None):
    config = request.app[CONFIG_KEY]
    headers = {
        "ETag": etag,
        "Cache-Control": (
            f"public, max-age={config.cache_max_age}, stale-while-revalidate={config.cache_stale_while_revalidate}"
        ),
        "Vary": "Accept-Encoding",
    }
    if _etag_matches(request.headers.getall("If-None-Match", []), etag):
        return web.Response(status=304, headers=headers)
    if gzipped is not None and _accepts_gzip(request):
        headers["Content-Encoding"] = "gzip"
        body = gzipped
    return web.Response(body=body, headers={**headers, "Content-Type": content_type})


def _rendered_response(request: web.Request, rendered: Rendered, content_type: str) -> web.Response:
    return _cached_response(request, rendered.body, rendered.etag, content_type, rendered.gzipped)


# --------------------------------------------------------------------------- middleware and headers


@web.middleware
async def guard(request: web.Request, handler: Any) -> web.StreamResponse:
    """Everything a public route needs before its handler runs, and JSON for every error."""
    config = request.app[CONFIG_KEY]
    try:
        peer = request.transport.get_extra_info("peername") if request.transport else None
        address = client_address(
            peer[0] if peer else None, request.headers.getall("X-Forwarded-For", []), config.networks
        )
        request[CLIENT] = address
        if request.method == "OPTIONS":
            return _preflight(request)
        if request.method not in ("GET", "HEAD"):
            raise ApiError(405, "This server only answers GET and HEAD.", headers={"Allow": "GET, HEAD"})
        if request.body_exists:
            response = _error_response(400, "Requests to this server carry no body.")
            response.force_close()
            return response
        wait = request.app[LIMITER_KEY].try_acquire(address)
        if wait:
            raise ApiError(
                429, "Too many requests from your address; slow down.", headers={"Retry-After": str(math.ceil(wait))}
            )
        return await handler(request)
    except ApiError as exc:
        return _error_response(exc.status, exc.message, exc.headers)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        headers = {"Allow": "GET, HEAD"} if exc.status == 405 else {}
        message = "Nothing is served at this address." if exc.status == 404 else exc.reason
        return _error_response(exc.status, message, headers)
    except (asyncio.CancelledError, ConnectionResetError):
        raise
    except Exception:
        log.exception("web request %s %s failed", request.method, request.rel_url.path[:200])
        return _error_response(500, "Something went wrong on our side.")


def _preflight(request: web.Request) -> web.Response:
    """CORS preflight for an allowed origin (an EventSource reconnect may send Last-Event-ID); 405 otherwise."""
    config = request.app[CONFIG_KEY]
    origin = allowed_origin(request.headers.get("Origin"), config.allowed_origins)
    method = request.headers.get("Access-Control-Request-Method", "")
    if origin is None or method not in ("GET", "HEAD"):
        raise ApiError(405, "This server only answers GET and HEAD.", headers={"Allow": "GET, HEAD"})
    return web.Response(
        status=204,
        headers={
            "Access-Control-Allow-Methods": "GET, HEAD",
            "Access-Control-Allow-Headers": "Last-Event-ID, If-None-Match",
            "Access-Control-Max-Age": "86400",
            "Cache-Control": "public, max-age=86400",
        },
    )


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """On every response, errors and streams included."""
    headers = response.headers
    headers["Server"] = "Matinee"
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Content-Security-Policy", CSP)
    headers.setdefault("Referrer-Policy", "no-referrer")
    headers.setdefault("Cross-Origin-Resource-Policy", "cross-origin")
    config = request.app[CONFIG_KEY]
    origin = allowed_origin(request.headers.get("Origin"), config.allowed_origins)
    if origin is not None:
        headers["Access-Control-Allow-Origin"] = origin
        headers["Access-Control-Expose-Headers"] = "ETag"
    if config.allowed_origins and "*" not in config.allowed_origins:
        vary = headers.get("Vary")
        headers["Vary"] = f"{vary}, Origin" if vary else "Origin"


# --------------------------------------------------------------------------- routes


@routes.get("/")
async def index(request: web.Request) -> web.Response:
    _query(request, frozenset())
    return web.json_response(
        {"name": "Matinee", "api": "/v1/openapi.json", "widget": "/embed.js", "health": "/healthz"},
        headers={"Cache-Control": "public, max-age=3600"},
    )


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    _query(request, frozenset())
    hub = request.app[HUB_KEY]
    try:
        seq = await asyncio.wait_for(hub.repository.max_seq(), 3.0)
    except Exception as exc:
        log.warning("health check could not read the database: %s", exc)
        return _error_response(503, "The database cannot be read.")
    return web.json_response(
        {"status": "ok", "role": request.app[ROLE_KEY], "version": __version__, "seq": seq},
        headers={"Cache-Control": "no-store"},
    )


@routes.get("/embed.js")
async def embed_js(request: web.Request) -> web.Response:
    _query(request, frozenset({"v"}))
    body, gzipped, etag = request.app[ASSETS_KEY]["embed.js"]
    response = _cached_response(request, body, etag, "text/javascript; charset=utf-8", gzipped)
    response.headers["Cache-Control"] = "public, max-age=300, stale-while-revalidate=86400"
    # A public script: any page may load it in CORS mode (`crossorigin="anonymous"`, as the README's
    # snippet does), so the blog's cookies never travel with it, even on a sibling subdomain.
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@routes.get("/v1/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    _query(request, frozenset())
    body, gzipped, etag = request.app[ASSETS_KEY]["openapi.json"]
    return _cached_response(request, body, etag, "application/json", gzipped)


_PAGE_PARAMS = frozenset({"url", "review", "sort", "offset", "limit"})


async def _comments_page(request: web.Request, fmt: str, content_type: str) -> web.Response:
    values = _query(request, _PAGE_PARAMS)
    service = request.app[SERVICE_KEY]
    review_id = await service.resolve(url=_url_value(values.get("url")), review=values.get("review"))
    rendered = await service.render(review_id, fmt, _page(values))
    return _rendered_response(request, rendered, content_type)


@routes.get("/v1/comments")
async def comments(request: web.Request) -> web.Response:
    return await _comments_page(request, "json", "application/json")


@routes.get("/v1/comments.html")
async def comments_html(request: web.Request) -> web.Response:
    return await _comments_page(request, "html", "text/html; charset=utf-8")


@routes.get("/v1/counts")
async def counts(request: web.Request) -> web.Response:
    values = _query(request, frozenset({"url"}), repeatable=frozenset({"url"}))
    urls = values.get("url", [])
    if not urls:
        raise ApiError(400, "Give at least one `url`.")
    if len(urls) > MAX_COUNT_URLS:
        raise ApiError(400, f"At most {MAX_COUNT_URLS} `url` parameters per request.")
    for url in urls:
        _url_value(url)
    body = _json_bytes({"counts": await request.app[SERVICE_KEY].counts(list(dict.fromkeys(urls)))})
    etag = f'W/"c-{hashlib.blake2s(body, digest_size=10).hexdigest()}"'
    return _cached_response(request, body, etag, "application/json")


@routes.get("/v1/events")
async def events(request: web.Request) -> web.StreamResponse:
    values = _query(request, frozenset({"url", "review", "since"}))
    service, hub = request.app[SERVICE_KEY], request.app[HUB_KEY]
    review_id = await service.resolve(url=_url_value(values.get("url")), review=values.get("review"))
    since: int | None = None
    last_event_id = request.headers.get("Last-Event-ID")
    if last_event_id:
        if not _EVENT_ID.match(last_event_id.strip()):
            raise ApiError(400, "Last-Event-ID must be an event id this server sent.")
        since = int(last_event_id.strip())
    elif "since" in values:
        if not _EVENT_ID.match(values["since"]):
            raise ApiError(400, "`since` must be a whole number (the `seq` of /v1/comments).")
        since = int(values["since"])
    streams = request.app[STREAMS_KEY]
    address = request[CLIENT]
    refusal = streams.refusal(address)
    if refusal is not None:
        status = 503 if streams.open >= streams.total else 429
        raise ApiError(status, refusal, headers={"Retry-After": "30"})
    with streams.hold(address):
        return await _stream(request, hub, review_id, since)


async def _stream(request: web.Request, hub: ChangeHub, review_id: int, since: int | None) -> web.StreamResponse:
    config = request.app[CONFIG_KEY]
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",  # nginx: pass events through at once
        }
    )
    subscription = hub.subscribe(review_id)  # before the replay: nothing can fall between the two
    try:
        await response.prepare(request)
        if request.method == "HEAD":
            return response
        sent = since if since is not None else hub.position
        backlog = await hub.replay(review_id, since) if since is not None else []
        first = f'retry: 3000\nid: {sent}\nevent: ready\ndata: {{"seq":{sent}}}\n\n'.encode()
        frames = [first] + [event.encode() for event in backlog if event.seq > sent]
        if backlog:
            sent = max(sent, *(event.seq for event in backlog))
        await response.write(b"".join(frames))
        while not subscription.closed:
            await subscription.wait(config.heartbeat_seconds)
            if subscription.closed:
                break
            if subscription.overflowed:
                subscription.overflowed = False
                subscription.take()
                sent = max(sent, hub.position)
                chunk = f'id: {sent}\nevent: reload\ndata: {{"review_id":{review_id}}}\n\n'.encode()
            else:
                pending = [(seq, frame) for seq, frame in subscription.take() if seq > sent]
                if pending:
                    sent = pending[-1][0]
                    chunk = b"".join(frame for _, frame in pending)
                else:
                    chunk = b": ping\n\n"
            await response.write(chunk)
    except (ConnectionResetError, ConnectionError, RuntimeError):
        pass  # the reader went away (RuntimeError: writing to a closed transport)
    finally:
        hub.unsubscribe(subscription)
    return response


# --------------------------------------------------------------------------- the application


def _asset(body: bytes) -> tuple[bytes, bytes, str]:
    return body, gzip.compress(body, 9, mtime=0), f'"{hashlib.blake2s(body, digest_size=12).hexdigest()}"'


def build_app(
    service: PublicDiscussions, hub: ChangeHub, config: WebConfig, *, role: str = "standalone"
) -> web.Application:
    """The application, wired to a service and a hub; on shutdown every event stream ends at once."""
    app = web.Application(middlewares=[guard], client_max_size=1024)
    app[CONFIG_KEY] = config
    app[SERVICE_KEY] = service
    app[HUB_KEY] = hub
    app[ROLE_KEY] = role
    app[LIMITER_KEY] = KeyedRateLimiter(config.requests_per_second, config.request_burst)
    app[STREAMS_KEY] = StreamLimiter(config.streams_per_address, config.max_streams)
    embed = resources.files("bot.web").joinpath("static/embed.js").read_bytes()
    app[ASSETS_KEY] = {
        "embed.js": _asset(embed),
        "openapi.json": _asset(_json_bytes(openapi_document(config.public_url))),
    }
    app.add_routes(routes)
    app.on_response_prepare.append(_security_headers)

    async def end_streams(_: web.Application) -> None:
        await hub.close()

    app.on_shutdown.append(end_streams)
    return app


class WebServer:
    """The read API and widget server over one database: started once, closed on shutdown."""

    def __init__(self, db: Database, config: WebConfig, *, role: str = "standalone") -> None:
        self.config = config
        self.repository = WebRepository(db)
        self.service = PublicDiscussions(self.repository, config.public_url)
        self.hub = ChangeHub(self.repository, self.service, interval=config.tail_interval)
        self.app = build_app(self.service, self.hub, config, role=role)
        self._runner: web.AppRunner | None = None
        self._site: web.BaseSite | None = None

    async def start(self, sock: socket.socket | None = None) -> None:
        """Tail the change log and listen (on ``sock`` if given, bound already); OSError if the address is taken."""
        await self.hub.start()
        runner = web.AppRunner(
            self.app,
            handle_signals=False,
            access_log=None,
            logger=protocol_log,
            shutdown_timeout=self.config.shutdown_timeout,
            handler_cancellation=True,  # a reader that leaves ends its stream at once
            keepalive_timeout=self.config.header_timeout,  # also bounds how long headers may take
            max_line_size=self.config.max_line_size,
            max_field_size=self.config.max_field_size,
            max_headers=self.config.max_headers,
            lingering_time=1.0,
        )
        await runner.setup()
        try:
            site: web.BaseSite
            if sock is not None:
                site = web.SockSite(runner, sock, backlog=1024)
            else:
                site = web.TCPSite(runner, self.config.host, self.config.port, backlog=1024, reuse_address=True)
            await site.start()
        except BaseException:
            await runner.cleanup()
            await self.hub.close()
            raise
        self._runner, self._site = runner, site

    @property
    def port(self) -> int:
        """The port actually bound (useful when asked for port 0 in tests and benchmarks)."""
        assert self._runner is not None, "the server is not started"
        for address in self._runner.addresses:
            if isinstance(address, tuple):
                return int(address[1])
        raise RuntimeError("the server has no TCP address")

    @property
    def url(self) -> str:
        host = self.config.host if ":" not in self.config.host else f"[{self.config.host}]"
        return f"http://{host}:{self.port}"

    async def close(self) -> None:
        """Stop listening, end every stream, wait briefly for requests in flight."""
        runner, self._runner = self._runner, None
        if runner is not None:
            with contextlib.suppress(Exception):
                await runner.cleanup()  # on_shutdown ends the streams (hub.close)
        await self.hub.close()
