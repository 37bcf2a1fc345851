"""Parsing RSS 2.0 / Atom documents into review drafts, with stable dedupe keys.

feedparser copes with the real web's feeds (WordPress, Ghost, Hugo, Substack,
Letterboxd; wrong encodings, half-broken XML). We never let it touch the
network or the disk: it only ever sees a ``BytesIO`` of a body we fetched
ourselves (given a ``str`` or ``bytes``, feedparser would treat a path- or
URL-looking document as something to open). Documents that declare XML
entities are refused up front with defusedxml: entity expansion ("billion
laughs") is the classic way a feed takes a parser's memory down.
"""

from __future__ import annotations

import calendar
import datetime as dt
import hashlib
import io
import re
from dataclasses import dataclass, field
from typing import Any

import feedparser
from defusedxml import DefusedXmlException
from defusedxml import ElementTree as DefusedET

from ..text import clean_text
from .draft import ReviewDraft, parse_rating
from .html import html_to_markdown, safe_url

__all__ = [
    "FeedParseError",
    "ParsedFeed",
    "best_content",
    "comments_feed_of",
    "entry_keys",
    "feed_datetime",
    "feed_text",
    "load_document",
    "parse_feed",
]

MAX_ENTRIES = 200  # a feed with more items than this is truncated (newest first, as feeds list them)


class FeedParseError(Exception):
    """The document is not a usable feed; the message is safe to show to an admin."""


@dataclass
class ParsedFeed:
    title: str | None
    entries: list[ReviewDraft] = field(default_factory=list)  # feed order (usually newest first)
    warnings: list[str] = field(default_factory=list)


def _refuse_entities(data: bytes) -> None:
    head = data[:65536].lower()
    if b"<!entity" not in head and b"<!doctype" not in head:
        return
    try:
        DefusedET.fromstring(data, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except DefusedXmlException:
        raise FeedParseError("the feed declares XML entities, which are refused (entity-expansion attack)") from None
    except Exception:  # malformed XML: feedparser's lenient parser decides below
        if b"<!entity" in head:
            raise FeedParseError("the feed declares XML entities, which are refused") from None


def feed_datetime(value: Any) -> dt.datetime | None:
    """A feedparser time struct (UTC) as a datetime; None when absent or out of range."""
    if not value:
        return None
    try:
        return dt.datetime.fromtimestamp(calendar.timegm(value), dt.UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def feed_text(value: Any) -> str:
    """A feed field as clean one-piece text (control and invisible characters removed)."""
    return clean_text(str(value)) if value else ""


def _strip_tags(value: str) -> str:
    return html_to_markdown(value).markdown.replace("\\", "") if "<" in value or "&" in value else value


def best_content(entry: Any) -> str:
    """``content:encoded`` / Atom ``content`` when present (the longest HTML one), else the summary."""
    contents = entry.get("content") or []
    best = ""
    for item in contents:
        value = item.get("value") or ""
        if len(value) > len(best):
            best = value
    return best or entry.get("summary") or entry.get("description") or ""


def _entry_image(entry: Any, base: str | None) -> str | None:
    for key in ("media_content", "media_thumbnail"):
        for media in entry.get(key) or []:
            url = safe_url(media.get("url"), base)
            medium = (media.get("medium") or media.get("type") or "image").lower()
            if url and ("image" in medium or key == "media_thumbnail"):
                return url
    for enclosure in entry.get("enclosures") or []:
        if (enclosure.get("type") or "").startswith("image/"):
            url = safe_url(enclosure.get("href") or enclosure.get("url"), base)
            if url:
                return url
    return None


def _fallback_key(title: str, published: dt.datetime | None, content: str) -> str:
    basis = f"{title}\x00{published.isoformat() if published else ''}"
    if not title and not published:
        basis += "\x00" + content[:2000]
    return "h:" + hashlib.sha256(basis.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def entry_keys(raw: list[tuple[str | None, str | None, str, str]]) -> list[str | None]:
    """Stable per-feed keys for (guid, link, title_date_key, content_hash) tuples, in order.

    The key is the guid, else the link, else a hash of title and date. A guid that
    several different items share (broken CMS templates do this) can't identify
    them, so - like MonitoRSS, which falls back to other article properties when
    an id is not unique - such items are keyed by guid plus their own link/title
    hash, which stays stable across polls. Items that are exact duplicates (same
    key and same content) collapse to one: ``None`` marks the repeats.
    """
    primary = [(guid or link or fallback) for guid, link, fallback, _ in raw]
    counts: dict[str, int] = {}
    for key in primary:
        counts[key] = counts.get(key, 0) + 1
    out: list[str | None] = []
    used: set[str] = set()
    seen_content: set[tuple[str, str]] = set()
    for (_guid, link, fallback, content_hash), key in zip(raw, primary, strict=True):
        if counts[key] > 1:
            if (key, content_hash) in seen_content:
                out.append(None)
                continue
            seen_content.add((key, content_hash))
            distinct = link if link and link != key else fallback
            key = f"{key}#{hashlib.sha256(distinct.encode('utf-8', 'surrogatepass')).hexdigest()[:16]}"
            n = 2
            base = key
            while key in used:  # same guid, same link, same title+date, different body: order decides
                key = f"{base}~{n}"
                n += 1
        if key in used:
            out.append(None)
            continue
        used.add(key)
        out.append(key)
    return out


def load_document(data: bytes, *, url: str | None = None, content_type: str | None = None) -> Any:
    """A fetched body read as an RSS or Atom document (feedparser's result); FeedParseError if it is none.

    The one way Matinee reads a feed, a review feed or a comment feed (bot/bridge).
    CPU-bound: call it in a worker thread.
    """
    if not data or not data.strip():
        raise FeedParseError("the feed is empty (no content)")
    _refuse_entities(data)
    headers = {"content-location": url or ""}
    if content_type:
        headers["content-type"] = content_type
    parsed = feedparser.parse(io.BytesIO(data), response_headers=headers, sanitize_html=True)
    if not (parsed.get("version") or "") and not parsed.get("entries"):
        if parsed.get("bozo"):
            reason = type(parsed.get("bozo_exception")).__name__ if parsed.get("bozo_exception") else "malformed"
            raise FeedParseError(f"this is not a valid RSS or Atom feed ({reason})")
        raise FeedParseError("this is not an RSS or Atom feed")
    return parsed


def comments_feed_of(entry: Any, base: str | None) -> str | None:
    """Where the post's own comments are published as a feed: ``<wfw:commentRss>``, or Atom's ``rel="replies"``."""
    url = safe_url(feed_text(entry.get("wfw_commentrss")).strip(), base)
    if url:
        return url
    for link in entry.get("links") or []:
        kind = (link.get("type") or "").lower()
        if link.get("rel") == "replies" and kind.endswith(("atom+xml", "rss+xml", "/xml")):
            return safe_url(link.get("href"), base)
    return None


def _comment_count(entry: Any) -> int | None:
    """``<slash:comments>``: how many comments the post has, as the blog says."""
    text = feed_text(entry.get("slash_comments")).strip()
    return min(int(text), 10**9) if text.isdigit() and len(text) < 12 else None


def parse_feed(data: bytes, *, url: str | None = None, content_type: str | None = None) -> ParsedFeed:
    """Parse a fetched feed body (CPU-bound: call it in a worker thread)."""
    parsed = load_document(data, url=url, content_type=content_type)
    entries = list(parsed.get("entries") or [])
    feed_info = parsed.get("feed") or {}
    base = feed_info.get("link") or url
    result = ParsedFeed(title=_strip_tags(feed_text(feed_info.get("title"))).strip()[:200] or None)
    if parsed.get("bozo") and entries:
        result.warnings.append("the feed is not well-formed; parsed it leniently")
    if len(entries) > MAX_ENTRIES:
        result.warnings.append(f"only the first {MAX_ENTRIES} of {len(entries)} entries were read")
        entries = entries[:MAX_ENTRIES]

    drafts: list[ReviewDraft] = []
    raw_keys: list[tuple[str | None, str | None, str, str]] = []
    for entry in entries:
        link = safe_url(entry.get("link"), base)
        title = _strip_tags(feed_text(entry.get("title"))).strip()
        published = feed_datetime(entry.get("published_parsed") or entry.get("updated_parsed"))
        html = best_content(entry)
        doc = html_to_markdown(html, link or base)
        categories = [feed_text(t.get("term") or t.get("label")) for t in entry.get("tags") or [] if t]
        author = feed_text(entry.get("author") or (entry.get("author_detail") or {}).get("name"))
        film = feed_text(entry.get("letterboxd_filmtitle"))
        year_text = feed_text(entry.get("letterboxd_filmyear"))
        draft = ReviewDraft(
            source_key="",
            title=title or _untitled(doc.markdown),
            body_md=doc.markdown,
            url=link,
            author=author or None,
            film_title=film or None,
            film_year=int(year_text) if year_text.isdigit() else None,
            rating=parse_rating(entry.get("letterboxd_memberrating")),
            image_url=_entry_image(entry, link or base) or doc.image_url,
            tags=[c for c in categories if c],
            categories=[c for c in categories if c],
            spoilers="spoiler" in " ".join(categories).lower() or "(contains spoilers)" in title.lower(),
            published_at=published,
            comments_feed=comments_feed_of(entry, link or base),
            comment_count=_comment_count(entry),
        )
        guid = feed_text(entry.get("id") or entry.get("guid")).strip() or None
        fallback = _fallback_key(title, published, html)
        content_hash = hashlib.sha256(f"{title}\x00{html}".encode("utf-8", "surrogatepass")).hexdigest()
        raw_keys.append((guid, link, fallback, content_hash))
        drafts.append(draft)
    for draft, key in zip(drafts, entry_keys(raw_keys), strict=True):
        if key is None:
            continue
        draft.source_key = key[:500]
        result.entries.append(draft)
    return result


def _untitled(markdown: str) -> str:
    """A title for an entry without one: its first words, so the announcement still says something."""
    words = re.sub(r"[*_`>\[\]()\\#-]", "", markdown).split()
    return " ".join(words[:8]) + ("…" if len(words) > 8 else "") if words else "Untitled review"
