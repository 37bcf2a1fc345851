"""Nothing twice, never silent — the service rules (issue 17).

A changed guid, one post in two feeds, the same feed under another spelling and a
feed re-added after a time without readers never make a second review or a second
announcement; a deleted feed channel falls back to the announcement channel and
staff see it.
"""

from __future__ import annotations

from bot.problems import CHANNEL
from bot.reviews.delivery import DeliveryService
from bot.reviews.service import ReviewService
from bot.storage import Database
from tests.bot.reviews.feeds_support import CHANNEL_A, CHANNEL_B, GUILD_A, GUILD_B, FakeTransport, item

SITE = "https://blog.example/feed/"
CATEGORY = "https://blog.example/category/reviews/feed/"


async def intents(service: ReviewService) -> list[tuple[int, str, int]]:
    """(guild, review title, channel) of every pending announcement."""
    out = []
    for pending in await service.outbox.pending():
        review = await service.reviews.get(pending.announcement.review_id)
        out.append((pending.announcement.guild_id, review.title, pending.announcement.channel_id))
    return sorted(out)


async def review_count(db: Database) -> int:
    return int(await db.fetchval("SELECT count(*) FROM reviews"))


# -- a changed guid ------------------------------------------------------------------------------


async def test_a_changed_guid_is_the_same_review_rekeyed_and_updated_in_place(service, fetcher, db) -> None:
    fetcher.set(SITE, [item(1)])
    feed, _, _ = await service.add_feed(GUILD_A, SITE, channel_id=None)
    post = item(2, guid="https://blog.example/?p=412")
    fetcher.set(SITE, [post, item(1)])
    [announced] = (await service.poll_feed(feed)).announced
    # The blog switches its guids to permalinks (same link, same date), and fixes a typo while at it.
    rekeyed = {**post, "guid": "https://blog.example/2/", "link": "http://www.blog.example/2", "title": "Film 2!"}
    fetcher.set(SITE, [rekeyed, item(1)])
    result = await service.poll_feed(feed)
    assert result.announced == [] and result.rekeyed == 1
    assert [r.id for r in result.updated] == [announced.id]  # the typo fix edits the one announcement
    assert await review_count(db) == 2
    review = await service.reviews.get(announced.id)
    assert review.source_key == "https://blog.example/2/" and review.title == "Film 2!"
    assert await intents(service) == [(GUILD_A, "Film 2!", CHANNEL_A)]  # still the one intent
    assert (await service.poll_feed(feed)).updated == []  # and settled: no edit on every poll


async def test_a_guid_change_alone_changes_nothing_visible(service, fetcher) -> None:
    fetcher.set(SITE, [item(1, guid="https://blog.example/?p=1")])
    feed, _, _ = await service.add_feed(GUILD_A, SITE, channel_id=None)
    fetcher.set(SITE, [item(1, guid="https://blog.example/1/")])
    result = await service.poll_feed(feed)
    assert (result.announced, result.updated, result.recorded, result.rekeyed) == ([], [], 0, 1)
    assert await service.feeds.entry_count(feed.id) == 1


async def test_entries_sharing_one_link_are_not_merged(service, fetcher, db) -> None:
    """A feed whose items all link to the front page: the link says nothing about which post an item is."""
    front = "https://blog.example/"
    fetcher.set(SITE, [item(1, link=front)])
    feed, _, _ = await service.add_feed(GUILD_A, SITE, channel_id=None)
    fetcher.set(SITE, [item(3, link=front), item(2, link=front), item(1, link=front)])
    result = await service.poll_feed(feed)
    assert [r.title for r in result.announced] == ["Film 2: Notes", "Film 3: Notes"]
    # One new item linking to where an old, still listed one used to link: another post, not a re-key.
    fetcher.set(SITE, [item(4, link="https://blog.example/1/"), item(1, link="https://blog.example/moved/")])
    assert [r.title for r in (await service.poll_feed(feed)).announced] == ["Film 4: Notes"]
    assert await review_count(db) == 4


# -- one post, several feeds ---------------------------------------------------------------------


async def test_one_post_in_two_feeds_is_one_review_announced_once_per_server(service, fetcher, db) -> None:
    fetcher.set(SITE, [item(1)])
    fetcher.set(CATEGORY, [item(1)])
    site, _, _ = await service.add_feed(GUILD_A, SITE, channel_id=None)
    category, _, _ = await service.add_feed(GUILD_A, CATEGORY, channel_id=None)
    await service.add_feed(GUILD_B, SITE, channel_id=None)  # B reads only the whole-site feed
    assert await review_count(db) == 1  # the category feed's first read found the known post
    assert await service.feeds.entry_count(category.id) == 1
    tagged = item(2, link="https://blog.example/2/?utm_source=category")  # the category feed's spelling
    fetcher.set(CATEGORY, [tagged, item(1)])
    fetcher.set(SITE, [item(2), item(1)])
    [from_category] = (await service.poll_feed(category)).announced
    site_result = await service.poll_feed(site)
    assert [r.id for r in site_result.announced] == [from_category.id]  # B gets it through the site feed
    assert await review_count(db) == 2
    assert await intents(service) == [(GUILD_A, "Film 2: Notes", CHANNEL_A), (GUILD_B, "Film 2: Notes", CHANNEL_B)]
    # Both feeds keep it as theirs: no edits back and forth, no second announcement later.
    for _ in range(2):
        assert (await service.poll_feed(site)).updated == [] and (await service.poll_feed(category)).updated == []
    assert len(await intents(service)) == 2


async def test_two_feeds_with_different_text_of_one_post_do_not_undo_each_other(service, fetcher) -> None:
    fetcher.set(SITE, [item(1)])
    fetcher.set(CATEGORY, [item(1)])
    site, _, _ = await service.add_feed(GUILD_A, SITE, channel_id=None)
    category, _, _ = await service.add_feed(GUILD_A, CATEGORY, channel_id=None)
    fetcher.set(SITE, [item(2, html="<p>The full review, every paragraph.</p>"), item(1)])
    fetcher.set(CATEGORY, [item(2, html="<p>An excerpt…</p>"), item(1)])
    await service.poll_feed(site)
    await service.poll_feed(category)
    for _ in range(3):
        assert (await service.poll_feed(site)).updated == [] and (await service.poll_feed(category)).updated == []
    # A real edit in either feed still comes through.
    fetcher.set(CATEGORY, [item(2, html="<p>A corrected excerpt.</p>"), item(1)])
    assert [r.body_md for r in (await service.poll_feed(category)).updated] == ["A corrected excerpt."]


async def test_the_same_feed_under_another_spelling_is_the_same_feed(service, fetcher) -> None:
    fetcher.set(SITE, [item(1)])
    feed, _, new = await service.add_feed(GUILD_A, SITE, channel_id=None)
    assert new
    spelled = "http://WWW.blog.example/feed?utm_source=newsletter&utm_medium=email"
    fetcher.set(spelled, [item(1)])
    again, first, new = await service.add_feed(GUILD_A, spelled, channel_id=None)
    assert (again.id, first, new) == (feed.id, None, False)
    other, _, new = await service.add_feed(GUILD_B, spelled, channel_id=None)
    assert other.id == feed.id and new
    assert [f.url for f in await service.feeds.all()] == [SITE]
    assert fetcher.calls == [SITE]  # an initialised feed is not read again to subscribe another server


async def test_a_markdown_review_and_the_feed_of_the_same_blog_are_one_review(service, fetcher, tmp_path, db) -> None:
    folder = tmp_path / "reviews"
    folder.mkdir()
    await service.scan_markdown()
    (folder / "heat.md").write_text("---\ntitle: Heat\nurl: https://blog.example/2/\n---\nText.", encoding="utf-8")
    [review] = (await service.scan_markdown()).announced
    fetcher.set(SITE, [item(1)])
    feed, _, _ = await service.add_feed(GUILD_A, SITE, channel_id=None)
    fetcher.set(SITE, [item(2), item(1)])
    assert (await service.poll_feed(feed)).announced == []  # both servers already have it
    assert await review_count(db) == 2 and [t for _, t, _ in await intents(service)] == ["Heat", "Heat"]
    assert (await service.reviews.get_by_source_key(feed.source, "g2")).id == review.id


# -- a feed that comes back ---------------------------------------------------------------------


async def test_a_feed_readded_after_a_time_without_readers_takes_a_fresh_baseline(service, fetcher) -> None:
    fetcher.set(SITE, [item(1)])
    feed, _, _ = await service.add_feed(GUILD_A, SITE, channel_id=None)
    await service.remove_feed(GUILD_A, feed.id)
    fetcher.set(SITE, [item(4), item(3), item(2), item(1)])  # published while nobody read it
    again, first, new = await service.add_feed(GUILD_A, SITE, channel_id=None)
    assert again.id == feed.id and new and first is not None
    assert first.announced == [] and first.recorded == 3
    assert await intents(service) == []
    assert (await service.poll_feed(await service.feeds.get(feed.id))).announced == []  # nor on the next polls
    fetcher.set(SITE, [item(5), item(4), item(3), item(2), item(1)])
    assert [r.title for r in (await service.poll_feed(await service.feeds.get(feed.id))).announced] == [
        "Film 5: Notes"
    ]


async def test_backfill_on_readding_announces_only_what_it_asks_for(service, fetcher) -> None:
    fetcher.set(SITE, [item(1)])
    feed, _, _ = await service.add_feed(GUILD_A, SITE, channel_id=None)
    await service.remove_feed(GUILD_A, feed.id)
    fetcher.set(SITE, [item(4), item(3), item(2), item(1)])
    await service.add_feed(GUILD_A, SITE, channel_id=None, backfill=2)
    assert await intents(service) == [(GUILD_A, "Film 3: Notes", CHANNEL_A), (GUILD_A, "Film 4: Notes", CHANNEL_A)]


async def test_a_feed_still_read_by_another_server_keeps_its_baseline(service, fetcher) -> None:
    fetcher.set(SITE, [item(1)])
    feed, _, _ = await service.add_feed(GUILD_A, SITE, channel_id=None)
    await service.add_feed(GUILD_B, SITE, channel_id=None)
    await service.remove_feed(GUILD_A, feed.id)
    assert (await service.feeds.get(feed.id)).initialized
    fetcher.set(SITE, [item(2), item(1)])
    assert [r.title for r in (await service.poll_feed(feed)).announced] == ["Film 2: Notes"]
    assert await intents(service) == [(GUILD_B, "Film 2: Notes", CHANNEL_B)]


# -- a deleted channel ------------------------------------------------------------------------------


async def test_a_deleted_feed_channel_falls_back_to_the_announcement_channel(service, fetcher) -> None:
    fetcher.set(SITE, [item(1)])
    feed, _, _ = await service.add_feed(GUILD_A, SITE, channel_id=33)
    fetcher.set(SITE, [item(2), item(1)])
    await service.poll_feed(feed)
    assert await intents(service) == [(GUILD_A, "Film 2: Notes", 33)]
    assert await service.channel_gone(GUILD_A, 33) == CHANNEL_A
    assert await intents(service) == [(GUILD_A, "Film 2: Notes", CHANNEL_A)]  # the unsent one moved too
    [(_, sub)] = await service.feeds.feeds_of_guild(GUILD_A)
    assert sub.channel_id is None
    [problem] = await service.problems_for(GUILD_A)
    assert (problem.kind, problem.feed_id, problem.channel_id) == (CHANNEL, feed.id, 33) and problem.open
    assert await service.channel_gone(GUILD_A, 33) == CHANNEL_A  # told twice (event, then a send): one problem
    assert len(await service.problems_for(GUILD_A)) == 1
    # Staff pick another channel for the feed: the notice is settled.
    await service.add_feed(GUILD_A, SITE, channel_id=44)
    [settled] = await service.problems_for(GUILD_A)
    assert settled.resolution == "replaced"


async def test_a_deleted_announcement_channel_waits_for_setup(service) -> None:
    assert await service.channel_gone(GUILD_A, CHANNEL_A) is None
    [problem] = await service.problems_for(GUILD_A)
    assert problem.kind == CHANNEL and problem.feed_id is None and problem.open
    await service.set_up_guild(GUILD_A, announce_channel_id=55, ping_role_id=None, log_channel_id=None)
    [settled] = await service.problems_for(GUILD_A)
    assert settled.resolution == "replaced"
    assert (await service.guilds.get(GUILD_A)).announce_channel_id == 55


async def test_dismissing_drops_the_unsent_announcements_it_names(service, fetcher) -> None:
    fetcher.set(SITE, [item(1)])
    feed, _, _ = await service.add_feed(GUILD_A, SITE, channel_id=None)
    fetcher.set(SITE, [item(2), item(1)])
    [review] = (await service.poll_feed(feed)).announced
    await service.problems.failed(GUILD_A, "announcement", review_id=review.id, channel_id=CHANNEL_A, error="403")
    assert await service.retry_problems(GUILD_A) == 1
    [dismissed] = await service.dismiss_problems(GUILD_A)
    assert dismissed.review_id == review.id
    assert await intents(service) == [] and await service.retry_problems(GUILD_A) == 0


async def test_reviews_waiting_for_a_deleted_announcement_channel_go_out_after_setup(service, fetcher) -> None:
    transport = FakeTransport()
    delivery = DeliveryService(service.outbox, service.reviews, transport, problems=service.problems,
                               reroute=service.channel_gone)  # fmt: skip
    fetcher.set(SITE, [item(1)])
    feed, _, _ = await service.add_feed(GUILD_A, SITE, channel_id=None)
    transport.gone.add(CHANNEL_A)  # deleted while the bot was away
    fetcher.set(SITE, [item(2), item(1)])
    await service.poll_feed(feed)
    report = await delivery.deliver_pending()
    assert (report.sent, report.deferred) == (0, 1)
    kinds = sorted(p.kind for p in await service.problems_for(GUILD_A))
    assert kinds == ["announcement", "channel"]  # what failed, and why: staff see both
    await service.set_up_guild(GUILD_A, announce_channel_id=55, ping_role_id=None, log_channel_id=None)
    report = await delivery.deliver_pending()
    assert (report.rerouted, report.sent) == (1, 1)
    review = await service.reviews.find_by_url(item(2)["link"])
    assert transport.sent == [(review.id, GUILD_A)]
    assert [a.channel_id for a in await service.outbox.sent_for_review(review.id)] == [55]
    assert [p for p in await service.problems_for(GUILD_A) if p.open] == []
