"""A post's comment feed (RSS or Atom) read into blog comments: who, what, when, where on the blog.

WordPress publishes every post's comments at ``<post>/feed/`` (newest first, as many
as Settings → Reading's "Syndication feeds show the most recent" says), and any
RSS/Atom feed of comments reads the same way. The document is read exactly like a
review feed (:func:`bot.reviews.feeds.load_document`: entity attacks refused,
feedparser on bytes we fetched), and each comment's HTML goes through the same
normaliser as a review's (:func:`bot.reviews.html.html_to_markdown`): scripts,
iframes, forms and tracking pixels dropped, Markdown and mentions escaped. Each
comment is keyed like a review entry (:func:`bot.reviews.feeds.entry_keys`): its
guid, else its link, else a hash of author and date.
"""

from __future__ import annotations

import hashlib
import html
import re
from dataclasses import dataclass
from typing import Any

from ..reviews.feeds import best_content, entry_keys, feed_datetime, feed_text, load_document
from ..reviews.html import html_to_markdown, safe_url
from ..text import one_line, truncate
from ..timestamps import utc_iso

__all__ = ["MAX_COMMENTS", "MAX_COMMENT_CHARS", "BlogCommentEntry", "parse_comment_feed"]

MAX_COMMENTS = 200  # a comment feed listing more is read up to here (newest first, as feeds list them)
MAX_COMMENT_CHARS = 10_000  # what is stored of one comment (Discord shows less; the blog has it all)
MAX_AUTHOR_CHARS = 100
MAX_URL_CHARS = 2000
ANONYMOUS = "A blog reader"
_TAG = re.compile(r"<[^>]*>")
_BY_PREFIX = re.compile(r"^(?:by|comment on .+ by)\s*:?\s*", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class BlogCommentEntry:
    """One comment as the blog's feed lists it now."""

    key: str  # stable in this feed: the guid, else the link, else a hash
    author: str  # the name the reader gave (never empty)
    content: str  # Discord Markdown: escaped, mentions defused, at most MAX_COMMENT_CHARS
    url: str | None  # the comment's anchor on the blog (http/https only)
    published_at: str | None  # the stored time format (bot/timestamps), None when the feed gives no date


def _published(entry: Any) -> str | None:
    value = feed_datetime(entry.get("published_parsed") or entry.get("updated_parsed"))
    return utc_iso(value) if value is not None else None


def _author(entry: Any) -> str:
    """The commenter's name: the feed's author, else WordPress's "By: Name" title."""
    name = feed_text(entry.get("author") or (entry.get("author_detail") or {}).get("name"))
    if not name:
        name = _BY_PREFIX.sub("", feed_text(entry.get("title")))
    # A name is plain text wherever Matinee shows it (escaped there): no markup, one line.
    name = one_line(html.unescape(_TAG.sub("", name)))
    return truncate(name, MAX_AUTHOR_CHARS) or ANONYMOUS


def _fallback_key(author: str, published: str | None, content: str) -> str:
    basis = f"{author}\x00{published or ''}\x00{'' if published else content[:2000]}"
    return "h:" + hashlib.sha256(basis.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def parse_comment_feed(
    data: bytes, *, url: str | None = None, content_type: str | None = None
) -> list[BlogCommentEntry]:
    """The comments a fetched comment feed lists, in feed order (CPU-bound: call it in a worker thread).

    Raises :class:`bot.reviews.feeds.FeedParseError` for anything that is not an
    RSS or Atom document (an HTML page, an error page, an entity attack).
    """
    parsed = load_document(data, url=url, content_type=content_type)
    base = (parsed.get("feed") or {}).get("link") or url
    found: list[tuple[str, str, str | None, str | None]] = []
    raw_keys: list[tuple[str | None, str | None, str, str]] = []
    for entry in list(parsed.get("entries") or [])[:MAX_COMMENTS]:
        link = safe_url(entry.get("link"), base)
        if link and len(link) > MAX_URL_CHARS:
            link = None
        author = _author(entry)
        published = _published(entry)
        markup = best_content(entry)
        content = truncate(html_to_markdown(markup, link or base).markdown, MAX_COMMENT_CHARS)
        guid = feed_text(entry.get("id") or entry.get("guid")).strip() or None
        content_hash = hashlib.sha256(f"{author}\x00{markup}".encode("utf-8", "surrogatepass")).hexdigest()
        raw_keys.append((guid, link, _fallback_key(author, published, markup), content_hash))
        found.append((author, content, link, published))
    comments = []
    for (author, content, link, published), key in zip(found, entry_keys(raw_keys), strict=True):
        if key is not None:
            comments.append(BlogCommentEntry(key[:500], author, content, link, published))
    return comments
