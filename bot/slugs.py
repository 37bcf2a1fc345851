"""A review's slug: the short name operators, templates and the read API call it by.

A blog already named every post: the last segment of its address. The WordPress post
``…/2026/11/24/chungking-express-a-love-letter-to-loneliness/`` is
``chungking-express-a-love-letter-to-loneliness`` to its author, to Jekyll's
``page.slug`` and to anyone reading the address bar, so that is the review's slug
too (:func:`slug_from_url`). A review without a usable address (written in Discord,
a Markdown file without ``url``, WordPress's plain ``?p=412`` links) is named after
its title (:func:`slugify`). Two reviews that would share a name get ``-2``, ``-3``…
in the order they were stored (:func:`slug_candidates`); which names are taken is
the storage layer's to say (:mod:`bot.storage.review_names`).

Slugs are lower-case ASCII letters, digits and single hyphens, so they are safe in
file names, URLs and shell commands as they are.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from urllib.parse import unquote, urlsplit

__all__ = ["TITLE_SLUG_CHARS", "URL_SLUG_CHARS", "review_slug", "slug_candidates", "slug_from_url", "slugify"]

TITLE_SLUG_CHARS = 60
URL_SLUG_CHARS = 120  # WordPress allows 200; past this length a name is no longer something to type
_INDEX_PAGE = re.compile(r"^(index|default)\.(html?|shtml|php|aspx?)$", re.IGNORECASE)
_PAGE_SUFFIX = re.compile(r"\.(html?|shtml|php|aspx?)$", re.IGNORECASE)


def slugify(text: str, *, limit: int = TITLE_SLUG_CHARS) -> str:
    """ "Chungking Express: A Love Letter" -> "chungking-express-a-love-letter" ("review" if nothing is left)."""
    return _fold(text, limit) or "review"


def _fold(text: str, limit: int) -> str:
    """Accents folded to ASCII, lower case, every run of anything else one hyphen; "" if nothing is left."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:limit].rstrip("-")


def slug_from_url(url: str | None) -> str | None:
    """The slug a post's address gives it: its last path segment, or None when it names no post.

    ``…/chungking-express/``, ``…/chungking-express`` and ``…/chungking-express/index.html``
    all give ``chungking-express``; ``…/2026/11/chungking-express.html`` (Blogger) too.
    Percent-encoding is decoded and accents folded (``am%C3%A9lie`` → ``amelie``). None
    for an address without a usable segment: the site's root, WordPress's plain
    ``?p=412`` permalinks, a number alone (``/archives/412``: an id, not a name) or a
    segment of characters that fold to nothing (a title in Chinese); the title names
    those reviews instead.
    """
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    segments = [segment for segment in parts.path.split("/") if segment]
    while segments and _INDEX_PAGE.match(unquote(segments[-1])):
        segments.pop()
    if not segments:
        return None
    segment = _PAGE_SUFFIX.sub("", unquote(segments[-1], errors="replace"))
    slug = _fold(segment, URL_SLUG_CHARS)
    if not slug or slug.replace("-", "").isdigit():
        return None
    return slug


def review_slug(url: str | None, title: str) -> str:
    """The slug a review asks for: its address's (:func:`slug_from_url`), else its title's."""
    return slug_from_url(url) or slugify(title)


def slug_candidates(base: str) -> Iterator[str]:
    """``base``, then ``base-2``, ``base-3``…: the first one nobody else has is the review's."""
    yield base
    n = 2
    while True:
        yield f"{base}-{n}"
        n += 1
