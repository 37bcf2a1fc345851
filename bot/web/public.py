"""The public view of a review's discussion: what the read API, the widget and ``export --all`` serve.

It is the ``matinee.comments/1`` document of :mod:`bot.discussions.export` (the same
shape, built by the same :func:`build_document`), over only what may be public:
servers that publish, members who consented, comments staff did not hide. The
API adds the thread links (``discussions``), its change-log position (``seq``,
for resuming live updates without a gap) and paging.

Rendering a 2,000-comment review costs tens of milliseconds, so the rendered bytes
(and their gzip form) are cached per review and request variant, and thrown away
when the change log shows the review changed. Every process learns of changes the
same way, from the log (:mod:`bot.web.hub`), so a cache is never staler than the
tailer's last tick.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

from .. import __version__
from ..discussions.export import build_document, nest_comments, public_id, rating_summary, render_html
from ..storage.web import Change, PublicSnapshot, WebRepository
from ..urls import normalize_post_url

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "SORTS",
    "WITHDRAWN",
    "ApiError",
    "Event",
    "Page",
    "PublicDiscussions",
    "Rendered",
    "thread_url",
]

SORTS = ("oldest", "newest", "top")
DEFAULT_LIMIT = 50
MAX_LIMIT = 500
MAX_OFFSET = 1_000_000
RENDER_VERSION = f"{__version__}.2"  # bump when the rendering changes, so old ETags stop matching
_SLUG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._~-]{0,199}$")
_MAX_NAMES = 4096
_MAX_BASES = 256
_MAX_RENDERED = 2048
# A withdrawn review (its source was deleted from the blog) is served like a deleted page: a 404 that
# says so, no comments, no counts. Its discussion stays in Discord; if it comes back, so does this.
WITHDRAWN = "That review was withdrawn from the blog; its discussion is no longer shown here."
GONE = "That review no longer exists, or was withdrawn from the blog."


class ApiError(Exception):
    """A request the API refuses; ``status`` is the HTTP status, ``message`` says why in plain words."""

    def __init__(self, status: int, message: str, *, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


@dataclass(frozen=True, slots=True)
class Page:
    sort: str = "oldest"
    offset: int = 0
    limit: int = DEFAULT_LIMIT


@dataclass(frozen=True, slots=True)
class Rendered:
    """Response bytes ready to send, with their validator; shared by every request that asks the same."""

    body: bytes
    gzipped: bytes
    etag: str
    seq: int
    review_id: int


@dataclass(frozen=True, slots=True)
class Event:
    """One server-sent event: ``data`` is JSON; ``seq`` becomes the SSE ``id``."""

    seq: int
    name: str
    data: dict[str, Any]

    def encode(self) -> bytes:
        payload = json.dumps(self.data, ensure_ascii=False, separators=(",", ":"))
        # JSON never contains a raw newline, so one data: line is always enough.
        return f"id: {self.seq}\nevent: {self.name}\ndata: {payload}\n\n".encode()


@dataclass(slots=True)
class _Base:
    """A review's public document, built once per change of the review."""

    snapshot: PublicSnapshot
    document: dict[str, Any]
    scores: dict[str, int]  # top-level comment id -> reactions + replies, for sort=top


def thread_url(guild_id: int, thread_id: int) -> str:
    return f"https://discord.com/channels/{guild_id}/{thread_id}"


def _score(node: Mapping[str, Any]) -> int:
    replies = node.get("replies") or []
    return sum(int(v) for v in node["reactions"].values()) + len(replies) + sum(_score(r) for r in replies)


class _LRU(OrderedDict):
    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def put(self, key: Any, value: Any) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.size:
            self.popitem(last=False)

    def fetch(self, key: Any) -> Any:
        value = self.get(key)
        if value is not None:
            self.move_to_end(key)
        return value


class PublicDiscussions:
    """Resolves a post address, slug or id to a review, and builds and renders its public discussion."""

    def __init__(self, repository: WebRepository, public_url: str) -> None:
        self.repository = repository
        self.public_url = public_url.rstrip("/")
        self._known: dict[int, int] = {}  # review id -> newest seq the tailer saw touching it
        self._bases: _LRU = _LRU(_MAX_BASES)
        self._rendered: _LRU = _LRU(_MAX_RENDERED)
        self._building: dict[int, asyncio.Future[_Base | None]] = {}
        self._names: _LRU = _LRU(_MAX_NAMES)  # ("url", key) or ("review", name) -> review id

    # -- what the tailer tells us -----------------------------------------------------------

    def changed(self, changes: Iterable[Change]) -> None:
        """The change log moved: forget what it made stale."""
        for change in changes:
            if change.seq > self._known.get(change.review_id, 0):
                self._known[change.review_id] = change.seq
            if change.kind == "review":
                self._names.clear()

    def _fresh(self, review_id: int, seq: int) -> bool:
        return seq >= self._known.get(review_id, 0)

    # -- which review -------------------------------------------------------------------------

    async def resolve(self, *, url: str | None = None, review: str | None = None) -> int:
        """The review named by exactly one of a post address or ``review``; ApiError 400/404 otherwise.

        ``review`` is what :mod:`bot.storage.review_names` resolves everywhere: the review's
        slug, a slug it had before, its id, or its post's address.
        """
        if (url is None) == (review is None):
            raise ApiError(400, "Give exactly one of `url` (the post's address) or `review` (its slug).")
        if review is not None and "/" not in review:
            if not _SLUG.match(review):
                raise ApiError(
                    400, "`review` must be a review's slug (letters, digits, '-', '_', '.', '~'), id or post address."
                )
            found = await self._cached(("review", review), lambda: self.repository.find_review_id(review))
            if found is None:
                if await self.repository.find_review_id(review, withdrawn=True) is not None:
                    raise ApiError(404, WITHDRAWN)
                raise ApiError(404, f"No review has the slug or id {review!r}.")
            return found
        address = url if url is not None else review
        assert address is not None
        key = normalize_post_url(address)
        if key is None:
            name = "url" if url is not None else "review"
            raise ApiError(400, f"`{name}` must be an absolute http(s) address of a blog post.")
        found = await self.review_for_url(key)
        if found is None:
            if await self.repository.withdrawn_at_url(key):
                raise ApiError(404, WITHDRAWN)
            raise ApiError(404, "No review is known at this address. Is the post in one of Matinee's feeds?")
        return found

    async def review_for_url(self, key: str) -> int | None:
        """The review of the post whose normal address (``reviews.url_key``) is ``key``."""

        async def read() -> int | None:
            return (await self.repository.review_ids_for_url_keys([key])).get(key)

        return await self._cached(("url", key), read)

    async def _cached(self, name: tuple[str, str], read: Callable[[], Awaitable[int | None]]) -> int | None:
        """A name's review from memory, else from the database; only found names are kept.

        Every widget on a busy page asks by the same address, so the answer is remembered
        until the change log says any review changed (its address or slug may have). A name
        that finds nothing is asked again next time: the review may arrive any moment.
        """
        found: int | None = self._names.fetch(name)
        if found is not None:
            return found
        found = await read()
        if found is not None:
            self._names.put(name, found)
        return found

    # -- building ------------------------------------------------------------------------------

    async def _base(self, review_id: int) -> _Base | None:
        base = self._bases.fetch(review_id)
        if base is not None and self._fresh(review_id, base.snapshot.seq):
            return base
        pending = self._building.get(review_id)
        if pending is not None:  # one build serves every request that arrives meanwhile
            return await asyncio.shield(pending)
        future: asyncio.Future[_Base | None] = asyncio.get_running_loop().create_future()
        self._building[review_id] = future
        try:
            snapshot = await self.repository.snapshot(review_id)
            base = None if snapshot is None else self._build(snapshot)
            if base is not None:
                self._bases.put(review_id, base)
            future.set_result(base)
            return base
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it, nobody logs "never retrieved"
            raise
        finally:
            del self._building[review_id]

    def _build(self, snapshot: PublicSnapshot) -> _Base:
        document = build_document(
            snapshot.review,
            snapshot.comments,
            snapshot.poll_counts,
            snapshot.poll_final,
            snapshot.member_rating,
        )
        document["discussions"] = [
            {
                "server": link.guild_name,
                "thread_url": thread_url(link.guild_id, link.thread_id),
                "invite_url": link.invite_url,
            }
            for link in snapshot.discussions
        ]
        document["seq"] = snapshot.seq
        scores = {node["id"]: _score(node) for node in document["comments"]}
        return _Base(snapshot, document, scores)

    async def document(self, review_id: int, page: Page | None = None) -> dict[str, Any]:
        """The public document (one page of it with ``page``); ApiError 404 if the review is gone."""
        base = await self._base(review_id)
        if base is None:
            raise ApiError(404, GONE)
        return self._page(base, page) if page is not None else dict(base.document)

    def _page(self, base: _Base, page: Page) -> dict[str, Any]:
        threads: Sequence[dict[str, Any]] = base.document["comments"]
        if page.sort == "newest":
            threads = threads[::-1]
        elif page.sort == "top":
            scores = base.scores
            threads = sorted(threads[::-1], key=lambda node: scores[node["id"]], reverse=True)
        selected = threads[page.offset : page.offset + page.limit]
        end = page.offset + len(selected)
        document = dict(base.document)
        document["comments"] = list(selected)
        document["page"] = {
            "sort": page.sort,
            "offset": page.offset,
            "limit": page.limit,
            "threads": len(threads),
            "next_offset": end if end < len(threads) else None,
        }
        return document

    # -- rendering -----------------------------------------------------------------------------

    async def render(self, review_id: int, fmt: str, page: Page) -> Rendered:
        """The bytes of one page as ``json`` or ``html``, from the cache while the review is unchanged."""
        key = (review_id, fmt, page)
        cached: Rendered | None = self._rendered.fetch(key)
        if cached is not None and self._fresh(review_id, cached.seq):
            return cached
        base = await self._base(review_id)
        if base is None:
            raise ApiError(404, GONE)
        document = self._page(base, page)
        if fmt == "json":
            body = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
        else:
            body = self.render_snippet(document).encode()
        variant = hashlib.blake2s(repr((fmt, page)).encode(), digest_size=6).hexdigest()
        etag = f'W/"{RENDER_VERSION}-{review_id}-{base.snapshot.review_seq}-{variant}"'
        rendered = Rendered(body, gzip.compress(body, 6, mtime=0), etag, base.snapshot.seq, review_id)
        self._rendered.put(key, rendered)
        return rendered

    @staticmethod
    def render_snippet(document: Mapping[str, Any]) -> str:
        """The script-free HTML list (the exporter's), with a link to each published thread."""
        html = render_html(document)
        links = []
        for link in document.get("discussions", []):
            href = escape(link["thread_url"])
            links.append(
                f'<a class="matinee-join" href="{href}" rel="nofollow noopener noreferrer">'
                "Join the discussion on Discord</a>"
            )
            if link.get("invite_url"):
                links.append(
                    f'<a class="matinee-invite" href="{escape(link["invite_url"])}" '
                    'rel="nofollow noopener noreferrer">Not a member yet? Join the server</a>'
                )
        if links:
            html = html.replace("</section>", f'<p class="matinee-discord">{" ".join(links)}</p>\n</section>')
        return html

    # -- counts ---------------------------------------------------------------------------------

    async def counts(self, urls: Sequence[str]) -> dict[str, Any]:
        """For each address as given: its public comment count and poll rating, or None if unknown."""
        keys: dict[str, str | None] = {url: normalize_post_url(url) for url in urls}
        ids: dict[str, int] = {}
        unknown: list[str] = []
        for key in {k for k in keys.values() if k is not None}:
            cached = self._names.fetch(("url", key))
            if cached is not None:
                ids[key] = cached
            else:
                unknown.append(key)
        if unknown:  # one read for every address not yet remembered
            for key, review_id in (await self.repository.review_ids_for_url_keys(unknown)).items():
                self._names.put(("url", key), review_id)
                ids[key] = review_id
        found = {url: ids[key] for url, key in keys.items() if key is not None and key in ids}
        numbers = await self.repository.counts(list(found.values())) if found else {}
        out: dict[str, Any] = {}
        for url in urls:
            review_id = found.get(url)
            if review_id is None:
                out[url] = None
                continue
            entry = numbers[review_id]
            poll = rating_summary(entry.poll_counts, False, None)["poll"]
            out[url] = {
                "comment_count": entry.comments,
                "rating": {"average": poll["average"], "votes": poll["votes"]},
            }
        return out

    # -- live events ----------------------------------------------------------------------------

    async def events(self, review_id: int, changes: Sequence[Change]) -> list[Event]:
        """What readers of a review must be told about ``changes`` (all of that review), in seq order.

        A change to the review itself or to who may be shown means "reload"; a
        comment change after it becomes the comment as the public now sees it, or
        its removal; votes become the new rating summary.
        """
        if not changes:
            return []
        events: list[Event] = []
        # A reload covers everything before it; each reader skips events at or below its own position,
        # so one that already has the list as of a later change still gets the events after that.
        reload_at = max((c.seq for c in changes if c.kind in ("review", "consent")), default=0)
        if reload_at:
            events.append(Event(reload_at, "reload", {"review_id": review_id}))
        changes = [c for c in changes if c.seq > reload_at]
        last_seq: dict[int, int] = {}
        for change in changes:
            if change.kind == "comment" and change.message_id is not None:
                last_seq[int(change.message_id)] = change.seq
        if last_seq:
            public, count = await self.repository.public_comments(review_id, last_seq)
            for message_id, seq in sorted(last_seq.items(), key=lambda item: item[1]):
                comment = public.get(message_id)
                if comment is None:
                    events.append(Event(seq, "remove", {"id": public_id(message_id), "comment_count": count}))
                else:
                    node = nest_comments([comment])[0]
                    parent = public_id(comment.reply_to_id) if comment.reply_to_id is not None else None
                    data = {"comment": node, "parent_id": parent, "comment_count": count}
                    events.append(Event(seq, "comment", data))
        ratings = [c.seq for c in changes if c.kind == "rating"]
        if ratings:
            counts, final, member = await self.repository.rating(review_id)
            events.append(Event(max(ratings), "rating", {"rating_summary": rating_summary(counts, final, member)}))
        events.sort(key=lambda e: e.seq)
        return events
