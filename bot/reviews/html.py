"""HTML (from feeds) to the Markdown subset Discord renders.

Feed HTML is untrusted and messy: WordPress wraps everything in ``<div>``s,
adds share buttons, tracking pixels and ``<script>`` blocks. This converter is a
small state machine over :class:`html.parser.HTMLParser` (stdlib, no network,
no entity expansion beyond HTML's own), which keeps:

* paragraphs, line breaks, **bold**, *italics*, __underline__, ~~strike~~, `code`
  and code blocks;
* links (``[text](url)``; only http/https/mailto, so ``javascript:`` and ``data:``
  links keep their text and lose the link);
* ordered and unordered lists (nested), blockquotes (``> ``);
* headings, as **bold** lines (Discord's ``#`` headings are huge in an embed).

and drops scripts, styles, iframes, forms, SVG and tracking pixels (1×1 images,
known beacon hosts). Images are not inlined (embeds can't show them inline);
the first real one is returned as the embed image. Text is Markdown-escaped so
a review can't inject formatting, and mentions are neutralised.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

from ..text import clean_text, neutralize_mentions

__all__ = ["HtmlDocument", "escape_markdown", "html_to_markdown", "is_tracking_pixel", "safe_url"]

MAX_HTML_CHARS = 1_000_000  # larger inputs are cut before parsing (CPU bound)

_SKIP = {
    "script", "style", "iframe", "noscript", "object", "embed", "svg", "math", "form", "template",
    "head", "title", "button", "select", "textarea", "canvas", "video", "audio", "map", "frameset", "frame",
}  # fmt: skip
_BLOCK = {
    "p", "div", "section", "article", "header", "footer", "main", "aside", "figure", "figcaption",
    "table", "tr", "dl", "dt", "dd", "address", "details", "summary", "center", "nav", "hr",
}  # fmt: skip
_VOID = {"br", "img", "hr", "input", "meta", "link", "source", "wbr", "col", "area", "base", "param", "track"}
_INLINE_MARKS = {"strong": "**", "b": "**", "em": "*", "i": "*", "cite": "*", "u": "__", "ins": "__",
                 "s": "~~", "strike": "~~", "del": "~~"}  # fmt: skip
_TRACKER_HINTS = (
    "feedburner", "pixel", "tracking", "tracker", "beacon", "stats.wordpress.com", "/b.gif", "spacer.gif",
    "blank.gif", "1x1", "doubleclick", "analytics", "counter", "gravatar.com/avatar", "emoji",
)  # fmt: skip
_ESCAPE_RE = re.compile(r"([\\*_~`|\[\]<>])")
_LINE_START_RE = re.compile(r"^(?:#{1,6}\s|-\s|\+\s|\d+\.\s)")


def escape_markdown(text: str) -> str:
    """Escape characters Discord would read as formatting."""
    return _ESCAPE_RE.sub(r"\\\1", text)


def safe_url(url: str | None, base: str | None = None, *, allow_mailto: bool = False) -> str | None:
    """An absolute http(s) URL, or None for ``javascript:``, ``data:`` and other schemes."""
    if not url:
        return None
    url = "".join(ch for ch in url.strip() if ch >= " " and ch not in "<>\"' ")
    if not url:
        return None
    try:
        absolute = urljoin(base, url) if base else url
        parts = urlsplit(absolute)
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme in ("http", "https") and parts.netloc:
        return absolute.replace("(", "%28").replace(")", "%29")
    if allow_mailto and scheme == "mailto":
        return absolute
    return None


def _dimension(value: str | None) -> int | None:
    if not value:
        return None
    match = re.match(r"\s*(\d+)", value)
    return int(match.group(1)) if match else None


def is_tracking_pixel(src: str, attrs: dict[str, str | None]) -> bool:
    """Heuristics for images that exist to count readers, not to be seen."""
    width, height = _dimension(attrs.get("width")), _dimension(attrs.get("height"))
    if (width is not None and width <= 2) or (height is not None and height <= 2):
        return True
    style = (attrs.get("style") or "").replace(" ", "").lower()
    if "display:none" in style or "width:1px" in style or "height:1px" in style:
        return True
    lowered = src.lower()
    return any(hint in lowered for hint in _TRACKER_HINTS)


@dataclass
class HtmlDocument:
    markdown: str
    image_url: str | None = None
    images: list[str] = field(default_factory=list)


@dataclass
class _List:
    ordered: bool
    counter: int = 0


class _Converter(HTMLParser):
    def __init__(self, base_url: str | None) -> None:
        super().__init__(convert_charrefs=True)
        self.base = base_url
        self.out: list[str] = []
        self.skip_depth = 0
        self.skip_tag: str | None = None
        self.pre = 0
        self.quote = 0
        self.lists: list[_List] = []
        self.links: list[tuple[str | None, int]] = []  # (href, index in out where link text starts)
        self.heading = False
        self.images: list[str] = []
        self.has_text = False

    # -- output helpers --------------------------------------------------------------
    # The output is a list of chunks and the helpers only ever look at its tail, so a
    # hostile 1 MB document of tiny tags converts in linear time.

    def _text_so_far(self) -> str:
        return "".join(self.out)

    def _tail(self, size: int = 16) -> str:
        """The last ``size``-odd characters of the output."""
        parts: list[str] = []
        length = 0
        for chunk in reversed(self.out):
            parts.append(chunk)
            length += len(chunk)
            if length >= size:
                break
        return "".join(reversed(parts))

    def _pop_trailing(self, chars: str) -> str:
        """Remove trailing ``chars`` from the output and return them."""
        removed: list[str] = []
        while self.out:
            last = self.out[-1]
            kept = last.rstrip(chars)
            if kept:
                if len(kept) != len(last):
                    removed.append(last[len(kept) :])
                    self.out[-1] = kept
                break
            removed.append(self.out.pop())
        return "".join(reversed(removed))

    def _break(self, count: int = 2) -> None:
        """Make sure the output ends with ``count`` newlines (a paragraph or a line break)."""
        if not self.has_text:
            return
        existing = self._pop_trailing(" \t\n").count("\n")
        self.out.append("\n" * max(count, existing))

    def _emit(self, text: str) -> None:
        if self.skip_depth or not text:
            return
        if not self.has_text and text.strip():
            self.has_text = True
        self.out.append(text)

    # -- HTMLParser callbacks ---------------------------------------------------------

    def handle_starttag(self, tag: str, attrs_list: list[tuple[str, str | None]]) -> None:
        tag = tag.lower()
        if self.skip_depth:
            if tag == self.skip_tag and tag not in _VOID:
                self.skip_depth += 1
            return
        if tag in _SKIP:
            self.skip_depth, self.skip_tag = 1, tag
            return
        attrs = {k.lower(): v for k, v in attrs_list}
        if tag in _BLOCK:
            self._break()
        elif tag == "br":
            self._emit("\n")
        elif tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
            self._break()
            self._emit("**")
            self.heading = True
        elif tag in _INLINE_MARKS and not self.pre:
            self._emit(_INLINE_MARKS[tag])
        elif tag == "code" and not self.pre:
            self._emit("`")
        elif tag == "pre":
            self._break()
            self._emit("```\n")
            self.pre += 1
        elif tag == "blockquote":
            self._break()
            self._emit("\x00QS\x00")
            self.quote += 1
        elif tag in ("ul", "ol"):
            if not self.lists:
                self._break()
            self.lists.append(_List(ordered=tag == "ol"))
        elif tag == "li":
            self._break(1)
            depth = max(0, len(self.lists) - 1)
            current = self.lists[-1] if self.lists else _List(False)
            current.counter += 1
            bullet = f"{current.counter}. " if current.ordered else "- "
            self._emit("  " * depth + bullet)
        elif tag == "a":
            self.links.append((safe_url(attrs.get("href"), self.base), len(self.out)))
        elif tag == "img":
            src = safe_url(attrs.get("src") or attrs.get("data-src"), self.base)
            if src and not is_tracking_pixel(src, attrs):
                self.images.append(src)

    def handle_endtag(self, tag: str) -> None:
        tag = tag.lower()
        if self.skip_depth:
            if tag == self.skip_tag:
                self.skip_depth -= 1
                if not self.skip_depth:
                    self.skip_tag = None
            return
        if tag in _BLOCK:
            self._break()
        elif tag in ("h1", "h2", "h3", "h4", "h5", "h6") and self.heading:
            self._close_inline("**")
            self.heading = False
            self._break()
        elif tag in _INLINE_MARKS and not self.pre:
            self._close_inline(_INLINE_MARKS[tag])
        elif tag == "code" and not self.pre:
            self._close_inline("`")
        elif tag == "pre" and self.pre:
            self.pre -= 1
            self._pop_trailing("\n")
            self.out.append("\n```")
            self._break()
        elif tag == "blockquote" and self.quote:
            self.quote -= 1
            self._emit("\x00QE\x00")
            self._break()
        elif tag in ("ul", "ol") and self.lists:
            self.lists.pop()
            if not self.lists:
                self._break()
        elif tag == "a" and self.links:
            href, start = self.links.pop()
            text = "".join(self.out[start:]).strip()
            if href and text and start <= len(self.out):
                self.out[start:] = [f"[{text.replace(chr(10), ' ')}]({href})"]

    def _close_inline(self, marker: str) -> None:
        """Close an emphasis marker, or drop the opener if nothing was inside it."""
        # Discord needs the closer right after a non-space character: move trailing space outside.
        trailing = self._pop_trailing(" \t\n")
        if self.out and self.out[-1].endswith(marker):  # empty <strong></strong>
            self.out[-1] = self.out[-1][: -len(marker)]
        else:
            self.out.append(marker)
        if trailing:
            self.out.append(trailing)

    def handle_data(self, data: str) -> None:
        if self.skip_depth:
            return
        if self.pre:
            self._emit(data.replace("```", "ˋˋˋ"))
            return
        text = re.sub(r"\s+", " ", data)
        tail = self._tail()
        if not text.strip() and (not tail or tail.endswith(("\n", " "))):
            return
        at_line_start = not tail or tail.endswith("\n") or tail.endswith("\x00QS\x00")
        if at_line_start:
            text = text.lstrip()
        text = escape_markdown(text)
        if at_line_start and _LINE_START_RE.match(text):
            text = "\\" + text  # "# x", "- x", "1. x" typed as text must not become a heading or a list
        self._emit(text)


def _apply_quotes(text: str) -> str:
    """Turn the quote sentinels into ``> `` prefixes on every line inside them."""
    out_lines: list[str] = []
    depth = 0
    for line in text.split("\n"):
        opened = line.count("\x00QS\x00")
        closed = line.count("\x00QE\x00")
        clean = line.replace("\x00QS\x00", "").replace("\x00QE\x00", "")
        depth_for_line = depth + opened
        if clean.strip() and depth_for_line > 0:
            clean = "> " + clean.lstrip()
        out_lines.append(clean)
        depth = max(0, depth_for_line - closed)
    return "\n".join(out_lines)


def html_to_markdown(html: str, base_url: str | None = None) -> HtmlDocument:
    """Convert untrusted HTML to safe Discord Markdown plus the first real image."""
    html = (html or "")[:MAX_HTML_CHARS]
    converter = _Converter(base_url)
    try:
        converter.feed(html)
        converter.close()
    except Exception:  # HTMLParser is lenient, but never let a hostile document crash a poll
        pass
    # Unclosed tags at the end of a document: close open links/lists gracefully.
    text = _apply_quotes(converter._text_so_far())
    text = re.sub(r"[ \t]+\n", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text).strip()
    text = neutralize_mentions(clean_text(text))
    images = list(dict.fromkeys(converter.images))
    return HtmlDocument(markdown=text, image_url=images[0] if images else None, images=images)
