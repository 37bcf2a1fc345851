"""A loopback HTTP server that serves feeds for tests (never the real web).

Routes are set per path with :meth:`FeedServer.serve`; the server honours
``If-None-Match`` (ETag) and ``If-Modified-Since`` with 304, can redirect,
gzip, stall, or answer with any status, and records every request so tests can
assert conditional GETs were sent.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import ssl
from dataclasses import dataclass, field

from aiohttp import web

__all__ = ["FeedServer", "Route", "atom_feed", "rss_feed"]


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    content_type: str = "application/rss+xml"
    headers: dict[str, str] = field(default_factory=dict)
    etag: bool = True
    last_modified: str | None = "Wed, 01 Jan 2025 00:00:00 GMT"
    gzip: bool = False
    raw_gzip: bytes | None = None  # pre-compressed body sent as-is (gzip bombs)
    redirect_to: str | None = None
    delay: float = 0.0


@dataclass
class SeenRequest:
    path: str
    headers: dict[str, str]


class FeedServer:
    """``host``/``port``/``ssl_context`` let a test put the server where a name resolves (any 127.x address)."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, ssl_context: ssl.SSLContext | None = None) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[SeenRequest] = []
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self.host = host
        self.port = port
        self._ssl_context = ssl_context

    async def start(self) -> FeedServer:
        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        self._site = web.TCPSite(self._runner, self.host, self.port, ssl_context=self._ssl_context)
        try:
            await self._site.start()
        except BaseException:  # e.g. the port is taken at that address: leave nothing open
            await self._runner.cleanup()
            raise
        self.port = self._site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> FeedServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def url(self, path: str) -> str:
        scheme = "https" if self._ssl_context is not None else "http"
        return f"{scheme}://{self.host}:{self.port}{path}"

    def serve(self, path: str, body: bytes | str = b"", **options) -> Route:
        route = Route(body=body.encode() if isinstance(body, str) else body, **options)
        self.routes[path] = route
        return route

    def requests_to(self, path: str) -> list[SeenRequest]:
        return [r for r in self.requests if r.path == path]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(SeenRequest(request.path, dict(request.headers)))
        route = self.routes.get(request.path)
        if route is None:
            return web.Response(status=404, text="not found")
        if route.delay:
            await asyncio.sleep(route.delay)
        if route.redirect_to is not None:
            raise web.HTTPFound(route.redirect_to)
        headers = dict(route.headers)
        tag = f'"{hashlib.sha256(route.body).hexdigest()[:16]}"' if route.etag else None
        if tag:
            headers["ETag"] = tag
        if route.last_modified:
            headers["Last-Modified"] = route.last_modified
        if route.status == 200 and tag and request.headers.get("If-None-Match") == tag:
            return web.Response(status=304, headers=headers)
        body = route.body
        if route.raw_gzip is not None:
            body = route.raw_gzip
            headers["Content-Encoding"] = "gzip"
        elif route.gzip:
            body = gzip.compress(body)
            headers["Content-Encoding"] = "gzip"
        headers["Content-Type"] = route.content_type
        return web.Response(status=route.status, body=body, headers=headers)


def rss_feed(items: list[dict], *, title: str = "The Film Blog", link: str = "https://blog.example/") -> str:
    """A WordPress-style RSS 2.0 document; items: title, link, guid, date (RFC 822), html, categories, creator."""
    parts = []
    for item in items:
        cats = "".join(f"<category><![CDATA[{c}]]></category>" for c in item.get("categories", []))
        guid = f'<guid isPermaLink="false">{item["guid"]}</guid>' if item.get("guid") else ""
        link = f"<link>{item['link']}</link>" if item.get("link") else ""
        date = f"<pubDate>{item['date']}</pubDate>" if item.get("date") else ""
        item_title = f"<title>{item['title']}</title>" if item.get("title") is not None else ""
        parts.append(
            f"<item>{item_title}{link}{date}<dc:creator><![CDATA[{item.get('creator', 'Wong Critic')}]]></dc:creator>"
            f"{cats}{guid}<description><![CDATA[{item.get('summary', 'Short summary.')}]]></description>"
            f"<content:encoded><![CDATA[{item.get('html', '<p>Body.</p>')}]]></content:encoded></item>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>'
        f"<title>{title}</title><link>{link}</link><description>Reviews</description>"
        + "".join(parts)
        + "</channel></rss>"
    )


def atom_feed(entries: list[dict], *, title: str = "Hugo Reviews") -> str:
    """An Atom 1.0 document; entries: title, link, id, updated (ISO), html, author, categories."""
    parts = []
    for e in entries:
        cats = "".join(f'<category term="{c}"/>' for c in e.get("categories", []))
        parts.append(
            f'<entry><title>{e["title"]}</title><link href="{e["link"]}"/><id>{e["id"]}</id>'
            f"<updated>{e['updated']}</updated><author><name>{e.get('author', 'Agnes Atom')}</name></author>{cats}"
            f'<content type="html"><![CDATA[{e.get("html", "<p>Body.</p>")}]]></content></entry>'
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">'
        f"<title>{title}</title><id>urn:hugo</id><updated>2025-01-01T00:00:00Z</updated>" + "".join(parts) + "</feed>"
    )
