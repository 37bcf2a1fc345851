"""A loopback server of many RSS 2.0 feeds with ETag/Last-Modified, run as its own process.

It runs outside the bench process so the feed figure's CPU time is Matinee's
alone. ``python -m bench.feed_server --feeds N`` prints ``PORT <n>`` and then serves:

- ``GET /feed/<i>.xml``: a WordPress-style feed (10 items with ``content:encoded``),
  304 when ``If-None-Match`` or ``If-Modified-Since`` matches the current version;
- ``POST /_admin/bump?first=<a>&count=<n>``: feeds a..a+n-1 publish a new entry;
- ``GET /_admin/stats`` / ``POST /_admin/reset-stats``: requests, 200s, 304s and body bytes sent.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import email.utils
import hashlib
import sys
import time

from aiohttp import web

ITEMS_PER_FEED = 10
_PARAGRAPH = (
    "<p>The camera lingers on the empty platform long after the train has gone, and the score, all low strings "
    "and patience, lets the silence do the work. It is the kind of scene that <em>earns</em> its running time; "
    '<a href="https://blog.example/tag/slow-cinema">slow cinema</a> at its most generous.</p>'
)


class Feeds:
    def __init__(self, count: int) -> None:
        self.count = count
        self.version = [0] * count
        self.base_time = time.time() - 86_400 * 30
        self.stats = {"requests": 0, "ok": 0, "not_modified": 0, "bytes": 0}
        self._cache: dict[tuple[int, int], tuple[bytes, str, str]] = {}

    def document(self, index: int) -> tuple[bytes, str, str]:
        key = (index, self.version[index])
        cached = self._cache.get(key)
        if cached is None:
            cached = self._render(index, self.version[index])
            self._cache = {k: v for k, v in self._cache.items() if k[0] != index}
            self._cache[key] = cached
        return cached

    def _render(self, index: int, version: int) -> tuple[bytes, str, str]:
        newest = ITEMS_PER_FEED + version
        items = []
        for n in range(newest, newest - ITEMS_PER_FEED, -1):
            published = self.base_time + n * 3600
            items.append(
                f"<item><title>Blog {index} review {n}: a film about trains and time</title>"
                f"<link>https://blog{index}.example/reviews/{n}</link>"
                f'<guid isPermaLink="false">blog{index}-review-{n}</guid>'
                f"<pubDate>{email.utils.formatdate(published, usegmt=True)}</pubDate>"
                f"<category>Film {index}-{n}</category>"
                f"<description><![CDATA[{_PARAGRAPH[:200]}]]></description>"
                f"<content:encoded><![CDATA[{_PARAGRAPH * 5}]]></content:encoded></item>"
            )
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">'
            f"<channel><title>Blog {index}</title><link>https://blog{index}.example/</link>"
            f"<description>Reviews</description>{''.join(items)}</channel></rss>"
        ).encode()
        etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'  # an ETag, not security
        modified = email.utils.formatdate(self.base_time + newest * 3600, usegmt=True)
        return body, etag, modified


def build_app(feeds: Feeds) -> web.Application:
    async def feed(request: web.Request) -> web.Response:
        feeds.stats["requests"] += 1
        index = int(request.match_info["index"])
        if not 0 <= index < feeds.count:
            raise web.HTTPNotFound()
        body, etag, modified = feeds.document(index)
        headers = {"ETag": etag, "Last-Modified": modified}
        if request.headers.get("If-None-Match") == etag or (
            "If-None-Match" not in request.headers and request.headers.get("If-Modified-Since") == modified
        ):
            feeds.stats["not_modified"] += 1
            return web.Response(status=304, headers=headers)
        feeds.stats["ok"] += 1
        feeds.stats["bytes"] += len(body)
        return web.Response(body=body, headers=headers, content_type="application/rss+xml")

    async def bump(request: web.Request) -> web.Response:
        first = int(request.query.get("first", "0"))
        count = int(request.query.get("count", "0"))
        for i in range(first, min(first + count, feeds.count)):
            feeds.version[i] += 1
        return web.json_response({"bumped": count})

    async def stats(request: web.Request) -> web.Response:
        return web.json_response(feeds.stats)

    async def reset(request: web.Request) -> web.Response:
        feeds.stats.update(requests=0, ok=0, not_modified=0, bytes=0)
        return web.json_response(feeds.stats)

    app = web.Application()
    app.router.add_get("/feed/{index:\\d+}.xml", feed)
    app.router.add_post("/_admin/bump", bump)
    app.router.add_get("/_admin/stats", stats)
    app.router.add_post("/_admin/reset-stats", reset)
    return app


async def serve(count: int) -> None:
    runner = web.AppRunner(build_app(Feeds(count)), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    print(f"PORT {port}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--feeds", type=int, default=1000)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.feeds))
    return 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["Feeds", "build_app"]
