"""How often comment feeds are read, and how a blog comment reads in Discord."""

from __future__ import annotations

import datetime as dt
import random

from bot.bridge.render import BLOG_SUFFIX, READ_THE_REST, card, carries, webhook_text, webhook_username
from bot.bridge.schedule import DISCUSSED, MAX_FAILURE_BACKOFF, MAX_INTERVAL, YOUNG, next_poll, poll_interval
from bot.text import EMBED_DESCRIPTION, MESSAGE_LIMIT, WEBHOOK_USERNAME

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
BASE = dt.timedelta(minutes=5)
DAY = dt.timedelta(days=1)
ANCHOR = "https://blog.example/heat/#comment-12"


def interval(published_days_ago: float, quiet_days: float) -> dt.timedelta:
    return poll_interval(BASE, now=NOW, published=NOW - published_days_ago * DAY, last_activity=NOW - quiet_days * DAY)


def test_young_or_discussed_reviews_are_read_every_poll_interval() -> None:
    assert interval(YOUNG.days - 1, 25) == BASE  # young, however quiet
    assert interval(400, DISCUSSED.days - 1) == BASE  # old, but someone commented this week


def test_quiet_reviews_are_read_less_and_less_often_up_to_once_a_day() -> None:
    steps = [interval(400, quiet) for quiet in (8, 15, 22, 36, 60, 400)]
    assert steps == sorted(steps) and steps[0] > BASE
    assert steps[-1] == steps[-2] == MAX_INTERVAL


def test_a_thousand_quiet_reviews_cost_a_few_requests_per_cycle() -> None:
    # 1,000 reviews, a year old, quiet for months: requests per five-minute cycle, on average.
    per_cycle = sum(BASE / interval(365, 60 + n % 200) for n in range(1000))
    assert per_cycle < 5
    assert sum(BASE / interval(5, 0) for _ in range(1000)) == 1000  # (the young ones are read every cycle)


def test_failures_back_off_exponentially_up_to_a_cap() -> None:
    rng = random.Random(1)
    delays = [
        next_poll(BASE, now=NOW, published=NOW, last_activity=NOW, failures=f, rng=rng) - NOW for f in range(1, 12)
    ]
    assert delays[0] < delays[3] and max(delays) <= MAX_FAILURE_BACKOFF * 1.15


def test_a_webhook_name_says_blog_and_keeps_discords_rules() -> None:
    assert webhook_username("Ana") == "Ana" + BLOG_SUFFIX
    assert webhook_username("Discord Dan @everyone #1: ```x```") == "Discor-d Dan everyone 1 x (blog)"
    assert webhook_username("clyde") == "clyd-e (blog)" and webhook_username("") == "A blog reader (blog)"
    long = webhook_username("N" * 200)
    assert len(long) == WEBHOOK_USERNAME and long.endswith("… (blog)")


def test_a_long_comment_fits_discord_and_sends_readers_to_the_blog() -> None:
    text = webhook_text("Ana", "Long. " * 2000, ANCHOR)
    assert len(text.content) <= MESSAGE_LIMIT
    body, footer = text.content.rsplit("\n", 1)
    assert body.endswith(f"… [{READ_THE_REST}](<{ANCHOR}>)") and footer == f"-# 💬 [Comment on the blog](<{ANCHOR}>)"
    short = webhook_text("Ana", "Short and @everyone", ANCHOR)
    assert READ_THE_REST not in short.content and "@\u200beveryone" in short.content
    shown = card("Ana *bold* <@1>", "Long. " * 2000, ANCHOR)
    assert len(shown.description) <= EMBED_DESCRIPTION
    assert shown.description.startswith(f"💬 *Ana \\*bold\\* \\<@\u200b1\\>* commented [on the blog]({ANCHOR})")


def test_a_mirror_is_recognised_by_its_anchor_only() -> None:
    assert carries(webhook_text("Ana", "hi", ANCHOR).content, ANCHOR)
    assert carries(card("Ana", "hi", ANCHOR).description, ANCHOR)
    assert not carries(webhook_text("Ana", "hi", ANCHOR).content, ANCHOR.replace("12", "13"))
    assert not carries(f"someone pasted {ANCHOR}", ANCHOR)  # a member quoting the link is not the mirror
