"""`/matinee feed add category:`: of a whole-site feed, only the entries in that category are reviews."""

from __future__ import annotations

import pytest

from bot.errors import UserFacingError
from bot.reviews.draft import category_key, in_category
from tests.bot.reviews.feeds_support import CHANNEL_A, GUILD_A, GUILD_B, URL, item
from tests.bot.reviews.test_service import pending_by_guild


def review(n: int, *categories: str) -> dict:
    return item(n, categories=list(categories))


def test_categories_compare_by_name_or_slug_in_any_letter_case() -> None:
    assert category_key("Film Reviews") == category_key("film-reviews") == category_key("FILM_REVIEWS")
    assert in_category(["News", "Film Reviews"], "film-reviews")
    assert not in_category(["Reviews of books"], "reviews")
    assert in_category(["Критика"], "критика") and not in_category(["Критика"], "Обзор")
    assert not in_category(["anything"], "  ")


async def test_only_entries_in_the_category_are_stored_and_announced(service, fetcher) -> None:
    fetcher.set(URL, [review(2, "News"), review(1, "Reviews", "Wong Kar-wai")])
    feed, first, new = await service.add_feed(GUILD_A, URL, channel_id=None, category="reviews")
    assert new and first is not None and (first.recorded, first.outside) == (1, 1)
    assert [r.title for r in await service.feeds.newest_reviews(feed.source, 10)] == ["Film 1: Notes"]
    sub = await service.feeds.subscription(GUILD_A, feed.id)
    assert sub is not None and sub.category == "reviews"

    fetcher.set(URL, [review(4, "Reviews"), review(3, "Site news"), review(2, "News"), review(1, "Reviews")])
    result = await service.poll_feed(feed)
    assert [r.title for r in result.announced] == ["Film 4: Notes"] and result.outside == 2
    assert await pending_by_guild(service) == {GUILD_A: ["Film 4: Notes"]}
    assert await service.reviews.find("https://blog.example/3/") is None  # a news post is no review


async def test_servers_sharing_a_feed_each_get_their_own_category(service, fetcher) -> None:
    fetcher.set(URL, [review(1, "Reviews")])
    feed, _, _ = await service.add_feed(GUILD_A, URL, channel_id=None, category="Reviews")
    await service.add_feed(GUILD_B, URL, channel_id=None, category="interviews")
    fetcher.set(URL, [review(3, "Interviews"), review(2, "reviews"), review(1, "Reviews")])
    result = await service.poll_feed(feed)
    assert sorted(r.title for r in result.announced) == ["Film 2: Notes", "Film 3: Notes"]
    assert await pending_by_guild(service) == {GUILD_A: ["Film 2: Notes"], GUILD_B: ["Film 3: Notes"]}


async def test_backfill_takes_the_newest_of_the_category(service, fetcher) -> None:
    fetcher.set(URL, [review(4, "News"), review(3, "Reviews"), review(2, "News"), review(1, "Reviews")])
    await service.add_feed(GUILD_B, URL, channel_id=None)  # takes everything
    await service.add_feed(GUILD_A, URL, channel_id=None, category="reviews", backfill=1)
    assert await pending_by_guild(service) == {GUILD_A: ["Film 3: Notes"]}


async def test_dropping_the_filter_does_not_announce_old_posts_as_news(service, fetcher, clock) -> None:
    fetcher.set(URL, [review(2, "News"), review(1, "Reviews")])
    feed, _, _ = await service.add_feed(GUILD_A, URL, channel_id=None, category="reviews")
    # A news post newer than the newest review: had the feed been followed without a filter, it would
    # have been history on the first read. Taking the filter off must not make it news now.
    fetcher.set(URL, [review(3, "News"), review(2, "News"), review(1, "Reviews")])
    await service.poll_feed(feed)
    feed, _, new = await service.add_feed(GUILD_A, URL, channel_id=CHANNEL_A)
    assert not new and (await service.feeds.subscription(GUILD_A, feed.id)).category is None
    assert await service.feeds.entry_count(feed.id) == 3
    fetcher.set(URL, [review(4, "News"), review(3, "News"), review(2, "News"), review(1, "Reviews")])
    result = await service.poll_feed(feed)
    assert [r.title for r in result.announced] == ["Film 4: Notes"]  # only what is new since then


async def test_a_category_must_be_usable(service, fetcher) -> None:
    fetcher.set(URL, [review(1, "Reviews")])
    for bad, message in (("--", "letters or digits"), ("x" * 101, "at most 100")):
        with pytest.raises(UserFacingError, match=message):
            await service.add_feed(GUILD_A, URL, channel_id=None, category=bad)
    feed, _, _ = await service.add_feed(GUILD_A, URL, channel_id=None, category="  Film\n Reviews ")
    assert (await service.feeds.subscription(GUILD_A, feed.id)).category == "Film Reviews"
