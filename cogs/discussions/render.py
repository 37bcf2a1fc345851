"""Discord-side rendering for discussions: message → record, poll, starter embed, spoiler notice."""

from __future__ import annotations

import datetime as dt

import discord

from bot.discussions.prompts import SPOILER_NOTICE, PollSpec
from bot.discussions.service import IncomingMessage
from bot.models import Review
from bot.text import EMBED_DESCRIPTION, EMBED_TITLE, clean_text, excerpt, truncate
from bot.timestamps import utc_iso

__all__ = [
    "ARCHIVE_CHOICES",
    "build_poll",
    "emoji_key",
    "incoming",
    "iso",
    "normalise_archive_minutes",
    "starter_embed",
    "with_spoiler_notice",
]

ARCHIVE_CHOICES = (60, 1440, 4320, 10080)
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


def normalise_archive_minutes(minutes: int | None) -> int:
    """The closest auto-archive duration Discord accepts (60, 1440, 4320, 10080)."""
    if not minutes:
        return 10080
    return min(ARCHIVE_CHOICES, key=lambda choice: abs(choice - minutes))


def starter_embed(review: Review) -> discord.Embed:
    """A plain review card for threads opened by hand (the announcer has its own, richer one)."""
    embed = discord.Embed(
        title=truncate(clean_text(review.title), EMBED_TITLE),
        url=review.url if review.url and review.url.startswith(("http://", "https://")) else None,
        description=truncate(excerpt(clean_text(review.excerpt or review.body_md), 600), EMBED_DESCRIPTION) or None,
        colour=discord.Colour.from_rgb(196, 30, 58),
    )
    if review.rating is not None:
        embed.add_field(name="Rating", value=f"{review.rating:g}/5")
    return embed


def with_spoiler_notice(content: str, spoiler: bool) -> str:
    """The opening message with the spoiler notice added (after the question) or removed."""
    lines = [line for line in content.split("\n") if line != SPOILER_NOTICE]
    if spoiler:
        lines.insert(1, SPOILER_NOTICE)
    return "\n".join(lines)
