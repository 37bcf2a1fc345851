"""The announcement embed: every part within Discord's limits, stars, spoilers, pings."""

from __future__ import annotations

import datetime as dt

import discord

from bot.models import Film, Review
from bot.paging import Page
from bot.reviews.search import ReviewLink
from cogs.reviews.embeds import build_review_embed, ping_for, review_embed_matches, search_results_embed


def review(**overrides) -> Review:
    fields = {
        "id": 1, "source": "markdown", "source_key": "a.md", "slug": "a", "title": "Chungking Express: Notes",
        "url": "https://blog.example/a/", "author": "Maggie", "film_title": "Chungking Express", "film_year": 1994,
        "rating": 3.5, "excerpt": "Pineapples and @everyone.", "image_url": "https://blog.example/a.jpg",
        "published_at": "2025-01-08T10:00:00.000Z",
    }  # fmt: skip
    fields.update(overrides)
    return Review(**fields)


def test_embed_has_every_part() -> None:
    embed = build_review_embed(review())
    assert (embed.title, embed.url, embed.author.name) == ("Chungking Express: Notes", "https://blog.example/a/",
                                                           "Maggie")  # fmt: skip
    assert [(f.name, f.value) for f in embed.fields] == [("Film", "Chungking Express (1994)"),
                                                         ("Rating", "★★★½ (3.5/5)")]  # fmt: skip
    assert embed.image.url == "https://blog.example/a.jpg"
    assert embed.timestamp == dt.datetime(2025, 1, 8, 10, tzinfo=dt.UTC)
    assert "discussion" in embed.footer.text.lower()
    assert "@\u200beveryone" in embed.description
    assert "post" in build_review_embed(review(), forum=True).footer.text


def test_huge_fields_are_fitted_to_discord_limits() -> None:
    embed = build_review_embed(review(title="T" * 1000, author="A" * 1000, excerpt="word " * 2000,
                                      film_title="F" * 2000))  # fmt: skip
    assert len(embed.title) <= 256 and len(embed.author.name) <= 256 and len(embed.description) <= 4096
    assert all(len(f.value) <= 1024 for f in embed.fields)
    assert len(embed) <= 6000


def test_spoilers_hide_the_excerpt_and_missing_parts_are_omitted() -> None:
    embed = build_review_embed(review(spoilers=True))
    assert embed.description.startswith("⚠ **Contains spoilers**\n||") and embed.description.endswith("||")
    bare = build_review_embed(review(url=None, author=None, film_title=None, rating=None, image_url=None,
                                     excerpt="", published_at=None))  # fmt: skip
    assert bare.url is None and bare.author.name is None and bare.fields == [] and bare.image.url is None
    assert bare.description is None and bare.timestamp is None


def test_reconciliation_matches_by_url_or_by_title_and_time() -> None:
    r = review()
    assert review_embed_matches(build_review_embed(r), r)
    assert not review_embed_matches(build_review_embed(review(url="https://blog.example/b/")), r)
    no_url = review(url=None)
    assert review_embed_matches(build_review_embed(no_url), no_url)
    assert not review_embed_matches(build_review_embed(review(url=None, title="Other")), no_url)


def test_only_the_configured_role_may_be_pinged() -> None:
    content, allowed = ping_for(None)
    assert content is None and allowed.to_dict()["parse"] == [] and "roles" not in allowed.to_dict()
    content, allowed = ping_for(42)
    assert content == "<@&42>"
    assert allowed.to_dict()["parse"] == [] and allowed.to_dict()["roles"] == [42]
    assert isinstance(allowed, discord.AllowedMentions)


def test_search_results_fit() -> None:
    film = Film(id=1, title="@everyone " + "Very Long Title " * 30, year=1999)
    reviews = [ReviewLink(Review(id=1, source="s", source_key="k", slug="s", title="T" * 400, excerpt="e" * 5000))] * 5
    assert len(search_results_embed(Page(reviews, 0, 1, 5), query="q" * 300, film=film)) <= 6000
