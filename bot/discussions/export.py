"""Export a review's discussion back to the blog: JSON (the contract), Markdown, or an HTML snippet.

Everything members wrote is untrusted. The HTML output escapes every piece of it
(``html.escape``) and only then adds a small, fixed set of tags for Markdown
(bold, italics, code, spoilers, line breaks) and links, and only ``http(s)``
links become ``<a>`` elements. The Markdown output escapes HTML and drops
non-http(s) link targets, since most blog engines pass inline HTML through.
Members are named by display name; user ids only appear with ``with_ids``.
Deleted comments are never exported.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import NotFoundError, UserFacingError
from ..models import Comment, Review
from ..storage import CommentRepository, PollRepository, RatingRepository, ReviewRepository
from .opening_prompts import POLL_ANSWERS

__all__ = [
    "EXPORT_FORMATS",
    "FORMAT_VERSION",
    "DiscussionExporter",
    "ExportResult",
    "build_document",
    "nest_comments",
    "poll_summary",
    "public_id",
    "rating_summary",
    "render_html",
    "render_json",
    "render_markdown",
    "render_member_html",
    "safe_file_stem",
    "sanitize_markdown",
]

FORMAT_VERSION = "matinee.comments/1"
EXPORT_FORMATS = ("json", "md", "html")
_MEDIA_TYPES = {"json": "application/json", "md": "text/markdown", "html": "text/html"}

# --------------------------------------------------------------------------- Discord tokens

_TOKENS = re.compile(r"<(?:@[!&]?\d+|#\d+|a?:(\w+):\d+|t:(-?\d+)(?::[tTdDfFR])?|/([\w -]+):\d+|id:\w+)>")


def _plain_tokens(text: str) -> str:
    """Mentions, emoji and timestamps as readable text: a blog has no Discord to resolve them."""

    def repl(m: re.Match[str]) -> str:
        token = m.group(0)
        if m.group(1):
            return f":{m.group(1)}:"
        if m.group(2):
            try:
                return dt.datetime.fromtimestamp(int(m.group(2)), tz=dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
            except (OverflowError, OSError, ValueError):
                return "(a date)"
        if m.group(3):
            return f"/{m.group(3)}"
        if token.startswith("<@&"):
            return "@role"
        if token.startswith("<@"):
            return "@member"
        if token.startswith("<#"):
            return "#channel"
        return ""

    return _TOKENS.sub(repl, text.replace("\x00", ""))


def _is_http_url(url: str) -> bool:
    return re.match(r"(?i)https?://[^\s]+$", url) is not None


# --------------------------------------------------------------------------- HTML

_CODE_BLOCK = re.compile(r"```(?:[\w+#.-]*\n)?(.*?)```", re.DOTALL)
_INLINE_CODE = re.compile(r"`([^`\n]+)`")
_ESC_BREAK = r"(?:&lt;|&gt;|&quot;|&#x27;|&amp;quot;)"
_MD_LINK = re.compile(
    r"\[([^\[\]\n]{1,300})\]\(\s*(?:&lt;)?((?:(?!" + _ESC_BREAK + r")(?:[^\s()]|\([^\s()]*\)))+)(?:&gt;)?\s*\)"
)
_BARE_URL = re.compile(r"(?i)\bhttps?://(?:(?!" + _ESC_BREAK + r")[^\s\x00])+")
_INLINE_RULES = (
    (re.compile(r"\|\|(.+?)\|\|", re.DOTALL), r'<span class="matinee-spoiler">\1</span>'),
    (re.compile(r"\*\*(.+?)\*\*", re.DOTALL), r"<strong>\1</strong>"),
    (re.compile(r"__(.+?)__", re.DOTALL), r"<u>\1</u>"),
    (re.compile(r"~~(.+?)~~", re.DOTALL), r"<del>\1</del>"),
    (re.compile(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])"), r"<em>\1</em>"),
    (re.compile(r"(?<!\w)_(?!\s)(.+?)(?<!\s)_(?!\w)"), r"<em>\1</em>"),
)
_PLACEHOLDER = re.compile(r"\x00(\d+)\x00")
_ESCAPED = re.compile(r"\\(&lt;|&gt;|&amp;|&quot;|&#x27;|[\\`*_~|\[\]()#+\-.!:])")


def _link(href_escaped: str, text_html: str) -> str:
    return f'<a href="{href_escaped}" rel="nofollow ugc noopener noreferrer">{text_html}</a>'


def render_member_html(text: str) -> str:
    """Member Markdown → a safe HTML fragment: escape everything, then add known-safe tags."""
    text = _plain_tokens(text)
    fragments: list[str] = []

    def keep(fragment: str) -> str:
        fragments.append(fragment)
        return f"\x00{len(fragments) - 1}\x00"

    text = _CODE_BLOCK.sub(lambda m: keep(f"<pre><code>{html.escape(m.group(1).strip(chr(10)))}</code></pre>"), text)
    escaped = html.escape(text, quote=True)
    escaped = _INLINE_CODE.sub(lambda m: keep(f"<code>{m.group(1)}</code>"), escaped)
    # A backslash-escaped Markdown character (Discord's, and what bot/reviews/html.py writes) is that character.
    escaped = _ESCAPED.sub(lambda m: keep(m.group(1)), escaped)

    def md_link(m: re.Match[str]) -> str:
        label, target = m.group(1), m.group(2)
        if _is_http_url(html.unescape(target)):
            return keep(_link(target, label))
        return label  # javascript:, data:, relative… links lose their target

    escaped = _MD_LINK.sub(md_link, escaped)
    escaped = _BARE_URL.sub(lambda m: keep(_link(m.group(0), m.group(0))), escaped)
    for pattern, replacement in _INLINE_RULES:
        escaped = pattern.sub(replacement, escaped)
    escaped = escaped.replace("\r\n", "\n").replace("\n", "<br>\n")
    # Fragments may hold placeholders of earlier fragments (a link inside nothing else): resolve repeatedly.
    for _ in range(3):
        escaped = _PLACEHOLDER.sub(lambda m: fragments[int(m.group(1))], escaped)
    return escaped.replace("\x00", "")


# --------------------------------------------------------------------------- Markdown

_MD_LINK_RAW = re.compile(r"\[([^\[\]\n]*)\]\(\s*<?((?:[^()\s>]|\([^()\s]*\))*)>?\s*\)")
_LEFTOVER_LINK = re.compile(r"\]\((?!\s*<?https?://)", re.IGNORECASE)
_REFERENCE_DEF = re.compile(r"(?im)^(\s*)\[([^\]\n]+)\]:")


def sanitize_markdown(text: str) -> str:
    """Member Markdown made safe to paste into a blog's Markdown: no raw HTML, http(s) links only."""
    text = _plain_tokens(text)
    text = _MD_LINK_RAW.sub(lambda m: m.group(0) if _is_http_url(m.group(2)) else m.group(1), text)
    # Whatever still looks like a link to something other than http(s) is broken apart.
    text = _LEFTOVER_LINK.sub("] (", text)
    text = _REFERENCE_DEF.sub(lambda m: f"{m.group(1)}\\[{m.group(2)}]:", text)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# --------------------------------------------------------------------------- document


def poll_summary(counts: Mapping[int, int], final: bool) -> dict[str, Any]:
    """Per-star counts, total and average of the review's rating polls."""
    per_star = {str(stars): int(counts.get(stars, 0)) for stars in range(1, len(POLL_ANSWERS) + 1)}
    votes = sum(per_star.values())
    average = round(sum(int(k) * v for k, v in per_star.items()) / votes, 2) if votes else None
    return {"counts": per_star, "votes": votes, "average": average, "final": final}


def rating_summary(
    poll_counts: Mapping[int, int], poll_final: bool, member_rating: tuple[float | None, int] | None
) -> dict[str, Any]:
    """The ``rating_summary`` object of the JSON contract: the polls, and the film's member rating."""
    members = None
    if member_rating is not None:
        average = round(member_rating[0], 2) if member_rating[0] is not None else None
        members = {"average": average, "votes": member_rating[1]}
    return {"poll": poll_summary(poll_counts, poll_final), "members": members}


def public_id(message_id: int) -> str:
    """A comment's ``id`` in the JSON: the Discord message id, or ``blog-<n>`` for a blog comment.

    Strings, so JavaScript keeps every digit of a snowflake; a blog comment's
    stored id is negative (bot/bridge), which a reader must never take for Discord's.
    """
    return f"blog-{-message_id}" if message_id < 0 else str(message_id)


def _comment_node(comment: Comment, with_ids: bool) -> dict[str, Any]:
    node: dict[str, Any] = {
        "id": public_id(comment.message_id),
        "source": comment.source,
        "author": comment.author_name,
        "content": comment.content,
        "content_html": render_member_html(comment.content),
        "created_at": comment.created_at,
        "edited_at": comment.edited_at,
        "attachments": [a for a in comment.attachments if _is_http_url(a)],
        "reactions": {str(k): int(v) for k, v in comment.reactions.items() if int(v) > 0},
        "replies": [],
    }
    if comment.from_blog:
        node["url"] = comment.source_url if comment.source_url and _is_http_url(comment.source_url) else None
    elif with_ids:
        node["author_id"] = str(comment.author_id)  # a blog reader has no Discord id
    return node


def nest_comments(comments: Sequence[Comment], with_ids: bool = False) -> list[dict[str, Any]]:
    """Replies nested under the comment they answer; a reply whose parent is gone becomes top-level."""
    live = [c for c in comments if not c.deleted]
    nodes = {c.message_id: _comment_node(c, with_ids) for c in live}
    roots: list[dict[str, Any]] = []
    for comment in live:
        parent = nodes.get(comment.reply_to_id) if comment.reply_to_id is not None else None
        if parent is not None and comment.reply_to_id != comment.message_id:
            parent["replies"].append(nodes[comment.message_id])
        else:
            roots.append(nodes[comment.message_id])
    return roots


def build_document(
    review: Review,
    comments: Sequence[Comment],
    poll_counts: Mapping[int, int],
    poll_final: bool,
    member_rating: tuple[float | None, int] | None = None,
    *,
    with_ids: bool = False,
    generated_at: str | None = None,
) -> dict[str, Any]:
    """The export as plain data; every format renders this. Its JSON form is documented in README."""
    live = [c for c in comments if not c.deleted]
    participants = {
        f"blog:{c.author_name}" if c.from_blog else c.author_id if c.author_id else f"anon:{c.author_name}"
        for c in live
    }
    document: dict[str, Any] = {
        "format": FORMAT_VERSION,
        "generated_at": generated_at or dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "review": {
            "id": review.id,
            "slug": review.slug,
            "title": review.title,
            "url": review.url if review.url and _is_http_url(review.url) else None,
            "author": review.author,
            "published_at": review.published_at,
            "film": {"title": review.film_name, "year": review.film_year},
            "rating": review.rating,
            "spoilers": review.spoilers,
        },
        "rating_summary": rating_summary(poll_counts, poll_final, member_rating),
        "comment_count": len(live),
        "participant_count": len(participants),
        "comments": nest_comments(live, with_ids),
    }
    return document


def render_json(document: Mapping[str, Any]) -> str:
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"


def _stars_line(poll: Mapping[str, Any]) -> str:
    if not poll["votes"]:
        return "No poll votes yet."
    parts = ", ".join(f"{POLL_ANSWERS[int(k) - 1]} {v}" for k, v in poll["counts"].items())
    status = "final" if poll["final"] else "so far"
    return f"Average {poll['average']:.2f} / 5 from {poll['votes']} votes ({status}): {parts}"


def _md_escape_inline(text: str | None) -> str:
    return sanitize_markdown(text or "").replace("[", "\\[").replace("]", "\\]").replace("*", "\\*")


def render_markdown(document: Mapping[str, Any]) -> str:
    review = document["review"]
    title = _md_escape_inline(review["title"])
    lines = [f"## Comments on {title}", ""]
    film = review["film"]
    film_line = f"Film: {_md_escape_inline(film['title'])}" + (f" ({film['year']})" if film["year"] else "")
    if review["url"]:
        film_line += f" · [Read the review]({review['url']})"
    lines += [film_line, "", f"**Rating:** {_stars_line(document['rating_summary']['poll'])}", ""]
    lines += [f"**Comments:** {document['comment_count']}", ""]

    def emit(node: Mapping[str, Any], depth: int) -> None:
        indent = "  " * depth
        who = _md_escape_inline(node["author"])
        edited = " (edited)" if node["edited_at"] else ""
        where = ""
        if node.get("source") == "blog":
            url = node.get("url")
            where = f" · [on the blog]({url})" if url and _is_http_url(url) else " · on the blog"
        lines.append(f"{indent}- **{who}** · {node['created_at'][:16].replace('T', ' ')}{edited}{where}")
        body = sanitize_markdown(node["content"]) or "_(no text)_"
        for line in body.splitlines() or [""]:
            lines.append(f"{indent}  > {line}")
        for url in node["attachments"]:
            lines.append(f"{indent}  > [attachment]({url})")
        if node["reactions"]:
            counts = " ".join(f"{_md_escape_inline(k)} {v}" for k, v in node["reactions"].items())
            lines.append(f"{indent}  > {counts}")
        for reply in node["replies"]:
            emit(reply, depth + 1)

    for node in document["comments"]:
        emit(node, 0)
    return "\n".join(lines).rstrip() + "\n"


def render_html(document: Mapping[str, Any]) -> str:
    """A self-contained, script-free ``<section>`` a blog can include as is."""
    review = document["review"]
    e = html.escape
    poll = document["rating_summary"]["poll"]
    out = ['<section class="matinee-comments">']
    out.append(f"<h2>Comments on {e(review['title'])}</h2>")
    out.append(f'<p class="matinee-rating">{e(_stars_line(poll))}</p>')
    out.append(f'<p class="matinee-count">{int(document["comment_count"])} comments</p>')

    def emit(nodes: Sequence[Mapping[str, Any]], depth: int) -> None:
        if not nodes:
            return
        out.append('<ol class="matinee-thread">' if depth == 0 else '<ol class="matinee-replies">')
        for node in nodes:
            blog = node.get("source") == "blog"
            classes = "matinee-comment matinee-from-blog" if blog else "matinee-comment"
            out.append(f'<li class="{classes}" id="comment-{e(node["id"])}">')
            edited = ' <span class="matinee-edited">(edited)</span>' if node["edited_at"] else ""
            out.append(
                f'<p class="matinee-meta"><span class="matinee-author">{e(node["author"])}</span> '
                f'<time datetime="{e(node["created_at"])}">{e(node["created_at"][:10])}</time>{edited}'
                f"{_blog_mark(node) if blog else ''}</p>"
            )
            out.append(f'<div class="matinee-body">{render_member_html(node["content"])}</div>')
            if node["attachments"]:
                links = ", ".join(_link(e(u), "attachment") for u in node["attachments"] if _is_http_url(u))
                out.append(f'<p class="matinee-attachments">{links}</p>')
            if node["reactions"]:
                reactions = " ".join(f"{e(str(k))} {int(v)}" for k, v in node["reactions"].items())
                out.append(f'<p class="matinee-reactions">{reactions}</p>')
            emit(node["replies"], depth + 1)
            out.append("</li>")
        out.append("</ol>")

    emit(document["comments"], 0)
    out.append("</section>")
    return "\n".join(out) + "\n"


def _blog_mark(node: Mapping[str, Any]) -> str:
    """ "on the blog", linking the comment's anchor there when it has one."""
    url = node.get("url")
    if url and _is_http_url(url):
        return ' <span class="matinee-source">' + _link(html.escape(url), "on the blog") + "</span>"
    return ' <span class="matinee-source">on the blog</span>'


_RENDERERS = {"json": render_json, "md": render_markdown, "html": render_html}


def safe_file_stem(review: Review) -> str:
    """A file name stem from the slug that can never leave the target directory."""
    stem = re.sub(r"[^a-z0-9]+", "-", review.slug.lower()).strip("-")[:80]
    return f"{stem or 'review'}-{review.id}-comments"


@dataclass(frozen=True, slots=True)
class ExportResult:
    review: Review
    format: str
    filename: str
    content: str
    media_type: str
    comment_count: int


class DiscussionExporter:
    """Reads a review's discussion from storage and renders it."""

    def __init__(
        self,
        reviews: ReviewRepository,
        comments: CommentRepository,
        polls: PollRepository,
        ratings: RatingRepository,
    ) -> None:
        self._reviews = reviews
        self._comments = comments
        self._polls = polls
        self._ratings = ratings

    async def find_review(self, name: str) -> Review:
        """The review ``name`` names: its slug, a slug it had before, its id or its post's address."""
        review = await self._reviews.find(name)
        if review is None:
            raise NotFoundError(f"No stored review is called {name[:100]!r} (use its slug, id or post address).")
        return review

    async def document(self, review: Review, *, with_ids: bool = False, guild_id: int | None = None) -> dict[str, Any]:
        comments = await self._comments.for_review(review.id, guild_id=guild_id)
        counts, final = await self._polls.review_counts(review.id, guild_id)
        member_rating = None
        if review.film_id is not None:
            summary = await self._ratings.summary(review.film_id, guild_id)
            member_rating = (summary.average, summary.votes)
        return build_document(review, comments, counts, final, member_rating, with_ids=with_ids)

    async def export(
        self, name: str, fmt: str, *, with_ids: bool = False, guild_id: int | None = None
    ) -> ExportResult:
        if fmt not in _RENDERERS:
            raise UserFacingError(f"Unknown export format {fmt[:20]!r}; use one of {', '.join(EXPORT_FORMATS)}.")
        review = await self.find_review(name)
        document = await self.document(review, with_ids=with_ids, guild_id=guild_id)
        return ExportResult(
            review=review,
            format=fmt,
            filename=f"{safe_file_stem(review)}.{fmt}",
            content=_RENDERERS[fmt](document),
            media_type=_MEDIA_TYPES[fmt],
            comment_count=document["comment_count"],
        )
