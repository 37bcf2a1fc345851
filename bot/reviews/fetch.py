"""Fetching feeds politely and defensively.

Feeds are untrusted input from the open web, so the fetcher:

* refuses anything but ``http``/``https`` (no ``file:``, ``ftp:``, ``gopher:``…),
  for the first URL and for every redirect hop;
* refuses hosts on private networks (loopback, RFC 1918, link-local such as the
  cloud metadata address, …): any server admin can add a feed, and must not be
  able to make the bot probe the network it runs in (server-side request
  forgery). The URL is checked here, for every hop, so the admin gets a clear
  message up front; the session from :mod:`bot.outbound` checks every address a
  name resolves to *in the lookup the connection uses*, so a DNS server that
  answers differently the second time (rebinding) gains nothing.
  ``FEED_ALLOW_PRIVATE_NETWORKS`` lifts this for a blog on the operator's own
  network (and for the tests, whose feeds are on loopback);
* follows at most :data:`MAX_REDIRECTS` redirects itself and detects loops;
* sends conditional GETs (``If-None-Match`` / ``If-Modified-Since``), so an
  unchanged feed costs the publisher a 304 and us no parsing;
* enforces a total timeout and a size cap **while streaming**, and because it
  decompresses gzip/deflate itself with a bounded ``decompressobj``, the cap also
  holds for the decompressed size (a 50 KB gzip bomb can't become 5 GB in memory).

It borrows the bot's feeds session (``bot.outbound.session(Purpose.FEEDS)``), and
refuses any session not made by :func:`bot.outbound.create_session`: the policy
must travel with the session, never beside it.
"""

from __future__ import annotations

import asyncio
import zlib
from dataclasses import dataclass

import aiohttp
import yarl

from ..outbound import NetworkPolicy, PrivateAddressError, private_address_refusal, session_policy

__all__ = [
    "MAX_FEED_BYTES",
    "MAX_REDIRECTS",
    "FeedFetchError",
    "FeedFetcher",
    "FetchResult",
    "validate_feed_url",
]

MAX_FEED_BYTES = 5 * 1024 * 1024
MAX_REDIRECTS = 5
DEFAULT_TIMEOUT = aiohttp.ClientTimeout(total=20, sock_connect=10, sock_read=15)
_CHUNK = 64 * 1024
_REDIRECT_STATUSES = {301, 302, 303, 307, 308}
ACCEPT = "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"


class FeedFetchError(Exception):
    """A feed could not be fetched; the message is safe to show to a server admin.

    ``unreachable`` is True when no server answered at all (a name that does not resolve,
    a refused connection, a timeout): the network may be down rather than the feed wrong.
    """

    def __init__(self, message: str, *, unreachable: bool = False) -> None:
        super().__init__(message)
        self.unreachable = unreachable


@dataclass(frozen=True, slots=True)
class FetchResult:
    url: str  # the final URL after redirects (base for relative links)
    status: int
    body: bytes = b""
    etag: str | None = None
    last_modified: str | None = None
    content_type: str | None = None

    @property
    def not_modified(self) -> bool:
        return self.status == 304


PRIVATE_NETWORKS_REFUSED = "feeds on private networks are not allowed"


def _refusal_message(refusal: PrivateAddressError) -> str:
    if refusal.resolved:
        return f"{refusal.host} resolves to a private address; {PRIVATE_NETWORKS_REFUSED}"
    return PRIVATE_NETWORKS_REFUSED


def validate_feed_url(raw: str, *, allow_private: bool = False) -> str:
    """Normalise a feed URL or raise :class:`FeedFetchError` saying what is wrong with it."""
    text = (raw or "").strip()
    if not text:
        raise FeedFetchError("the feed URL is empty")
    if len(text) > 2000:
        raise FeedFetchError("the feed URL is too long")
    try:
        url = yarl.URL(text)
    except (ValueError, TypeError):
        raise FeedFetchError("that is not a valid URL") from None
    if url.scheme.lower() not in ("http", "https"):
        raise FeedFetchError("only http:// and https:// feed URLs are supported")
    if not url.host:
        raise FeedFetchError("the feed URL has no host name")
    if url.user or url.password:
        raise FeedFetchError("feed URLs with a user name or password are not supported")
    try:
        NetworkPolicy(allow_private=allow_private).check_host(url.host)
    except PrivateAddressError as refusal:
        raise FeedFetchError(_refusal_message(refusal)) from None
    return str(url.with_fragment(None))


class _Decoder:
    """Streaming gzip/deflate decoder whose output can never exceed ``limit`` bytes."""

    def __init__(self, encoding: str, limit: int) -> None:
        encoding = encoding.strip().lower()
        if encoding in ("", "identity"):
            self._z = None
        elif encoding in ("gzip", "x-gzip"):
            self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self._z = zlib.decompressobj()
        else:
            raise FeedFetchError(f"the server used an unsupported content encoding ({encoding[:20]})")
        self._limit = limit
        self.size = 0
        self._deflate_raw_tried = encoding != "deflate"

    def feed(self, chunk: bytes) -> bytes:
        if self._z is None:
            out = chunk
        else:
            try:
                # max_length bounds the memory of one step; unconsumed input is kept and drained below.
                out = self._z.decompress(chunk, self._limit - self.size + 1)
                while self._z.unconsumed_tail and len(out) + self.size <= self._limit:
                    out += self._z.decompress(self._z.unconsumed_tail, self._limit - self.size - len(out) + 1)
            except zlib.error:
                if not self._deflate_raw_tried:  # some servers send raw deflate without the zlib header
                    self._deflate_raw_tried = True
                    self._z = zlib.decompressobj(-zlib.MAX_WBITS)
                    return self.feed(chunk)
                raise FeedFetchError("the server sent a corrupt compressed response") from None
        self.size += len(out)
        if self.size > self._limit:
            raise FeedFetchError(f"the feed is larger than {self._limit // (1024 * 1024)} MB (after decompression)")
        return out


class FeedFetcher:
    """Fetches feed documents with the bot's feeds session."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        max_bytes: int = MAX_FEED_BYTES,
        timeout: aiohttp.ClientTimeout = DEFAULT_TIMEOUT,
        max_redirects: int = MAX_REDIRECTS,
    ) -> None:
        """``session`` must come from :mod:`bot.outbound`; its policy decides ``allow_private``."""
        policy = session_policy(session)
        if policy is None:
            raise TypeError("FeedFetcher needs a session from bot.outbound.create_session, which enforces the policy")
        self.allow_private = policy.allow_private
        self._session = session
        self._max_bytes = max_bytes
        self._timeout = timeout
        self._max_redirects = max_redirects

    async def fetch(self, url: str, *, etag: str | None = None, last_modified: str | None = None) -> FetchResult:
        """GET the feed, following redirects by hand; raises :class:`FeedFetchError` on any failure."""
        current = validate_feed_url(url, allow_private=self.allow_private)
        headers = {"Accept": ACCEPT, "Accept-Encoding": "gzip, deflate"}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        try:
            async with asyncio.timeout(self._timeout.total):
                return await self._follow(current, headers, etag=etag, last_modified=last_modified)
        except FeedFetchError:
            raise
        except TimeoutError:
            raise FeedFetchError("the feed did not answer in time", unreachable=True) from None
        except aiohttp.ClientError as exc:
            if (refusal := private_address_refusal(exc)) is not None:
                raise FeedFetchError(_refusal_message(refusal)) from None
            if isinstance(exc, aiohttp.ClientConnectorDNSError):
                raise FeedFetchError(f"cannot resolve {exc.host}", unreachable=True) from None
            if isinstance(exc, aiohttp.ClientConnectorError):
                raise FeedFetchError(f"cannot connect to {exc.host}", unreachable=True) from None
            raise FeedFetchError(f"network error ({type(exc).__name__})") from None
        except (ValueError, OSError) as exc:  # bad URLs from hostile Location headers, socket errors
            raise FeedFetchError(f"network error ({type(exc).__name__})") from None

    async def _follow(
        self, current: str, headers: dict[str, str], *, etag: str | None, last_modified: str | None
    ) -> FetchResult:
        """The GET and its redirects: every hop's target is validated like the original URL, loops refused."""
        seen = {current}
        for _hop in range(self._max_redirects + 1):
            async with self._session.get(
                current,
                headers=headers,
                allow_redirects=False,
                auto_decompress=False,
                timeout=self._timeout,
            ) as resp:
                if resp.status in _REDIRECT_STATUSES:
                    location = resp.headers.get("Location")
                    if not location:
                        raise FeedFetchError(f"HTTP {resp.status} redirect without a Location header")
                    nxt = validate_feed_url(str(resp.url.join(yarl.URL(location))), allow_private=self.allow_private)
                    if nxt in seen:
                        raise FeedFetchError("the feed URL redirects in a loop")
                    seen.add(nxt)
                    current = nxt
                    continue
                if resp.status == 304:
                    return FetchResult(current, 304, etag=etag, last_modified=last_modified)
                if resp.status >= 400:
                    raise FeedFetchError(f"HTTP {resp.status} {resp.reason or ''}".strip())
                if resp.status != 200:
                    raise FeedFetchError(f"unexpected HTTP status {resp.status}")
                body = await self._read_capped(resp)
                return FetchResult(
                    current,
                    200,
                    body,
                    etag=resp.headers.get("ETag"),
                    last_modified=resp.headers.get("Last-Modified"),
                    content_type=resp.headers.get("Content-Type"),
                )
        raise FeedFetchError(f"too many redirects (more than {self._max_redirects})")

    async def _read_capped(self, resp: aiohttp.ClientResponse) -> bytes:
        length = resp.headers.get("Content-Length", "")
        if length.isdigit() and int(length) > self._max_bytes:
            raise FeedFetchError(f"the feed is larger than {self._max_bytes // (1024 * 1024)} MB")
        decoder = _Decoder(resp.headers.get("Content-Encoding", ""), self._max_bytes)
        parts: list[bytes] = []
        raw = 0
        async for chunk in resp.content.iter_chunked(_CHUNK):
            raw += len(chunk)
            if raw > self._max_bytes:
                raise FeedFetchError(f"the feed is larger than {self._max_bytes // (1024 * 1024)} MB")
            parts.append(decoder.feed(chunk))
        return b"".join(parts)
