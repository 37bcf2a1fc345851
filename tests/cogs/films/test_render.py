"""Film embeds stay inside Discord's limits and keep member/catalog text inert."""

from __future__ import annotations

import discord

from bot.films.service import FilmCard
from bot.models import Film, Review
from bot.paging import Page
from bot.reviews.search import ReviewLink
from bot.storage import RatingSummary
from bot.text import star_rating
from cogs.films.render import card_embed, card_view, top_embed, watchlist_embed


def embed_total(embed: discord.Embed) -> int:
    return len(embed)


def huge_film() -> Film:
    return Film(
        id=1,
        title="@everyone " + "Very Long Title " * 30,
        year=1999,
        original_title="O" * 500,
        directors=tuple(f"Director <@123> {n}" for n in range(50)),
        cast=tuple("Actor " * 40 for _ in range(30)),
        runtime_minutes=615,
        genres=tuple("Genre" for _ in range(100)),
        overview="A sentence about **bold** things. " * 500,
        poster_url="https://image.example/p.jpg",
        imdb_id="tt0000001",
    )


def test_card_embed_fits_limits_and_neutralises_mentions() -> None:
    reviews = [
        ReviewLink(
            Review(id=n, source="s", source_key=str(n), slug=str(n), title="R " * 200, url=f"https://b.example/{n}"),
            f"https://discord.com/channels/1/{n}",
        )
        for n in range(20)
    ]
    card = FilmCard(huge_film(), reviews, RatingSummary(3.74, 12), comments=1, member_rating=4.5)
    embed = card_embed(card)
    assert embed_total(embed) <= 6000 and len(embed.title) <= 256 and len(embed.description or "") <= 4096
    assert all(len(f.value) <= 1024 and len(f.name) <= 256 for f in embed.fields)
    fields = {f.name: f.value for f in embed.fields}
    assert fields["Runtime"] == "10 h 15 min"
    assert (
        "★★★½ 3.7 / 5 · 12 ratings · 1 comment" in fields["Community"] and "Your rating: ★★★★½" in fields["Community"]
    )
    assert "<@123>" not in fields["Directors"]
    assert embed.thumbnail.url == "https://image.example/p.jpg" and embed.url == "https://www.imdb.com/title/tt0000001/"
    view = card_view(card)
    assert [b.label for b in view.children] == ["Join the discussion", "Read our review"]
    assert view.children[0].url == "https://discord.com/channels/1/0"


def test_card_without_reviews_or_ratings_has_no_buttons() -> None:
    card = FilmCard(Film(id=2, title="Plain", year=None))
    embed = card_embed(card)
    assert embed.title == "Plain" and "No ratings yet" in {f.name: f.value for f in embed.fields}["Community"]
    assert card_view(card) is None


def test_list_embeds_fit() -> None:
    films = [huge_film() for _ in range(10)]
    assert len(watchlist_embed(Page(films, 0, 3, 30), owner="x" * 300)) <= 6000
    empty = top_embed(Page([], 0, 1, 0), genre="Horror", period="week", min_votes=3)
    assert "No film has 3 or more ratings" in empty.description and empty.title == "Top films · Horror · this week"
    assert star_rating(0.5) == "½" and star_rating(5) == "★★★★★" and star_rating(3.5) == "★★★½"
