"""Embeds for the chat cog: the no-model /ask answer (matching reviews and a film card)."""

from __future__ import annotations

import discord

from bot.chat import FallbackAnswer
from bot.models import Film
from bot.text import EMBED_DESCRIPTION, clean_text, fit_embed, neutralize_mentions, star_rating, truncate
from cogs._ui import EMBED_COLOUR

__all__ = ["fallback_embeds", "film_card"]


def _safe(text: str) -> str:
    return neutralize_mentions(clean_text(text))


def film_card(film: Film) -> discord.Embed:
    fields: list[tuple[str, str]] = []
    if film.directors:
        fields.append(("Directed by", ", ".join(film.directors)))
    if film.cast:
        fields.append(("Starring", ", ".join(film.cast[:6])))
    if film.genres:
        fields.append(("Genres", ", ".join(film.genres)))
    if film.runtime_minutes:
        fields.append(("Runtime", f"{film.runtime_minutes} min"))
    title, description, fitted, _, _ = fit_embed(_safe(film.label), _safe(film.overview or ""), fields)
    embed = discord.Embed(title=title, description=description or None, colour=EMBED_COLOUR)
    for name, value in fitted:
        embed.add_field(name=_safe(name), value=_safe(value), inline=True)
    if film.poster_url and film.poster_url.startswith("https://"):
        embed.set_thumbnail(url=film.poster_url)
    return embed


def fallback_embeds(answer: FallbackAnswer, question: str) -> list[discord.Embed]:
    """One embed listing the matching reviews (or saying none matched), plus the film card."""
    lines: list[str] = []
    for hit in answer.reviews:
        title = _safe(hit.title).replace("[", "(").replace("]", ")")
        head = (
            f"**[{title}]({hit.url})**" if hit.url and hit.url.startswith(("https://", "http://")) else f"**{title}**"
        )
        rating = f"{star_rating(hit.rating)} ({hit.rating:g}/5)" if hit.rating is not None else ""
        meta = " · ".join(p for p in (_safe(hit.film_label), _safe(hit.author or ""), rating) if p)
        passage = truncate(_safe(hit.snippet or hit.excerpt), 300)
        if hit.spoilers and passage:
            passage = f"||{passage.replace('|', '¦')}||"
        lines.append(f"{head}\n{meta}\n{passage}".strip())
    body = "\n\n".join(lines) if lines else "I couldn't find a review that matches that question."
    description = truncate(f"{answer.note}\n\n{body}", EMBED_DESCRIPTION)
    title, description, _, footer, _ = fit_embed(
        truncate(f"From the reviews: {_safe(question)}", 256), description, [], "Try /film and /reviews for more."
    )
    embed = discord.Embed(title=title, description=description, colour=EMBED_COLOUR)
    embed.set_footer(text=footer)
    embeds = [embed]
    if answer.film is not None:
        embeds.append(film_card(answer.film))
    return embeds
