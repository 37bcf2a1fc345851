"""Figure 9: one cycle over 1,000 reviews' comment feeds (issue 14), all answering 304.

Measured at the service level (``BlogCommentBridge.poll_due``, what the bridge
cog's loop calls each turn) with the bot's own fetcher, parser and storage; the
mirrors into Discord are not part of a cycle that finds nothing new. The baseline
is figure 5's unchanged cycle (``ReviewService.poll_due`` over as many review
feeds) against the same feed server in the same run, so the ratio says what a
comment feed costs next to a review feed.
"""

from __future__ import annotations

import datetime as dt
import tempfile
import time
from pathlib import Path

from bench.figures.feeds import (
    FEEDS_PER_GUILD,
    ParseCounter,
    feed_guilds,
    start_feed_server,
    subscribed_review_feeds,
)
from bench.harness import Row, Stat, verdict
from bench.world import (
    FeatureMissing,
    connect,
    migrated_database,
    require,
    seed_announcements,
    seed_guild_settings,
    seed_reviews,
)
from bot.outbound import NetworkPolicy, create_session
from bot.storage import Database

NUMBER = "9"
TITLE = "Comment feed polling (the blog's comments into the threads)"
NOTES = [
    "Set-up: N reviews, each with a Discord thread and a comment feed (`bench/feed_server.py`'s RSS 2.0 documents, "
    "10 items of ~2 KB, ~20 KB each, with ETag and Last-Modified) linked as the review's `wfw:commentRss`. "
    "A first cycle (not measured) reads every comment feed once, storing its comments without posting them.",
    "One cycle = `BlogCommentBridge.poll_due()` with the bridge's clock moved two days ahead, so every comment "
    "feed is due whatever its schedule (a month-old quiet review is read once a day). Cycle time is wall time; CPU "
    "time is this process's; bytes parsed = bytes handed to `parse_comment_feed` (counted by wrapping it).",
    "Baseline: figure 5's unchanged cycle over as many review feeds, same server, same process, same run.",
]
SIZES = {
    "full": {"feeds": 1000, "runs": 3, "budget_seconds": 420},
    "smoke": {"feeds": 20, "runs": 2, "budget_seconds": 60},
}
PLANNED = [
    ("9a", "Unchanged comment-feed cycle (all 304): time", "≤ 5 s"),
    ("9b", "Unchanged comment-feed cycle: bytes parsed", "0 bytes"),
    ("9c", "Unchanged comment-feed cycle: CPU time", "report"),
]


async def run(sizes: dict) -> list[Row]:
    bridge_mod = require("bot.bridge.service", "BlogCommentBridge", "parse_comment_feed")
    reviews_mod = require("bot.reviews.service", "parse_feed")
    fetch_mod = require("bot.reviews.fetch", "FeedFetcher")
    count = sizes["feeds"]
    proc, port = await start_feed_server(count)
    base = f"http://127.0.0.1:{port}"
    comments: list[dict] = []
    reviews: list[dict] = []
    try:
        with tempfile.TemporaryDirectory(prefix="bench-comment-feeds-") as name:
            database = Path(name) / "comment-feeds.db"
            await migrated_database(database)
            guilds = feed_guilds(count)
            conn = connect(database)
            seed_guild_settings(conn, guilds)
            review_ids = seed_reviews(conn, count, body_words=40)
            seed_announcements(
                conn,
                [(rid, *guilds[i // FEEDS_PER_GUILD], 10**15 + rid, 10**15 + rid) for i, rid in enumerate(review_ids)],
            )
            conn.close()
            db = await Database.open(database)
            session = create_session(NetworkPolicy(allow_private=True))  # the feed server is on loopback
            clock = {"now": dt.datetime.now(dt.UTC)}
            try:
                bridge = bridge_mod.BlogCommentBridge(
                    db, fetch_mod.FeedFetcher(session), poll_seconds=300, clock=lambda: clock["now"]
                )
                await bridge.feeds.link([(rid, f"{base}/feed/{i}.xml", 10) for i, rid in enumerate(review_ids)])
                first = await bridge.poll_due()  # the first read: stores what each feed lists, posts nothing
                _check(first, count, not_modified=False)
                owed = await db.fetchval("SELECT count(*) FROM blog_comment_posts")
                if owed:
                    raise RuntimeError(f"the first read owes {owed} mirrors: history must be stored, not posted")
                service = await subscribed_review_feeds(db, session, base, count, guilds, clock)
                for _ in range(sizes["runs"]):
                    comments.append(await _cycle(bridge_mod, "parse_comment_feed", bridge.poll_due, clock, count))
                    reviews.append(await _cycle(reviews_mod, "parse_feed", service.poll_due, clock, count))
            finally:
                await session.close()
                await db.close()
    finally:
        proc.terminate()
        await proc.wait()
    return _rows(comments, reviews, count, sizes["runs"])


def _check(results: list, count: int, *, not_modified: bool) -> None:
    errors = [r.error for r in results if r.error]
    if errors:
        raise RuntimeError(f"{len(errors)} of {len(results)} feeds failed, e.g. {errors[0]}")
    if len(results) != count:
        raise RuntimeError(f"the cycle read {len(results)} of {count} feeds")
    if not_modified and not all(r.not_modified for r in results):
        raise RuntimeError("a feed that did not change was read in full")


async def _cycle(module, parser: str, poll_due, clock: dict, count: int) -> dict:
    clock["now"] = clock["now"] + dt.timedelta(days=2)
    with ParseCounter(module, parser) as parsed:
        cpu0, wall0 = time.process_time(), time.perf_counter()
        results = await poll_due()
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    _check(results, count, not_modified=True)
    return {"wall": wall, "cpu": cpu, "parsed": parsed.bytes}


def _rows(comments: list[dict], reviews: list[dict], count: int, runs: int) -> list[Row]:
    if not comments:
        raise FeatureMissing("no cycle completed")
    wall = Stat.of([c["wall"] for c in comments], "s")
    parsed = Stat.of([c["parsed"] for c in comments], "bytes")
    cpu = Stat.of([c["cpu"] for c in comments], "s CPU")
    base_wall = Stat.of([c["wall"] for c in reviews], "s")
    base_cpu = Stat.of([c["cpu"] for c in reviews], "s CPU")
    return [
        _row(0, wall, base_wall, "review-feed cycle (5a's set-up)", verdict(wall.median <= 5.0),
             f"{count:,} comment feeds, {runs} runs; every feed answered 304 (checked)."),
        _row(1, parsed, None, "", verdict(parsed.max == 0),
             "Bytes passed to the comment-feed parser (verdict uses the worst run)."),
        _row(2, cpu, base_cpu, "review-feed cycle", "reported"),
    ]  # fmt: skip


def _row(index: int, value: Stat, baseline: Stat | None, baseline_name: str, outcome: str, method: str = "") -> Row:
    """One planned row, its ratio value ÷ baseline (medians)."""
    figure, name, target = PLANNED[index]
    ratio = value.median / baseline.median if baseline is not None and baseline.median else None
    return Row(figure, name, value, baseline, baseline_name, ratio, target, outcome, method=method)
