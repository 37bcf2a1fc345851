"""A review's slug is its post address's last segment, else its title's."""

from __future__ import annotations

import itertools

import pytest

from bot.slugs import review_slug, slug_candidates, slug_from_url, slugify


@pytest.mark.parametrize(
    ("url", "slug"),
    [
        # WordPress's day-and-name permalinks, with and without the trailing slash.
        ("https://blog.example/2026/11/24/chungking-express-a-love-letter-to-loneliness/",
         "chungking-express-a-love-letter-to-loneliness"),
        ("https://blog.example/2026/11/24/chungking-express-a-love-letter-to-loneliness",
         "chungking-express-a-love-letter-to-loneliness"),
        # Query, fragment and tracking parameters are not the post's name.
        ("https://blog.example/reviews/stalker/?utm_source=x#comments", "stalker"),
        # Static sites and Blogger: index pages and page suffixes.
        ("https://blog.example/reviews/paris-texas/index.html", "paris-texas"),
        ("https://blog.example/reviews/paris-texas/INDEX.HTM", "paris-texas"),
        ("https://example.blogspot.com/2026/11/paris-texas.html", "paris-texas"),
        # Percent-encoding decoded, accents folded, case and punctuation made slug-safe.
        ("https://blog.example/am%C3%A9lie-le-fabuleux-destin/", "amelie-le-fabuleux-destin"),
        ("https://blog.example/Reviews/In_The_Mood_For_Love/", "in-the-mood-for-love"),
        ("https://blog.example/2001%3A-a-space-odyssey/", "2001-a-space-odyssey"),
        # A number is an id, not a name; so is "1917" alone (its title names it instead).
        ("https://blog.example/archives/412", None),
        ("https://blog.example/2026/11/24/", None),
        # WordPress's plain permalinks name the post in the query: no slug in the address.
        ("https://blog.example/?p=412", None),
        ("https://blog.example/index.php?p=412", None),
        ("https://blog.example/", None),
        # A segment of characters that fold to nothing (a Chinese title) names nothing.
        ("https://blog.example/%E9%87%8D%E6%85%B6%E6%A3%AE%E6%9E%97/", None),
        # Not a post address at all.
        ("mailto:someone@blog.example", None),
        ("/relative/path/", None),
        ("", None),
        (None, None),
        ("http://[::1", None),
    ],
)  # fmt: skip
def test_slug_from_url(url: str | None, slug: str | None) -> None:
    assert slug_from_url(url) == slug


def test_long_segments_are_cut_at_a_word() -> None:
    slug = slug_from_url("https://blog.example/" + "-".join(["word"] * 60) + "/")
    assert slug is not None and len(slug) <= 120 and not slug.endswith("-")


def test_a_review_without_a_usable_address_is_named_by_its_title() -> None:
    assert review_slug(None, "Chungking Express: A Love Letter!") == "chungking-express-a-love-letter"
    assert review_slug("https://blog.example/?p=412", "Heat (1995)") == "heat-1995"
    assert review_slug("https://blog.example/heat-review/", "Heat (1995)") == "heat-review"
    assert slugify("重慶森林") == "review"


def test_candidates_number_from_two() -> None:
    assert list(itertools.islice(slug_candidates("heat"), 3)) == ["heat", "heat-2", "heat-3"]
