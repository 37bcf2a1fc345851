"""Review embeds: the announcement, and the /reviews search results (rendering sits next to its cogs)."""

from __future__ import annotations

import discord

from bot.models import Film, Review
from bot.paging import Page
from bot.reviews.search import ReviewLink
from bot.text import clean_text, excerpt, fit_embed, neutralize_mentions, star_rating, truncate
from bot.timestamps import parse_utc_iso
from cogs._ui import EMBED_COLOUR, inert, list_embed

__all__ = ["build_review_embed", "ping_for", "review_embed_matches", "search_results_embed"]

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


def search_results_embed(page: Page[ReviewLink], *, query: str | None, film: Film | None) -> discord.Embed:
    """One page of /reviews: each review with an excerpt, a link to read it and one to its discussion."""
    scope = []
    if film is not None:
        scope.append(film.label)
    if query and query.strip():
        scope.append(f"“{' '.join(query.split())[:60]}”")
    title = "Reviews" + (f" · {' · '.join(scope)}" if scope else "")
    if not page.items:
        return list_embed(inert(title), "No reviews match. Try other words, or leave the query empty.", [], "")
    fields = []
    for link in page.items:
        review = link.review
        head = inert(f"{review.title} ({review.film_label})" if review.film_title else review.title, 250)
        body = excerpt(clean_text(review.excerpt or review.body_md), 220)
        links = []
        if review.url and review.url.startswith(("http://", "https://")):
            links.append(f"[Read]({review.url})")
        if link.thread_url:
            links.append(f"[Discussion]({link.thread_url})")
        value = neutralize_mentions(discord.utils.escape_markdown(body)) or "—"
        if links:
            value = truncate(value, 1000 - len(" · ".join(links)) - 1) + "\n" + " · ".join(links)
        fields.append((head, value))
    return list_embed(inert(title), "", fields, f"Page {page.page + 1} of {page.pages} · {page.total} reviews")
