"""A normalised review before it is stored, whatever its source (feed, Markdown, Discord)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..slugs import slugify
from ..text import EMBED_TITLE, clean_text, excerpt, one_line, truncate
from ..timestamps import utc_iso

__all__ = ["MAX_BODY_CHARS", "ReviewDraft", "category_key", "in_category", "parse_rating", "plain_preview", "slugify"]

MAX_BODY_CHARS = 60_000  # the stored body (search, chat); embeds only ever show the excerpt
EXCERPT_CHARS = 300
MAX_URL_CHARS = 2000


def category_key(name: str) -> str:
    """How categories compare: "Film Reviews", "film-reviews" and "FILM_REVIEWS" are one category.

    A subscription's ``category:`` is typed by staff, often as the slug in the category's
    address (``/category/film-reviews/feed/``), while feeds list the category's name.
    Letters of every script count, so "Критика" is not every other non-Latin name.
    """
    folded = unicodedata.normalize("NFKC", name).casefold()
    return re.sub(r"[\W_]+", "-", folded).strip("-")


def in_category(categories: Iterable[str], wanted: str) -> bool:
    """Whether an entry listed under ``categories`` (its categories and tags) is in ``wanted``."""
    key = category_key(wanted)
    return bool(key) and any(category_key(str(c)) == key for c in categories)


_STAR_RE = re.compile(r"^[★☆✩✭⭐½\s]+$")


def parse_rating(value: Any, *, scale: float = 5.0) -> float | None:
    """A rating on the 0–5 scale from "4", "4.5", "4/5", "8/10", "★★★½" or 4; None if unusable."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    else:
        text = str(value).strip()
        if not text:
            return None
        if _STAR_RE.match(text):
            number = text.count("★") + text.count("⭐") + text.count("✭") + 0.5 * text.count("½")
        else:
            match = re.match(r"^\s*(\d+(?:[.,]\d+)?)\s*(?:/\s*(\d+(?:[.,]\d+)?))?", text)
            if not match:
                return None
            number = float(match.group(1).replace(",", "."))
            if match.group(2):
                out_of = float(match.group(2).replace(",", "."))
                if out_of <= 0:
                    return None
                number = number / out_of * scale
    if number != number or number < 0 or number > scale:  # NaN or out of range
        return None
    return round(number * 2) / 2


def plain_preview(markdown: str) -> str:
    """The body as one block of prose for the excerpt: headings and quotes joined to the text."""
    lines = [line.strip() for line in markdown.splitlines()]
    text = " ".join(line for line in lines if line)
    return re.sub(r"\s+", " ", text)


@dataclass
class ReviewDraft:
    source_key: str
    title: str
    body_md: str = ""
    url: str | None = None
    author: str | None = None
    film_title: str | None = None
    film_year: int | None = None
    film_id: int | None = None
    rating: float | None = None
    image_url: str | None = None
    tags: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    spoilers: bool = False
    published_at: dt.datetime | None = None
    excerpt_text: str | None = None
    slug: str | None = None  # the address the source gives it (front matter `slug`), already slugified
    # Where the post's own comments are published as a feed, and how many it has (bot/bridge):
    # not part of the review's content, so changing them is not an edit of the announcement.
    comments_feed: str | None = None
    comment_count: int | None = None

    def normalise(self, *, now: dt.datetime | None = None) -> ReviewDraft:
        """Clean every display field and clamp what could break Discord or the database."""
        now = now or dt.datetime.now(dt.UTC)
        self.title = truncate(one_line(self.title or ""), EMBED_TITLE) or "Untitled review"
        self.author = truncate(one_line(self.author), 256) if self.author else None
        self.author = self.author or None
        if self.film_title:
            self.film_title = truncate(one_line(self.film_title), 200) or None
        if self.film_year is not None and not 1870 <= self.film_year <= now.year + 5:
            self.film_year = None
        self.body_md = truncate(clean_text(self.body_md or "").strip(), MAX_BODY_CHARS)
        # Discord refuses embeds with absurd URLs; a review without a link beats one that can't be posted.
        if self.url and len(self.url) > MAX_URL_CHARS:
            self.url = None
        if self.image_url and len(self.image_url) > MAX_URL_CHARS:
            self.image_url = None
        if self.comments_feed and len(self.comments_feed) > MAX_URL_CHARS:
            self.comments_feed = None
        self.tags = [t for t in dict.fromkeys(one_line(str(t))[:50] for t in self.tags) if t][:25]
        if self.published_at is not None:
            if self.published_at.tzinfo is None:
                self.published_at = self.published_at.replace(tzinfo=dt.UTC)
            # A future date would keep the entry "newest" forever and block everything after it.
            self.published_at = min(self.published_at, now)
        if self.excerpt_text is None:
            self.excerpt_text = excerpt(plain_preview(self.body_md), EXCERPT_CHARS)
        return self

    @property
    def content_hash(self) -> str:
        """What counts as an edit: any visible field changing (not the fetch time)."""
        payload = json.dumps(
            [
                self.title, self.body_md, self.url, self.author, self.film_title, self.film_year, self.rating,
                self.image_url, self.tags, self.spoilers,
                utc_iso(self.published_at) if self.published_at else None,
            ],
            ensure_ascii=False,
        )  # fmt: skip
        return hashlib.sha256(payload.encode("utf-8", "surrogatepass")).hexdigest()

    def fields(self, *, source: str, slug: str | None = None) -> dict[str, Any]:
        """Column values for ``reviews`` (slug only for new rows: it is a permanent address)."""
        values: dict[str, Any] = {
            "source": source,
            "source_key": self.source_key,
            "title": self.title,
            "url": self.url,
            "author": self.author,
            "film_title": self.film_title,
            "film_year": self.film_year,
            "film_id": self.film_id,
            "rating": self.rating,
            "excerpt": self.excerpt_text or "",
            "body_md": self.body_md,
            "image_url": self.image_url,
            "tags": list(self.tags),
            "spoilers": self.spoilers,
            "published_at": utc_iso(self.published_at) if self.published_at else None,
            "content_hash": self.content_hash,
        }
        if slug is not None:
            values["slug"] = slug
        return values
