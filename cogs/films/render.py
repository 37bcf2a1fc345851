"""Embeds and views for the films commands. Plain data in, discord.py objects out."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import discord

from bot.films.service import FilmCard, Page, ReviewLink
from bot.models import Film
from bot.storage.film_stats import LeaderboardRow
from bot.text import clean_text, excerpt, fit_embed, neutralize_mentions, star_rating, truncate

__all__ = [
    "EMBED_COLOUR",
    "PagedView",
    "card_embed",
    "card_view",
    "film_line",
    "reviews_embed",
    "top_embed",
    "watchlist_embed",
]

log = logging.getLogger(__name__)

EMBED_COLOUR = discord.Colour.from_rgb(196, 30, 58)
NO_MENTIONS = discord.AllowedMentions.none()
PAGE_TIMEOUT = 180.0
PERIOD_LABELS = {"week": "this week", "month": "this month", "year": "this year", "all": "all time"}


def _safe(text: str | None, limit: int = 256) -> str:
    """Untrusted catalog/review text made inert for display: no mentions, no markdown tricks."""
    cleaned = neutralize_mentions(clean_text(" ".join((text or "").split())))
    return truncate(discord.utils.escape_markdown(cleaned), limit)


def film_line(film: Film) -> str:
    director = f" — {_safe(film.directors[0], 60)}" if film.directors else ""
    return f"**{_safe(film.title, 120)}**{f' ({film.year})' if film.year else ''}{director}"


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
    title = _safe(review.title, 120)
    head = f"[{title}]({review.url})" if review.url and review.url.startswith(("http://", "https://")) else title
    author = f" by {_safe(review.author, 60)}" if review.author else ""
    thread = f" · [discussion]({link.thread_url})" if link.thread_url else ""
    return f"• {head}{author}{thread}"


def _embed(title: str, description: str, fields: list[tuple[str, str]], footer: str = "", **kwargs) -> discord.Embed:
    title, description, fields, footer, _ = fit_embed(title, description, fields, footer)
    embed = discord.Embed(title=title, description=description or None, colour=EMBED_COLOUR, **kwargs)
    for name, value in fields:
        embed.add_field(name=name, value=value, inline=len(value) < 60)
    if footer:
        embed.set_footer(text=footer)
    return embed


def card_embed(card: FilmCard) -> discord.Embed:
    film = card.film
    fields: list[tuple[str, str]] = []
    if film.directors:
        fields.append(("Director" if len(film.directors) == 1 else "Directors", _safe(", ".join(film.directors), 1000)))
    if film.cast:
        fields.append(("Cast", _safe(", ".join(film.cast[:6]), 1000)))
    if runtime := _runtime(film.runtime_minutes):
        fields.append(("Runtime", runtime))
    if film.genres:
        fields.append(("Genres", _safe(", ".join(film.genres), 500)))
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
    embed = _embed(
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


def top_embed(page: Page[LeaderboardRow], *, genre: str | None, period: str | None, min_votes: int) -> discord.Embed:
    when = PERIOD_LABELS.get((period or "all").lower(), "all time")
    scope = " · ".join(p for p in (_safe(genre, 50) if genre else None, when) if p)
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
    return _embed(
        f"Top films · {scope}",
        description,
        [],
        f"Page {page.page + 1} of {page.pages} · films with at least {min_votes} ratings",
    )


def reviews_embed(page: Page[ReviewLink], *, query: str | None, film: Film | None) -> discord.Embed:
    scope = []
    if film is not None:
        scope.append(film.label)
    if query and query.strip():
        scope.append(f"“{' '.join(query.split())[:60]}”")
    title = "Reviews" + (f" · {' · '.join(scope)}" if scope else "")
    if not page.items:
        return _embed(_safe(title), "No reviews match. Try other words, or leave the query empty.", [], "")
    fields = []
    for link in page.items:
        review = link.review
        head = _safe(f"{review.title} ({review.film_label})" if review.film_title else review.title, 250)
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
    return _embed(_safe(title), "", fields, f"Page {page.page + 1} of {page.pages} · {page.total} reviews")


def watchlist_embed(page: Page[Film], *, owner: str) -> discord.Embed:
    if not page.items:
        return _embed("Your watchlist", "It's empty. Add films with `/watchlist add`.", [], "")
    lines = [f"{i}. {film_line(f)}" for i, f in enumerate(page.items, start=page.page * 10 + 1)]
    return _embed(
        f"{_safe(owner, 80)}'s watchlist",
        "\n".join(lines),
        [],
        f"Page {page.page + 1} of {page.pages} · {page.total} films",
    )


PageRenderer = Callable[[int], Awaitable[tuple[discord.Embed, int, int]]]


class PagedView(discord.ui.View):
    """Previous/Next buttons that only the member who ran the command can use."""

    def __init__(self, owner_id: int, render: PageRenderer, *, page: int, pages: int) -> None:
        super().__init__(timeout=PAGE_TIMEOUT)
        self.owner_id = owner_id
        self.render = render
        self.page = page
        self.pages = pages
        self.message: discord.InteractionMessage | None = None
        self._sync_buttons()

    def _sync_buttons(self) -> None:
        self.previous.disabled = self.page <= 0
        self.next.disabled = self.page >= self.pages - 1

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if interaction.user.id == self.owner_id:
            return True
        await interaction.response.send_message(
            "Only the member who ran this command can turn its pages; run it yourself to browse.",
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )
        return False

    async def _show(self, interaction: discord.Interaction, page: int) -> None:
        embed, self.page, self.pages = await self.render(page)
        self._sync_buttons()
        await interaction.response.edit_message(embed=embed, view=self, allowed_mentions=NO_MENTIONS)

    @discord.ui.button(label="◀ Previous", style=discord.ButtonStyle.secondary)
    async def previous(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await self._show(interaction, self.page - 1)

    @discord.ui.button(label="Next ▶", style=discord.ButtonStyle.secondary)
    async def next(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await self._show(interaction, self.page + 1)

    async def on_timeout(self) -> None:
        for item in self.children:
            if isinstance(item, discord.ui.Button):
                item.disabled = True
        if self.message is not None:
            try:
                await self.message.edit(view=self, allowed_mentions=NO_MENTIONS)
            except discord.HTTPException:
                log.debug("could not disable page buttons after timeout", exc_info=True)

    async def on_error(self, interaction: discord.Interaction, error: Exception, item: discord.ui.Item) -> None:
        log.exception("page button failed", exc_info=error)
        if not interaction.response.is_done():
            await interaction.response.send_message(
                "That page could not be shown; run the command again.", ephemeral=True, allowed_mentions=NO_MENTIONS
            )
