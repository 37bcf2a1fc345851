"""How often a review's comment feed is read: often while it is discussed, less and less after.

A blog with 1,000 reviews must not make 1,000 requests every few minutes, and
almost nobody comments on a review from three years ago. So:

* **Hot** — the review is younger than :data:`YOUNG` (30 days), or someone commented
  on it, in either door, within :data:`DISCUSSED` (a week: a review thread with no
  message for a week is archived by Discord under Matinee's default): read every
  poll interval (``FEED_POLL_SECONDS``).
* **Cooling** — after that, the interval doubles for every :data:`DOUBLING` (a week)
  of quiet, up to :data:`MAX_INTERVAL` (once a day). A review quiet for two months is
  read once a day; 1,000 such reviews cost about 3.5 requests per five-minute cycle.
* **Woken** — a new message in the review's Discord thread, or a changed comment
  count in the blog's own feed (``<slash:comments>``), makes the comment feed due at
  once, whatever the schedule said (see :meth:`BlogCommentRepository.due`).
* **Failing** — a feed that fails backs off exponentially from the poll interval, up
  to :data:`MAX_FAILURE_BACKOFF`, like a review feed; its error shows in
  ``/matinee feed list``.

Every interval gets ±15 % jitter so a thousand feeds added at once spread out.
"""

from __future__ import annotations

import datetime as dt
import random

from ..backoff import capped

__all__ = ["DISCUSSED", "DOUBLING", "MAX_FAILURE_BACKOFF", "MAX_INTERVAL", "YOUNG", "next_poll", "poll_interval"]

YOUNG = dt.timedelta(days=30)
DISCUSSED = dt.timedelta(days=7)
DOUBLING = dt.timedelta(days=7)
MAX_INTERVAL = dt.timedelta(days=1)
MAX_FAILURE_BACKOFF = dt.timedelta(hours=6)


def poll_interval(
    base: dt.timedelta, *, now: dt.datetime, published: dt.datetime | None, last_activity: dt.datetime | None
) -> dt.timedelta:
    """The interval before the next read of a comment feed that answered, without jitter."""
    published = published or now
    latest = max(published, last_activity) if last_activity else published
    if now - published < YOUNG or now - latest < DISCUSSED:
        return base
    factor = 2 ** min((now - latest - DISCUSSED) / DOUBLING + 1, 64.0)
    if factor >= MAX_INTERVAL / base:
        return max(base, MAX_INTERVAL)
    return base * factor


def next_poll(
    base: dt.timedelta,
    *,
    now: dt.datetime,
    published: dt.datetime | None,
    last_activity: dt.datetime | None,
    failures: int = 0,
    rng: random.Random | None = None,
) -> dt.datetime:
    """When to read the comment feed next: the schedule above, or the failure back-off."""
    if failures:
        delay = capped(base, failures, max(base, MAX_FAILURE_BACKOFF))
    else:
        delay = poll_interval(base, now=now, published=published, last_activity=last_activity)
    return now + delay * (rng or random).uniform(0.85, 1.15)
