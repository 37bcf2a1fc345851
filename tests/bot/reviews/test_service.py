"""The delivery rules of ReviewService: no flood, watermark, per-poll cap, edits, backfill, failures."""

from __future__ import annotations

import datetime as dt

import pytest

from bot.errors import UserFacingError
from bot.reviews.fetch import FeedFetchError
from bot.reviews.service import DISABLE_AFTER_FAILURES, MAX_NEW_PER_POLL, ReviewService
from bot.storage import FilmRepository
from tests.bot.reviews.feeds_support import CHANNEL_A, GUILD_A, GUILD_B, URL, item
from tests.doubles.feed_server import rss_feed


async def pending_by_guild(service: ReviewService) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for p in await service.outbox.pending():
        review = await service.reviews.get(p.announcement.review_id)
        out.setdefault(p.announcement.guild_id, []).append(review.title)
    return out


async def test_first_fetch_records_everything_and_announces_nothing(service, fetcher) -> None:
    fetcher.set(URL, [item(3), item(2), item(1)])
    feed, first, new = await service.add_feed(GUILD_A, URL, channel_id=None)
    assert new and first is not None and first.recorded == 3 and first.announced == []
    assert await service.feeds.entry_count(feed.id) == 3
    assert await pending_by_guild(service) == {}
    assert fetcher.calls == [URL]  # the probe's document is the first read: one request, not two


async def test_backfill_announces_only_the_newest_n_oldest_first(service, fetcher) -> None:
    fetcher.set(URL, [item(3), item(2), item(1)])
    await service.add_feed(GUILD_A, URL, channel_id=None, backfill=2)
    assert await pending_by_guild(service) == {GUILD_A: ["Film 2: Notes", "Film 3: Notes"]}
    # A second guild subscribing later gets its own backfill, not the first guild's.
    await service.add_feed(GUILD_B, URL, channel_id=33, backfill=1)
    pending = await service.outbox.pending()
    assert [(p.announcement.guild_id, p.announcement.channel_id) for p in pending][-1] == (GUILD_B, 33)


async def test_new_entries_after_downtime_are_capped_oldest_first(service, fetcher, clock) -> None:
    fetcher.set(URL, [item(1)])
    feed, _, _ = await service.add_feed(GUILD_A, URL, channel_id=None)
    fetcher.set(URL, [item(n) for n in range(9, 0, -1)])  # eight new entries while we were away
    result = await service.poll_feed(feed)
    assert [r.title for r in result.announced] == [f"Film {n}: Notes" for n in range(2, 2 + MAX_NEW_PER_POLL)]
    assert result.waiting == 3
    result = await service.poll_feed(feed)
    assert [r.title for r in result.announced] == ["Film 7: Notes", "Film 8: Notes", "Film 9: Notes"]
    assert (await service.poll_feed(feed)).announced == []
    assert len((await pending_by_guild(service))[GUILD_A]) == 8


async def test_unseen_entries_older_than_the_newest_seen_are_recorded_silently(service, fetcher) -> None:
    fetcher.set(URL, [item(5)])
    feed, _, _ = await service.add_feed(GUILD_A, URL, channel_id=None)
    fetcher.set(URL, [item(5), item(3)])  # an old post reappears (feed window changed)
    result = await service.poll_feed(feed)
    assert result.announced == [] and result.recorded == 1


async def test_an_unseen_entry_dated_like_the_newest_seen_is_announced(service, fetcher) -> None:
    fetcher.set(URL, [item(5)])
    feed, _, _ = await service.add_feed(GUILD_A, URL, channel_id=None)
    same_day = item(6, date=item(5)["date"])  # a second review published at the same moment
    fetcher.set(URL, [same_day, item(5)])
    result = await service.poll_feed(feed)
    assert [r.title for r in result.announced] == ["Film 6: Notes"] and result.recorded == 0


async def test_edited_entry_updates_the_review_and_is_reported_not_reannounced(service, fetcher) -> None:
    fetcher.set(URL, [item(1)])
    feed, _, _ = await service.add_feed(GUILD_A, URL, channel_id=None)
    fetcher.set(URL, [item(2), item(1)])
    [announced] = (await service.poll_feed(feed)).announced
    fetcher.set(URL, [item(2, html="<p>Rewritten.</p>"), item(1)])
    result = await service.poll_feed(feed)
    assert result.announced == [] and [r.id for r in result.updated] == [announced.id]
    assert (await service.reviews.get(announced.id)).body_md == "Rewritten."
    assert len((await pending_by_guild(service))[GUILD_A]) == 1
    assert (await service.poll_feed(feed)).updated == []  # unchanged now


async def test_builtin_feeds_go_to_every_configured_guild(service, fetcher) -> None:
    fetcher.set(URL, [item(1)])
    [feed] = await service.sync_builtin_feeds([URL, "ftp://nope"])
    await service.poll_feed(feed)
    fetcher.set(URL, [item(2), item(1)])
    await service.poll_feed(await service.feeds.get(feed.id))
    assert await pending_by_guild(service) == {GUILD_A: ["Film 2: Notes"], GUILD_B: ["Film 2: Notes"]}


async def test_failing_feed_backs_off_and_is_disabled_after_ten_failures_over_a_day(service, fetcher, clock) -> None:
    other = "https://other.example/feed"
    fetcher.set(URL, [item(1)])
    fetcher.set(other, [item(1)])
    feed, _, _ = await service.add_feed(GUILD_A, URL, channel_id=None)
    await service.add_feed(GUILD_A, other, channel_id=None)
    fetcher.set(URL, FeedFetchError("HTTP 500 Internal Server Error"))
    delays = []
    for _ in range(DISABLE_AFTER_FAILURES - 1):
        result = await service.poll_feed(await service.feeds.get(feed.id))
        assert result.error and not result.disabled
        current = await service.feeds.get(feed.id)
        delays.append(dt.datetime.fromisoformat(current.next_poll_at.replace("Z", "+00:00")) - clock.now)
        clock.now += dt.timedelta(minutes=30)
    assert delays[3] > delays[0] * 4  # exponential (with jitter)
    # Ten failures, but not yet spanning a day: still enabled.
    result = await service.poll_feed(await service.feeds.get(feed.id))
    assert not result.disabled and result.feed.failure_count == DISABLE_AFTER_FAILURES
    clock.now += dt.timedelta(days=1)
    result = await service.poll_feed(await service.feeds.get(feed.id))
    assert result.disabled and result.log_channels == [111]
    assert (await service.feeds.get(feed.id)).disabled
    # The other feed is unaffected, and a disabled feed is no longer due.
    due = await service.feeds.due(clock.now + dt.timedelta(days=2))
    assert [f.url for f in due] == [other]
    # Adding it again (once it works) re-enables it.
    fetcher.set(URL, [item(1)])
    feed, _, new = await service.add_feed(GUILD_A, URL, channel_id=None)
    assert not feed.disabled and feed.failure_count == 0 and not new


async def test_success_resets_the_failure_count(service, fetcher) -> None:
    fetcher.set(URL, [item(1)])
    feed, _, _ = await service.add_feed(GUILD_A, URL, channel_id=None)
    fetcher.set(URL, FeedFetchError("boom"))
    await service.poll_feed(feed)
    fetcher.set(URL, [item(1)])
    result = await service.poll_feed(feed)
    assert result.error is None and result.feed.failure_count == 0 and result.feed.last_error is None


async def test_add_feed_refuses_bad_urls_unreadable_feeds_and_unconfigured_guilds(service, fetcher) -> None:
    with pytest.raises(UserFacingError, match="http"):
        await service.add_feed(GUILD_A, "ftp://blog.example/feed", channel_id=None)
    fetcher.set(URL, FeedFetchError("cannot connect to blog.example"))
    with pytest.raises(UserFacingError, match="cannot connect"):
        await service.add_feed(GUILD_A, URL, channel_id=None)
    assert await service.feeds.get_by_url(URL) is None
    fetcher.docs[URL] = b"<html>not a feed</html>"
    with pytest.raises(UserFacingError, match="not"):
        await service.add_feed(GUILD_A, URL, channel_id=None)
    with pytest.raises(UserFacingError, match="setup"):
        await service.add_feed(99, URL, channel_id=None)


async def test_remove_and_status(service, fetcher) -> None:
    fetcher.set(URL, [item(2), item(1)])
    feed, _, _ = await service.add_feed(GUILD_A, URL, channel_id=None)
    [status] = await service.feed_statuses(GUILD_A)
    assert status.entry_count == 2 and status.feed.last_fetch_at and status.feed.next_poll_at
    await service.remove_feed(GUILD_A, feed.id)
    assert await service.feed_statuses(GUILD_A) == []
    with pytest.raises(UserFacingError):
        await service.remove_feed(GUILD_A, feed.id)


async def test_markdown_first_scan_is_silent_then_new_files_are_announced(service, tmp_path) -> None:
    folder = tmp_path / "reviews"
    folder.mkdir()
    (folder / "old.md").write_text("---\ntitle: Old\nfilm: Heat\n---\nOld text.", encoding="utf-8")
    first = await service.scan_markdown()
    assert first.recorded == 1 and first.announced == []
    (folder / "new.md").write_text("---\ntitle: New\nfilm: Alien\nyear: 1979\n---\nNew text.", encoding="utf-8")
    second = await service.scan_markdown()
    assert [r.title for r in second.announced] == ["New"] and second.announced[0].film_label == "Alien (1979)"
    assert await pending_by_guild(service) == {GUILD_A: ["New"], GUILD_B: ["New"]}
    (folder / "new.md").write_text("---\ntitle: New\nfilm: Alien\nyear: 1979\n---\nEdited.", encoding="utf-8")
    third = await service.scan_markdown()
    assert [r.body_md for r in third.updated] == ["Edited."]


async def test_film_is_matched_against_the_catalog(service, fetcher, db) -> None:
    film = await FilmRepository(db).add("Chungking Express", year=1994)
    fetcher.set(URL, [item(1)])
    feed, _, _ = await service.add_feed(GUILD_A, URL, channel_id=None)
    fetcher.set(URL, [{**item(2), "title": "Chungking Express: A Love Letter"}, item(1)])
    [review] = (await service.poll_feed(feed)).announced
    assert (review.film_id, review.film_title, review.film_year) == (film.id, "Chungking Express", 1994)


async def test_discord_review_goes_to_its_own_guild_only(service) -> None:
    review = await service.post_discord_review(GUILD_B, author="Bea", film="Heat (1995)", title="", rating="★★★★",
                                               body="Great <@123> @everyone")  # fmt: skip
    assert (review.source, review.film_label, review.rating, review.title) == ("discord", "Heat (1995)", 4.0,
                                                                                "Review: Heat")  # fmt: skip
    assert "@\u200beveryone" in review.body_md and "<@123>" not in review.body_md
    assert await pending_by_guild(service) == {GUILD_B: ["Review: Heat"]}
    with pytest.raises(UserFacingError, match="rating"):
        await service.post_discord_review(GUILD_B, author="Bea", film="Heat", title="", rating="11", body="x")
    with pytest.raises(UserFacingError, match="setup"):
        await service.post_discord_review(99, author="Bea", film="Heat", title="", rating="", body="x")


async def test_backlog_is_fetched_unconditionally_so_a_304_cannot_strand_it(db, clock, tmp_path) -> None:
    from bot.outbound import NetworkPolicy, create_session
    from bot.reviews.fetch import FeedFetcher
    from tests.doubles.feed_server import FeedServer

    async with FeedServer() as server, create_session(NetworkPolicy(allow_private=True)) as session:
        svc = ReviewService(db, FeedFetcher(session), clock=clock)
        await svc.guilds.update(GUILD_A, announce_channel_id=CHANNEL_A)
        server.serve("/feed", rss_feed([item(1)]))
        feed, _, _ = await svc.add_feed(GUILD_A, server.url("/feed"), channel_id=None)
        server.serve("/feed", rss_feed([item(n) for n in range(8, 0, -1)]))
        announced = []
        for _ in range(3):
            announced += (await svc.poll_feed(await svc.feeds.get(feed.id))).announced
        assert [r.title for r in announced] == [f"Film {n}: Notes" for n in range(2, 9)]
        # Once the backlog is gone, conditional GETs resume (the server answers 304).
        await svc.poll_feed(await svc.feeds.get(feed.id))
        assert (await svc.poll_feed(await svc.feeds.get(feed.id))).not_modified


async def test_future_dated_entry_is_announced_once_and_not_seen_as_edited_every_poll(service, fetcher, clock) -> None:
    fetcher.set(URL, [item(1)])
    feed, _, _ = await service.add_feed(GUILD_A, URL, channel_id=None)
    future = {**item(2), "date": "Fri, 01 Jan 2100 00:00:00 +0000"}
    fetcher.set(URL, [future, item(1)])
    [review] = (await service.poll_feed(feed)).announced
    assert review.published_at.startswith("2026-01-01")  # clamped to when it was first seen
    for _ in range(3):
        clock.now += dt.timedelta(minutes=10)
        result = await service.poll_feed(await service.feeds.get(feed.id))
        assert result.updated == [] and result.announced == []
