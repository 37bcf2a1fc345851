"""Discord-side rendering for discussions: message → record, raw payloads, poll, starter embed."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import discord

from bot.discussions.opening_prompts import PollSpec
from bot.discussions.service import IncomingMessage
from bot.models import Review
from bot.text import EMBED_DESCRIPTION, EMBED_TITLE, clean_text, excerpt, truncate
from bot.timestamps import utc_iso
from cogs._ui import EMBED_COLOUR

__all__ = [
    "build_poll",
    "emoji_key",
    "final_poll_counts",
    "incoming",
    "is_member_edit",
    "iso",
    "starter_embed",
]

_COMMENT_TYPES = (discord.MessageType.default, discord.MessageType.reply)


def iso(when: dt.datetime | None) -> str | None:
    """UTC, millisecond ISO-8601 with a Z: the format SQLite's defaults use everywhere in Matinee."""
    return utc_iso(when) if when is not None else None


def emoji_key(emoji: discord.PartialEmoji | discord.Emoji | str) -> str:
    """How a reaction is counted: the character itself, or ``name:id`` for a custom emoji."""
    if isinstance(emoji, str):
        return emoji
    if emoji.id:
        return f"{emoji.name}:{emoji.id}"
    return emoji.name or "?"


def incoming(message: discord.Message) -> IncomingMessage:
    """The parts of a message a comment needs; cheap, no awaits (hot path)."""
    author = message.author
    reference = None
    if message.type == discord.MessageType.reply and message.reference is not None:
        reference = message.reference.message_id
    return IncomingMessage(
        message_id=message.id,
        guild_id=message.guild.id if message.guild else None,
        channel_id=message.channel.id,
        author_id=author.id,
        author_name=author.display_name,
        author_username=author.name,
        content=message.content,
        created_at=iso(message.created_at) or "",
        edited_at=iso(message.edited_at),
        reference_message_id=reference,
        attachments=tuple(a.url for a in message.attachments),
        reactions={emoji_key(r.emoji): r.count for r in message.reactions},
        author_is_bot=author.bot or message.webhook_id is not None,
        is_system=message.type not in _COMMENT_TYPES,
        in_thread=isinstance(message.channel, discord.Thread),
    )


def build_poll(spec: PollSpec) -> discord.Poll:
    poll = discord.Poll(
        question=spec.question, duration=dt.timedelta(hours=spec.duration_hours), multiple=spec.multiple
    )
    for answer in spec.answers:
        poll.add_answer(text=answer)
    return poll


def starter_embed(review: Review) -> discord.Embed:
    """A plain review card for threads opened by hand (the announcer has its own, richer one)."""
    embed = discord.Embed(
        title=truncate(clean_text(review.title), EMBED_TITLE),
        url=review.url if review.url and review.url.startswith(("http://", "https://")) else None,
        description=truncate(excerpt(clean_text(review.excerpt or review.body_md), 600), EMBED_DESCRIPTION) or None,
        colour=EMBED_COLOUR,
    )
    if review.rating is not None:
        embed.add_field(name="Rating", value=f"{review.rating:g}/5")
    return embed


def final_poll_counts(data: Mapping[str, Any]) -> dict[int, int] | None:
    """The per-answer counts of a poll that has just ended, from a raw MESSAGE_UPDATE; None otherwise."""
    results = (data.get("poll") or {}).get("results") or {}
    if not results.get("is_finalized"):
        return None
    return {int(c["id"]): int(c.get("count", 0)) for c in results.get("answer_counts", [])}


def is_member_edit(payload: discord.RawMessageUpdateEvent) -> bool:
    """A raw MESSAGE_UPDATE that changes what a member wrote (not an embed unfurling, a pin or a flag)."""
    data = payload.data
    if payload.guild_id is None or "content" not in data or not data.get("edited_timestamp"):
        return False
    # A webhook's message (Matinee's mirror of a blog comment, or anyone's) is nobody's comment; its author
    # is the webhook, whose "bot" flag Discord may leave out.
    return not (data.get("author") or {}).get("bot") and not data.get("webhook_id")
