"""How a blog comment reads in the review's thread: under the commenter's name, or as Matinee's card.

Pure text (no discord.py): the cog's transport turns these into a webhook message or
an embed. The comment is untrusted. Its text is already the normaliser's safe
Markdown (bot/reviews/html.py: escaped, mentions defused) and is defused again here,
its name is one plain line, the message allows no mentions (the transport sends
``AllowedMentions.none()``), and the length follows Discord's limits from
bot/text.py, ending with "… read the rest on the blog" when the comment is longer.

Every mirror carries the link to the comment's anchor on the blog: readers get
there in one click, and after a crash Matinee recognises its own message by it
(:func:`carries`), since a webhook message takes no nonce.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..reviews.html import escape_markdown
from ..text import (
    EMBED_DESCRIPTION,
    MESSAGE_LIMIT,
    WEBHOOK_USERNAME,
    clean_text,
    neutralize_mentions,
    one_line,
    truncate,
)

__all__ = [
    "BLOG_SUFFIX",
    "NEUTRAL_AVATAR",
    "READ_THE_REST",
    "MirrorCard",
    "MirrorText",
    "card",
    "carries",
    "link_to",
    "webhook_text",
    "webhook_username",
]

BLOG_SUFFIX = " (blog)"
# Discord's own grey default avatar: neutral, and no request to a third party (no Gravatar of the reader).
NEUTRAL_AVATAR = "https://cdn.discordapp.com/embed/avatars/0.png"
READ_THE_REST = "read the rest on the blog"
EMPTY = "*(no text)*"
CARD_NAME = 100  # characters of the commenter's name on a bot card
# Discord refuses webhook names containing these words (case-insensitive) or characters.
_RESERVED_NAMES = re.compile(r"clyde|discord", re.IGNORECASE)
_RESERVED_CHARS = re.compile(r"[@#:]|```")
_EXACT_RESERVED = {"everyone", "here"}


@dataclass(frozen=True, slots=True)
class MirrorText:
    """A webhook message: the name it is posted under, and its content."""

    username: str
    content: str


@dataclass(frozen=True, slots=True)
class MirrorCard:
    """A bot message's small embed: "💬 *Name* commented on the blog", the text, the link."""

    description: str
    url: str | None


def link_to(anchor: str | None, *, embed: bool = False) -> str:
    """The link target a mirror carries, and is found by: ``(<anchor>)`` in a message (no preview), ``(anchor)``
    in an embed."""
    if not anchor:
        return ""
    return f"({anchor})" if embed else f"(<{anchor}>)"


def carries(text: str | None, anchor: str | None) -> bool:
    """Whether a message's content or embed description is the mirror of the comment at ``anchor``."""
    if not text or not anchor:
        return False
    return link_to(anchor) in text or link_to(anchor, embed=True) in text


def _body(content: str, budget: int, anchor: str | None, *, embed: bool = False) -> str:
    text = neutralize_mentions(clean_text(content)).strip() or EMPTY
    more = f"… [{READ_THE_REST}]{link_to(anchor, embed=embed)}" if anchor else f"… ({READ_THE_REST})"
    return truncate(text, budget, ellipsis=more)


def webhook_username(author: str) -> str:
    """The commenter's name with " (blog)": one plain line, within Discord's limit, never a reserved word."""
    name = one_line(_RESERVED_CHARS.sub("", author)) or "A blog reader"
    name = _RESERVED_NAMES.sub(lambda m: m.group(0)[:-1] + "-" + m.group(0)[-1], name)
    if name.lower() in _EXACT_RESERVED:
        name = f"{name}_"
    return truncate(name, WEBHOOK_USERNAME - len(BLOG_SUFFIX)) + BLOG_SUFFIX


def webhook_text(author: str, content: str, anchor: str | None) -> MirrorText:
    """The message posted through the thread's webhook under the commenter's name."""
    footer = f"\n-# 💬 [Comment on the blog]{link_to(anchor)}" if anchor else "\n-# 💬 Comment on the blog"
    body = _body(content, MESSAGE_LIMIT - len(footer), anchor)
    return MirrorText(webhook_username(author), body + footer)


def card(author: str, content: str, anchor: str | None) -> MirrorCard:
    """The embed of a bot message, where Matinee may not manage webhooks."""
    # Cut before escaping, so a cut never leaves a stray backslash before the ellipsis.
    name = escape_markdown(neutralize_mentions(truncate(one_line(author) or "A blog reader", CARD_NAME)))
    where = f"[on the blog]{link_to(anchor, embed=True)}" if anchor else "on the blog"
    head = f"💬 *{name}* commented {where}\n\n"
    return MirrorCard(head + _body(content, EMBED_DESCRIPTION - len(head), anchor, embed=True), anchor)
