"""Film identification, ratings, stars, slugs and draft normalisation."""

from __future__ import annotations

import datetime as dt

import pytest

from bot.models import Film
from bot.reviews.draft import ReviewDraft, parse_rating, slugify
from bot.reviews.film_guess import guess_film, identify_film, lead_phrase
from bot.text import star_rating


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Chungking Express: A Love Letter to Loneliness…", ("Chungking Express", None)),
        ("Review: Heat (1995)", ("Heat", 1995)),
        ("In the Mood for Love – a review", ("In the Mood for Love", None)),
        ("Paris, Texas - Wim Wenders at his best", ("Paris, Texas", None)),
        ("“Alien” review", ("Alien", None)),
        ("Vertigo | Falling", ("Vertigo", None)),
        ("", (None, None)),
    ],
)
def test_lead_phrase(title: str, expected) -> None:
    assert lead_phrase(title) == expected


def test_evidence_order_front_matter_then_category_then_title() -> None:
    assert guess_film(film="Heat (1995)", title="Something else").evidence == "front-matter"
    assert guess_film(film="Heat (1995)").year == 1995
    by_cat = guess_film(categories=["Reviews", "Drama", "Stalker"], title="Why Stalker still matters")
    assert (by_cat.title, by_cat.evidence) == ("Stalker", "category")
    by_title = guess_film(categories=["Reviews"], title="Heat: The Coffee Shop Scene")
    assert (by_title.title, by_title.evidence) == ("Heat", "title")


class FakeCatalog:
    def __init__(self, films: list[Film]) -> None:
        self.films = films

    async def find_by_title(self, title: str, year: int | None = None) -> Film | None:
        for film in self.films:
            if film.title.lower() == title.lower() and (year is None or film.year == year):
                return film
        return None


async def test_catalog_match_supplies_canonical_title_year_and_id() -> None:
    catalog = FakeCatalog([Film(id=7, title="Chungking Express", year=1994), Film(id=9, title="Heat", year=1995)])
    guess = await identify_film(catalog, title="chungking express: a love letter")
    assert (guess.title, guess.year, guess.film_id) == ("Chungking Express", 1994, 7)
    # A category the catalog knows wins even when the title's lead phrase is something else.
    guess = await identify_film(catalog, categories=["Heat"], title="Two men, one table")
    assert guess.film_id == 9
    unknown = await identify_film(catalog, title="Obscure Film: notes")
    assert (unknown.title, unknown.film_id) == ("Obscure Film", None)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("4", 4.0), ("4.5", 4.5), ("4,5", 4.5), ("4/5", 4.0), ("8/10", 4.0), ("7/10", 3.5), ("★★★½", 3.5),
     (3, 3.0), ("6", None), ("-1", None), ("eleven", None), ("", None), (None, None), (True, None), ("1/0", None)],
)  # fmt: skip
def test_parse_rating(raw, expected) -> None:
    assert parse_rating(raw) == expected


def test_stars_and_slugs() -> None:
    assert (star_rating(3.5), star_rating(5), star_rating(0.5), star_rating(None)) == ("★★★½", "★★★★★", "½", "")
    assert slugify("Chungking Express: A Love Letter!") == "chungking-express-a-love-letter"
    assert slugify("Amélie") == "amelie" and slugify("★★★") == "review"


def test_normalise_cleans_and_clamps() -> None:
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    draft = ReviewDraft(
        source_key="k", title="  A\u202e  title\x00 " + "x" * 300, body_md="Body. " * 100, author="  ",
        film_year=3000, tags=["a", "a", " b "], published_at=dt.datetime(2100, 1, 1),
    ).normalise(now=now)  # fmt: skip
    assert len(draft.title) <= 256 and "\u202e" not in draft.title and "\x00" not in draft.title
    assert draft.author is None and draft.film_year is None and draft.tags == ["a", "b"]
    assert draft.published_at == now
    assert len(draft.excerpt_text) <= 300 and draft.excerpt_text.endswith(".")
    before = draft.content_hash
    draft.rating = 4.0
    assert draft.content_hash != before


def test_overlong_urls_are_dropped_rather_than_breaking_the_embed() -> None:
    draft = ReviewDraft(source_key="k", title="T", url="https://x.example/" + "a" * 3000,
                        image_url="https://x.example/" + "b" * 3000).normalise()  # fmt: skip
    assert draft.url is None and draft.image_url is None


def test_feed_urls_are_logged_without_tokens() -> None:
    from bot.reviews.service import loggable_url

    assert loggable_url("https://user:pw@blog.example:8443/feed/?token=s3cret#x") == "https://blog.example:8443/feed/"
