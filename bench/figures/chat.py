"""Figure 4: chat overhead — from a member's mention to the request arriving at the model.

10,000 reviews and 100,000 comments are stored; the bot runs every cog against
the Discord double with the real ``AsyncOpenAI`` client pointed at the loopback
OpenAI stub. Each query is a member mentioning the bot in a review thread; the
clock starts just before the double writes the MESSAGE_CREATE frame and stops
when the stub records the chat-completions request (both ``perf_counter`` in
this process).
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

import openai

from bench.harness import Row, Stat, percentile, verdict
from bench.world import (
    FeatureMissing,
    comment_rows,
    connect,
    migrated_database,
    running_bot,
    seed_announcements,
    seed_comments,
    seed_guild_settings,
    seed_reviews,
)
from bot.discord_double import DiscordDouble
from tests.doubles.openai_stub import OpenAIStub

NUMBER = "4"
TITLE = "Chat overhead"
NOTES = [
    "Set-up: 10,000 reviews (~120 words each) and 100,000 comments in SQLite (with their FTS indexes); the "
    "queried review threads exist on the double and are mapped to their reviews. All cogs are loaded; the per-member "
    "rate limit and daily token budget are raised so that they do not refuse bench traffic.",
    "Each query: a member posts `@Matinee <question>` in a review thread; the next query starts after the bot's "
    "reply was posted (no overlap). The stub answers with its short default reply.",
    "Baseline: a bare `AsyncOpenAI` client (same stub, same model, streaming) — the time from calling "
    "`chat.completions.create` to the request arriving at the stub, i.e. the client's own share of the trip. "
    "Added time = Matinee's p99 − the bare client's p99. The bare client's full round trip is shown in the method "
    "line for scale.",
]
SIZES = {
    "full": {
        "reviews": 10_000,
        "comments": 100_000,
        "threads": 50,
        "queries": 150,
        "runs": 3,
        "wait_seconds": 15,
        "settle_seconds": 1.0,
        "budget_seconds": 170,
    },
    "smoke": {
        "reviews": 40,
        "comments": 400,
        "threads": 4,
        "queries": 8,
        "runs": 2,
        "wait_seconds": 5,
        "settle_seconds": 0.2,
        "budget_seconds": 60,
    },
}
PLANNED = [
    ("4a", "Mention → request at the model, p50", "report"),
    ("4b", "Mention → request at the model, p99", "≤ 50 ms added"),
]
QUESTIONS = (
    "what did people think of the ending?",
    "is this one worth watching on a big screen?",
    "which other films does the review compare it to?",
    "did anyone here disagree with the rating?",
    "what is the score like?",
)


async def bare_client(stub: OpenAIStub, count: int) -> tuple[list[float], list[float]]:
    """(call → arrival, full round trip) in ms for ``count`` streamed requests from a bare client."""
    client = openai.AsyncOpenAI(base_url=stub.base_url, api_key="bench", max_retries=0, timeout=30)
    arrivals, trips = [], []
    try:
        for i in range(count + 5):
            before = len(stub.requests)
            t0 = time.perf_counter()
            stream = await client.chat.completions.create(
                model="gpt-4o-mini",
                messages=[{"role": "user", "content": QUESTIONS[i % len(QUESTIONS)]}],
                stream=True,
            )
            async for _chunk in stream:
                pass
            t1 = time.perf_counter()
            if i >= 5:  # the first few warm the connection pool
                arrivals.append((stub.requests[before]["time"] - t0) * 1000)
                trips.append((t1 - t0) * 1000)
    finally:
        await client.close()
    return arrivals, trips


async def run(sizes: dict) -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="bench-chat-") as name:
        tmp = Path(name)
        database = tmp / "chat.db"
        await migrated_database(database)
        async with DiscordDouble() as double, OpenAIStub() as stub:
            guild = double.add_guild("Bench Film Club")
            gid = int(guild["id"])
            channel = await double.add_text_channel(gid, "reviews")
            cid = int(channel["id"])
            members = [await double.add_member(gid, name=f"member{i}") for i in range(20)]
            conn = connect(database)
            review_ids = seed_reviews(conn, sizes["reviews"])
            seed_guild_settings(conn, [(gid, cid)])
            threads, announcements = [], []
            for review_id in review_ids[: sizes["threads"]]:
                starter = await double.post_message(
                    cid, int(double.bot_user["id"]), f"review {review_id}", dispatch=False
                )
                thread = await double.add_thread(
                    cid, f"What did you think of film {review_id}?", message_id=int(starter["id"])
                )
                threads.append(int(thread["id"]))
                announcements.append((review_id, gid, cid, int(starter["id"]), int(thread["id"])))
            seed_announcements(conn, announcements)
            # Every review has comments; the queried threads hold real thread ids.
            mapping = [(r, gid, threads[i] if i < len(threads) else 10**12 + r) for i, r in enumerate(review_ids)]
            seed_comments(conn, comment_rows(sizes["comments"], mapping))
            conn.close()
            async with running_bot(
                double, database, openai_base_url=stub.base_url, openai_api_key=None,
                chat_requests_per_minute=1_000_000, chat_daily_token_budget=10**12,
            ) as bot:  # fmt: skip
                assert bot.user is not None
                bot_id = bot.user.id
                await asyncio.sleep(sizes["settle_seconds"])  # let start-up work (backfills) finish first
                per_run_p50, per_run_p99 = [], []
                for run_index in range(sizes["runs"]):
                    samples = []
                    for q in range(sizes["queries"]):
                        thread_id = threads[q % len(threads)]
                        author = members[q % len(members)]
                        samples.append(
                            await _one_query(
                                double, stub, bot_id, thread_id, author, q, run_index, sizes["wait_seconds"]
                            )
                        )
                    per_run_p50.append(percentile(samples, 50))
                    per_run_p99.append(percentile(samples, 99))
            bare = [await bare_client(stub, sizes["queries"]) for _ in range(sizes["runs"])]
    value50, value99 = Stat.of(per_run_p50, "ms"), Stat.of(per_run_p99, "ms")
    base50 = Stat.of([percentile(arrivals, 50) for arrivals, _ in bare], "ms")
    base99 = Stat.of([percentile(arrivals, 99) for arrivals, _ in bare], "ms")
    trip99 = Stat.of([percentile(trips, 99) for _, trips in bare], "ms").median
    added = value99.median - base99.median
    n = sizes["queries"] * sizes["runs"]
    return [
        Row(
            "4a",
            PLANNED[0][1],
            value50,
            base50,
            "bare client → stub",
            value50.median / base50.median,
            PLANNED[0][2],
            "reported",
            method=f"{sizes['reviews']:,} reviews, {sizes['comments']:,} comments stored; {sizes['queries']} "
            f"mentions × {sizes['runs']} runs ({n} in all) over {len(threads)} review threads.",
        ),
        Row(
            "4b",
            PLANNED[1][1],
            value99,
            base99,
            "bare client → stub",
            value99.median / base99.median,
            PLANNED[1][2],
            verdict(added <= 50.0),
            method=f"Added p99 = {added:.1f} ms. Bare client's full streamed round trip p99 (median of runs): "
            f"{trip99:.1f} ms.",
        ),
    ]


async def _one_query(double: DiscordDouble, stub: OpenAIStub, bot_id: int, thread_id: int, author: dict, q: int,
                     run_index: int, first_wait: float) -> float:  # fmt: skip
    before_requests = len(stub.requests)
    before_posts = len(double.requests)
    content = f"<@{bot_id}> {QUESTIONS[q % len(QUESTIONS)]} (#{run_index}-{q})"
    t0 = time.perf_counter()
    await double.post_message(thread_id, int(author["user"]["id"]), content)
    deadline = time.monotonic() + first_wait
    while len(stub.requests) <= before_requests:
        if time.monotonic() > deadline:
            raise FeatureMissing(
                f"a mention in a review thread produced no request at the OpenAI stub within {first_wait:.0f} s "
                "(the chat feature from feature/chat is not in this checkout, or it did not answer)"
            )
        await asyncio.sleep(0.001)
    arrived = next(r for r in stub.requests[before_requests:] if r["path"].endswith("/chat/completions"))["time"]
    # Wait for the reply to be posted so queries do not overlap.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if any(r.method == "POST" and r.path == f"/channels/{thread_id}/messages"
               for r in double.requests[before_posts:]):  # fmt: skip
            break
        await asyncio.sleep(0.005)
    return (arrived - t0) * 1000
