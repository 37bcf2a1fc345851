"""The review announcement embed (rendering sits next to the cog that uses it)."""

from __future__ import annotations

import discord

from bot.models import Review
from bot.text import clean_text, fit_embed, neutralize_mentions, star_rating, truncate
from bot.timestamps import parse_utc_iso

__all__ = ["EMBED_COLOUR", "build_review_embed", "ping_for", "review_embed_matches"]

EMBED_COLOUR = discord.Colour.from_rgb(196, 30, 58)
FOOTER_TEXT = "What did you think? Join the discussion in the thread."
FORUM_FOOTER_TEXT = "What did you think? Reply in this post."


def build_review_embed(review: Review, *, forum: bool = False) -> discord.Embed:
    """Title (linked), author, film and year, stars, excerpt, image, time, and a footer inviting replies.

    Every part goes through :func:`bot.text.fit_embed`, so no review can produce
    an embed Discord rejects.
    """
    description = neutralize_mentions(clean_text(review.excerpt or ""))
    if review.spoilers and description:
        description = f"⚠ **Contains spoilers**\n||{truncate(description, 4000)}||"
    fields: list[tuple[str, str]] = []
    if review.film_title:
        fields.append(("Film", review.film_label))
    if review.rating is not None:
        fields.append(("Rating", f"{star_rating(review.rating)} ({review.rating:g}/5)"))
    title, description, fitted, footer, author = fit_embed(
        review.title, description, fields, FORUM_FOOTER_TEXT if forum else FOOTER_TEXT, review.author or ""
    )
    embed = discord.Embed(
        title=title,
        url=review.url or None,
        description=description or None,
        colour=EMBED_COLOUR,
        timestamp=parse_utc_iso(review.published_at),
    )
    if author:
        embed.set_author(name=author)
    for name, value in fitted:
        embed.add_field(name=name, value=value, inline=True)
    if review.image_url:
        embed.set_image(url=review.image_url)
    embed.set_footer(text=footer)
    return embed


def review_embed_matches(embed: discord.Embed, review: Review) -> bool:
    """Whether a posted embed is this review's announcement (used when reconciling after a crash)."""
    if review.url:
        return embed.url == review.url
    expected = build_review_embed(review)
    return embed.title == expected.title and embed.timestamp == expected.timestamp


def ping_for(role_id: int | None) -> tuple[str | None, discord.AllowedMentions]:
    """Content and allowed mentions: the configured role may be pinged, nobody else ever."""
    if not role_id:
        return None, discord.AllowedMentions.none()
    return f"<@&{role_id}>", discord.AllowedMentions(
        everyone=False, users=False, roles=[discord.Object(id=role_id)], replied_user=False
    )
