"""Reviews written as Markdown files with YAML front matter (the files a Hugo or Jekyll blog is built from).

Front matter fields: ``title``, ``film``, ``year``, ``rating``, ``author``, ``date``,
``url``, ``slug``, ``spoilers``, ``tags``, ``image`` and ``comments_feed`` (the post's comments
as an RSS/Atom feed, mirrored into its thread: bot/bridge). YAML is read with ``safe_load``
(no arbitrary Python objects). The folder is scanned by the bot's poll loop;
a file is re-read only when its size or mtime changed, and only counts as edited
when its content hash changed, so touching a file does nothing visible. Each scan
also says which files are there at all (:attr:`MarkdownScanner.present`), so a
deleted file's review can be withdrawn and a moved one recognised.

Only ``*.md``/``*.markdown`` files inside the folder are read: names with path
separators or ``..``, hidden files, symlinks that lead outside the folder and
files over :data:`MAX_FILE_BYTES` are ignored.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..text import clean_text, neutralize_mentions
from .draft import ReviewDraft, parse_rating, slugify
from .html import safe_url

__all__ = ["MAX_FILE_BYTES", "MarkdownError", "MarkdownScanner", "ScannedFile", "parse_review_file"]

log = logging.getLogger(__name__)

MAX_FILE_BYTES = 1024 * 1024
_FRONT_MATTER = re.compile(r"\A\ufeff?---[ \t]*\r?\n(.*?)\r?\n(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)", re.DOTALL)
_IMAGE = re.compile(r"!\[([^\]]*)\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_HEADING = re.compile(r"^[ \t]{0,3}#{1,6}[ \t]+(.+?)[ \t#]*$", re.MULTILINE)
_HTML_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_SUFFIXES = (".md", ".markdown")


class MarkdownError(ValueError):
    """A review file could not be used; the message names the problem, not the content."""


def _as_datetime(value: Any) -> dt.datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
    text = str(value).strip().replace("Z", "+00:00")
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in {"1", "true", "yes", "on", "y"}


def _as_int(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def _as_tags(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [t.strip() for t in value.split(",") if t.strip()]
    if isinstance(value, list | tuple):
        return [str(t).strip() for t in value if str(t).strip()]
    return []


def _markdown_body(text: str, base: str | None) -> tuple[str, str | None]:
    """Discord-flavoured body: headings become bold, images come out (the first is returned)."""
    text = _HTML_COMMENT.sub("", text)
    images: list[str] = []

    def image(match: re.Match[str]) -> str:
        url = safe_url(match.group(2), base)
        if url:
            images.append(url)
        return ""

    text = _IMAGE.sub(image, text)
    text = _HEADING.sub(lambda m: f"**{m.group(1).strip()}**", text)
    text = re.sub(r"\n{3,}", "\n\n", text).strip()
    return neutralize_mentions(clean_text(text)), images[0] if images else None


def parse_review_file(text: str, *, source_key: str) -> ReviewDraft:
    """Turn one file's text into a draft; raises :class:`MarkdownError` for unusable files."""
    match = _FRONT_MATTER.match(text)
    if not match:
        raise MarkdownError("no YAML front matter (the file must start with a '---' block)")
    try:
        meta = yaml.safe_load(match.group(1)) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 2}" if mark is not None else ""
        raise MarkdownError(f"the front matter is not valid YAML{where}") from None
    if not isinstance(meta, dict):
        raise MarkdownError("the front matter must be a mapping of fields")
    meta = {str(k).lower(): v for k, v in meta.items()}
    url = safe_url(str(meta["url"])) if meta.get("url") else None
    body, first_image = _markdown_body(text[match.end() :], url)
    title = str(meta.get("title") or "").strip()
    film = str(meta.get("film") or "").strip() or None
    if not title and not film:
        raise MarkdownError("the front matter needs a title or a film")
    image = safe_url(str(meta["image"]), url) if meta.get("image") else None
    slug = slugify(str(meta["slug"])) if str(meta.get("slug") or "").strip() else None
    return ReviewDraft(
        source_key=source_key,
        slug=slug,
        title=title or f"Review: {film}",
        body_md=body,
        url=url,
        author=str(meta["author"]) if meta.get("author") else None,
        film_title=film,
        film_year=_as_int(meta.get("year")),
        rating=parse_rating(meta.get("rating")),
        image_url=image or first_image,
        tags=_as_tags(meta.get("tags")),
        categories=_as_tags(meta.get("categories")),
        spoilers=_as_bool(meta.get("spoilers", False)),
        published_at=_as_datetime(meta.get("date")),
        comments_feed=safe_url(str(meta["comments_feed"]), url) if meta.get("comments_feed") else None,
    )


@dataclass(frozen=True, slots=True)
class ScannedFile:
    key: str  # path relative to the folder, with forward slashes: the review's source_key
    draft: ReviewDraft | None
    error: str | None = None


def _safe_name(name: str) -> bool:
    return (
        name.lower().endswith(_SUFFIXES)
        and not name.startswith(".")
        and "/" not in name
        and "\\" not in name
        and ".." not in name
        and "\x00" not in name
    )


class MarkdownScanner:
    """Finds new and changed review files in a folder (run :meth:`scan` in a worker thread)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._stats: dict[str, tuple[int, int]] = {}
        self._hashes: dict[str, str] = {}
        # The review files in the folder at the last scan, readable or not; None when the folder
        # itself could not be listed (missing, not a directory, unreadable): then nothing is known gone.
        self.present: frozenset[str] | None = None

    def scan(self) -> list[ScannedFile]:
        """Files that are new or whose bytes changed since the last scan (all files on the first)."""
        self.present = None
        try:
            root = self.directory.resolve(strict=True)
        except (FileNotFoundError, NotADirectoryError, OSError):
            return []
        if not root.is_dir():
            return []
        changed: list[ScannedFile] = []
        present: set[str] = set()
        try:
            entries = sorted(os.scandir(root), key=lambda e: e.name)
        except OSError:
            log.warning("cannot list the reviews folder %s", root)
            return []
        for entry in entries:
            if not _safe_name(entry.name):
                continue
            try:
                real = Path(entry.path).resolve(strict=True)
                if real.parent != root or not real.is_file():
                    continue  # a symlink leading out of the folder, or a directory named *.md
                stat = real.stat()
            except FileNotFoundError:
                continue  # deleted since the listing, or a link to nothing
            except OSError:
                present.add(entry.name)  # there, but not readable right now: not gone
                continue
            key = entry.name
            present.add(key)
            signature = (stat.st_size, stat.st_mtime_ns)
            if self._stats.get(key) == signature:
                continue
            self._stats[key] = signature
            if stat.st_size > MAX_FILE_BYTES:
                changed.append(ScannedFile(key, None, f"larger than {MAX_FILE_BYTES // 1024} KB"))
                continue
            try:
                raw = real.read_bytes()[: MAX_FILE_BYTES + 1]
            except OSError as exc:
                changed.append(ScannedFile(key, None, f"unreadable ({type(exc).__name__})"))
                continue
            digest = hashlib.sha256(raw).hexdigest()
            if self._hashes.get(key) == digest:
                continue  # touched, not changed
            self._hashes[key] = digest
            text = raw.decode("utf-8", errors="replace")
            try:
                changed.append(ScannedFile(key, parse_review_file(text, source_key=key)))
            except MarkdownError as exc:
                changed.append(ScannedFile(key, None, str(exc)))
        for gone in set(self._stats) - present:
            self._stats.pop(gone, None)
            self._hashes.pop(gone, None)
        self.present = frozenset(present)
        return changed
