"""Embeds and views for the films commands. Plain data in, discord.py objects out."""

from __future__ import annotations

import discord

from bot.films.service import FilmCard
from bot.models import Film
from bot.paging import Page
from bot.reviews.search import ReviewLink
from bot.storage.film_stats import LeaderboardRow
from bot.text import clean_text, excerpt, neutralize_mentions, star_rating, truncate
from cogs._ui import inert, list_embed

__all__ = ["card_embed", "card_view", "film_line", "top_embed", "watchlist_embed"]

PERIOD_LABELS = {"week": "this week", "month": "this month", "year": "this year", "all": "all time"}


def film_line(film: Film) -> str:
    director = f" — {inert(film.directors[0], 60)}" if film.directors else ""
    return f"**{inert(film.title, 120)}**{f' ({film.year})' if film.year else ''}{director}"


def _runtime(minutes: int | None) -> str | None:
    if not minutes:
        return None
    hours, rest = divmod(minutes, 60)
    return f"{hours} h {rest:02d} min" if hours else f"{rest} min"


def _film_url(film: Film) -> str | None:
    if film.imdb_id:
        return f"https://www.imdb.com/title/{film.imdb_id}/"
    if film.tmdb_id:
        return f"https://www.themoviedb.org/movie/{film.tmdb_id}"
    return None


def _review_line(link: ReviewLink) -> str:
    review = link.review
    title = inert(review.title, 120)
    head = f"[{title}]({review.url})" if review.url and review.url.startswith(("http://", "https://")) else title
    author = f" by {inert(review.author, 60)}" if review.author else ""
    thread = f" · [discussion]({link.thread_url})" if link.thread_url else ""
    return f"• {head}{author}{thread}"


def card_embed(card: FilmCard) -> discord.Embed:
    film = card.film
    fields: list[tuple[str, str]] = []
    if film.directors:
        fields.append(("Director" if len(film.directors) == 1 else "Directors", inert(", ".join(film.directors), 1000)))
    if film.cast:
        fields.append(("Cast", inert(", ".join(film.cast[:6]), 1000)))
    if runtime := _runtime(film.runtime_minutes):
        fields.append(("Runtime", runtime))
    if film.genres:
        fields.append(("Genres", inert(", ".join(film.genres), 500)))
    if card.rating.votes:
        average = card.rating.average or 0.0
        community = f"{star_rating(average)} {average:.1f} / 5 · {card.rating.votes} rating" + (
            "s" if card.rating.votes != 1 else ""
        )
    else:
        community = "No ratings yet: `/rate` it"
    community += f" · {card.comments} comment{'s' if card.comments != 1 else ''}"
    if card.member_rating is not None:
        community += f"\nYour rating: {star_rating(card.member_rating)} ({card.member_rating:g})"
    fields.append(("Community", community))
    if card.reviews:
        lines, used = [], 0
        for link in card.reviews[:5]:
            line = _review_line(link)
            if used + len(line) + 1 > 1000:
                break
            lines.append(line)
            used += len(line) + 1
        fields.append(("Our reviews", "\n".join(lines)))
    overview = excerpt(clean_text(film.overview or ""), 700)
    footer = card.note or (f"Also known as {film.original_title}" if film.original_title else "")
    embed = list_embed(
        f"{' '.join(film.title.split())}{f' ({film.year})' if film.year else ''}",
        neutralize_mentions(discord.utils.escape_markdown(overview)),
        fields,
        truncate(clean_text(footer), 200),
        url=_film_url(film),
    )
    if film.poster_url and film.poster_url.startswith("https://"):
        embed.set_thumbnail(url=film.poster_url)
    return embed


def card_view(card: FilmCard) -> discord.ui.View | None:
    """Link buttons: the review thread ("Join the discussion") and the newest review."""
    view = discord.ui.View(timeout=None)
    if card.discussion_url:
        view.add_item(discord.ui.Button(label="Join the discussion", url=card.discussion_url, emoji="💬"))
    review_url = next((link.review.url for link in card.reviews if link.review.url), None)
    if review_url and review_url.startswith(("http://", "https://")):
        view.add_item(discord.ui.Button(label="Read our review", url=review_url))
    return view if view.children else None


def ratings_phrase(count: int) -> str:
    """/top's minimum in words: "1 rating", "3 ratings"."""
    return f"{count} rating{'' if count == 1 else 's'}"


def top_embed(page: Page[LeaderboardRow], *, genre: str | None, period: str | None, min_votes: int) -> discord.Embed:
    when = PERIOD_LABELS.get((period or "all").lower(), "all time")
    scope = " · ".join(p for p in (inert(genre, 50) if genre else None, when) if p)
    if not page.items:
        description = (
            f"No film has {min_votes} or more ratings here yet ({scope}). Rate films with `/rate`; "
            "votes in discussion-thread polls count too."
        )
    else:
        lines = []
        for index, row in enumerate(page.items, start=page.page * 10 + 1):
            lines.append(
                f"**{index}.** {film_line(row.film)} · {star_rating(row.average)} {row.average:.2f} ({row.votes} votes)"
            )
        description = "\n".join(lines)
    return list_embed(
        f"Top films · {scope}",
        description,
        [],
        f"Page {page.page + 1} of {page.pages} · films with at least {ratings_phrase(min_votes)}",
    )


def watchlist_embed(page: Page[Film], *, owner: str) -> discord.Embed:
    if not page.items:
        return list_embed("Your watchlist", "It's empty. Add films with `/watchlist add`.", [], "")
    lines = [f"{i}. {film_line(f)}" for i, f in enumerate(page.items, start=page.page * 10 + 1)]
    return list_embed(
        f"{inert(owner, 80)}'s watchlist",
        "\n".join(lines),
        [],
        f"Page {page.page + 1} of {page.pages} · {page.total} films",
    )
