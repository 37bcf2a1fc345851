"""Snowflake ids and timestamps, made the way Discord makes them.

Why this exists: discord.py and Matinee order messages and threads by id and read creation
times out of ids, so the double's ids must be time-based and strictly increasing like Discord's.
"""

from __future__ import annotations

import datetime as dt
import itertools
import time

DISCORD_EPOCH_MS = 1420070400000

_SNOWFLAKE_LOCK_COUNTER = itertools.count()
_last_snowflake = 0


def make_snowflake(at: float | None = None) -> int:
    """Return a realistic, strictly increasing snowflake (time-based like Discord's).

    Increasing ids matter: discord.py and our bot order messages/threads by id.
    ``at`` (a Unix time) backdates the id; backdated ids are not forced above the last one.
    """
    global _last_snowflake
    ms = int((time.time() if at is None else at) * 1000) - DISCORD_EPOCH_MS
    candidate = (ms << 22) | (next(_SNOWFLAKE_LOCK_COUNTER) & 0xFFF)
    if at is None and candidate <= _last_snowflake:
        candidate = _last_snowflake + 1
    if at is None:
        _last_snowflake = candidate
    return candidate


def snowflake_time(snowflake: int | str) -> dt.datetime:
    """Creation time encoded in a snowflake."""
    ms = (int(snowflake) >> 22) + DISCORD_EPOCH_MS
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)


def iso(when: dt.datetime | None = None) -> str:
    """An ISO 8601 timestamp as Discord writes them (now, unless ``when`` is given)."""
    return (when or dt.datetime.now(dt.UTC)).isoformat()
