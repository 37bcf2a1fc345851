"""Discord-side helpers of the discussions cog."""

from __future__ import annotations

import datetime as dt

import discord

from bot.discussions.opening import normalise_archive_minutes, with_spoiler_notice
from bot.discussions.opening_prompts import SPOILER_NOTICE, poll_spec
from bot.models import Review
from cogs.discussions.render import build_poll, emoji_key, iso


def test_archive_minutes_snap_to_what_discord_accepts() -> None:
    samples = (None, 0, 1, 60, 700, 1440, 5000, 10080, 99999)
    expected = [10080, 10080, 60, 60, 60, 1440, 4320, 10080, 10080]
    assert [normalise_archive_minutes(m) for m in samples] == expected


def test_spoiler_notice_is_added_once_and_removed() -> None:
    content = "**Q?**\nA few questions:\n• one"
    marked = with_spoiler_notice(content, True)
    assert marked.split("\n")[1] == SPOILER_NOTICE
    assert with_spoiler_notice(marked, True) == marked
    assert with_spoiler_notice(marked, False) == content


def test_emoji_keys_and_timestamps() -> None:
    assert emoji_key(discord.PartialEmoji(name="👍")) == "👍"
    assert emoji_key(discord.PartialEmoji(name="popcorn", id=42)) == "popcorn:42"
    assert iso(dt.datetime(2026, 1, 2, 3, 4, 5, 678900, tzinfo=dt.UTC)) == "2026-01-02T03:04:05.678Z"
    assert iso(None) is None


def test_poll_payload() -> None:
    poll = build_poll(poll_spec(Review(id=1, source="s", source_key="k", slug="s", title="T", film_title="Film")))
    assert poll.question == "How many stars would you give Film?"
    assert [a.text for a in poll.answers] == ["★", "★★", "★★★", "★★★★", "★★★★★"]
    assert poll.duration == dt.timedelta(hours=168) and not poll.multiple
