"""Working out which film a review is about: a guess from the entry, then a catalog match.

Order of evidence, most reliable first: the front matter (or Letterboxd's
``filmTitle``/``filmYear``), then a feed category that names the film (one that
the title mentions, or one the catalog knows), then the lead phrase of the title
("Chungking Express: A Love Letter to Loneliness" -> "Chungking Express").
Whatever is found is matched against the film catalog when it has the film, so
the stored title/year are the catalog's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from ..models import Film

__all__ = ["FilmGuess", "FilmsByTitle", "guess_film", "identify_film", "lead_phrase"]

# Categories that describe the post, not the film.
_GENERIC = {
    "review", "reviews", "film", "films", "movie", "movies", "cinema", "uncategorized", "uncategorised",
    "blog", "news", "essay", "essays", "criticism", "feature", "features", "home", "posts", "post",
    "drama", "comedy", "horror", "thriller", "romance", "documentary", "animation", "action", "sci-fi",
    "science fiction", "western", "noir", "musical", "fantasy", "crime", "war", "classic", "classics",
}  # fmt: skip
_SEPARATORS = re.compile(r"\s*(?::|\s[–—-]\s|\s\|\s|\s/\s)\s*")
_REVIEW_WORD = re.compile(r"^(?:film\s+|movie\s+)?review\b\s*[:\-–—]?\s*|\s*[:\-–—]?\s*\b(?:film\s+|movie\s+)?review$",
                          re.IGNORECASE)  # fmt: skip
_YEAR_SUFFIX = re.compile(r"\s*[(\[]((?:18|19|20)\d\d)[)\]]\s*$")
_QUOTES = "\"'“”‘’«»"


class FilmsByTitle(Protocol):
    """What the guess needs from the catalog (FilmRepository has it): a film by title and year."""

    async def find_by_title(self, title: str, year: int | None = None) -> Film | None: ...


@dataclass(frozen=True, slots=True)
class FilmGuess:
    title: str | None
    year: int | None = None
    film_id: int | None = None
    evidence: str = "none"  # front-matter | category | title | none


def _split_year(name: str) -> tuple[str, int | None]:
    match = _YEAR_SUFFIX.search(name)
    if match:
        return name[: match.start()].strip(), int(match.group(1))
    return name.strip(), None


def lead_phrase(title: str) -> tuple[str | None, int | None]:
    """The film named at the start of a post title, and a year if it carries one."""
    text = " ".join((title or "").split())
    if not text:
        return None, None
    parts = [p for p in _SEPARATORS.split(text) if p.strip()]
    if not parts:
        return None, None
    head = parts[0]
    # "Review: Chungking Express" - the lead phrase is the label, the film comes after it.
    if _REVIEW_WORD.fullmatch(head) or head.lower() in _GENERIC:
        head = parts[1] if len(parts) > 1 else ""
    head = _REVIEW_WORD.sub("", head).strip().strip(_QUOTES).strip()
    name, year = _split_year(head)
    if not name or len(name) > 120:
        return None, year
    return name, year


def guess_film(
    *,
    film: str | None = None,
    year: int | None = None,
    categories: list[str] | tuple[str, ...] = (),
    title: str = "",
) -> FilmGuess:
    """Identify the film without the catalog (pure; see :func:`identify_film`)."""
    if film and film.strip():
        name, parsed_year = _split_year(film.strip())
        return FilmGuess(name, year or parsed_year, evidence="front-matter")
    lowered_title = (title or "").lower()
    for category in categories:
        name, cat_year = _split_year(str(category))
        if name and name.lower() not in _GENERIC and len(name) >= 2 and name.lower() in lowered_title:
            return FilmGuess(name, year or cat_year, evidence="category")
    name, title_year = lead_phrase(title)
    if name:
        return FilmGuess(name, year or title_year, evidence="title")
    return FilmGuess(None, year)


async def identify_film(
    catalog: FilmsByTitle | None,
    *,
    film: str | None = None,
    year: int | None = None,
    categories: list[str] | tuple[str, ...] = (),
    title: str = "",
) -> FilmGuess:
    """:func:`guess_film`, then matched against the catalog (also trying every category)."""
    guess = guess_film(film=film, year=year, categories=categories, title=title)
    if catalog is None:
        return guess
    candidates: list[tuple[str, int | None, str]] = []
    if guess.title:
        candidates.append((guess.title, guess.year, guess.evidence))
    if guess.evidence != "front-matter":
        for category in categories:
            name, cat_year = _split_year(str(category))
            if name and name.lower() not in _GENERIC:
                candidates.append((name, year or cat_year, "category"))
    for name, cand_year, evidence in candidates:
        found = await catalog.find_by_title(name, cand_year) if cand_year else None
        found = found or await catalog.find_by_title(name)
        if found is not None:
            return FilmGuess(found.title, found.year or cand_year, found.id, evidence)
    return guess
