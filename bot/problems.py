"""Failures staff must see, and the bounded pace at which Matinee retries them.

"Never silent": when Discord refuses an announcement or a discussion thread (a
missing permission answers 403), or a channel Matinee posts to is deleted, the
failure becomes a *problem*: stored (``delivery_problems``), listed by
``/matinee feed list`` and ``/matinee about``, and told to the server's log
channel when one is set. Problems that retrying can fix are retried at a bounded
pace (:class:`RetryPolicy`: one minute, doubling, at most an hour apart) for at
most a day after the first failure; after that they wait for staff, who fix the
cause and run ``/matinee feed retry``, or drop them with ``/matinee feed dismiss``.
A retry that works resolves the problem, and ``/matinee feed list`` shows it as
resolved for a day.

Both the reviews delivery (announcements) and the discussions opening (threads)
record here; nothing in this module knows discord.py.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from .backoff import capped
from .storage import Database
from .storage.problems import ANNOUNCEMENT, CHANNEL, THREAD, FailedAttempt, Problem, ProblemKind, ProblemRepository
from .text import truncate
from .timestamps import parse_utc_iso, utc_iso

__all__ = [
    "ANNOUNCEMENT",
    "CHANNEL",
    "DEFAULT_RETRY",
    "THREAD",
    "Problem",
    "ProblemKind",
    "ProblemLog",
    "RetryPolicy",
    "describe_problem",
]

SHOW_RESOLVED_FOR = dt.timedelta(days=1)  # how long /matinee feed list keeps showing a resolved problem
FORGET_RESOLVED_AFTER = dt.timedelta(days=30)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """When to try a failed delivery again: ``first`` after the failure, doubling up to ``cap``, for ``window``."""

    first: dt.timedelta = dt.timedelta(minutes=1)
    cap: dt.timedelta = dt.timedelta(hours=1)
    window: dt.timedelta = dt.timedelta(days=1)

    def next_retry(self, first_failed: dt.datetime, attempts: int, now: dt.datetime) -> dt.datetime | None:
        """The next attempt after ``attempts`` failures, or None once the window has run out."""
        deadline = first_failed + self.window
        if now >= deadline:
            return None
        delay = capped(self.first, attempts - 1, self.cap)
        return min(now + delay, deadline)


DEFAULT_RETRY = RetryPolicy()


class ProblemLog:
    """Records failures and successes of deliveries, with their retry schedule.

    ``policy`` None follows :data:`DEFAULT_RETRY` (read at each use, so one process
    shares one pace however many services record problems).
    """

    def __init__(
        self,
        db: Database,
        *,
        clock: Callable[[], dt.datetime] | None = None,
        policy: RetryPolicy | None = None,
    ) -> None:
        self.store = ProblemRepository(db)
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self._policy = policy

    @property
    def policy(self) -> RetryPolicy:
        return self._policy or DEFAULT_RETRY

    def now(self) -> dt.datetime:
        return self._clock()

    async def failed(
        self,
        guild_id: int,
        kind: ProblemKind,
        *,
        error: str,
        review_id: int | None = None,
        feed_id: int | None = None,
        channel_id: int | None = None,
        status: int | None = None,
        retry: bool = True,
    ) -> Problem:
        """One more failure: open the problem (or count it), and schedule the next attempt while the window lasts.

        ``retry`` False: retrying cannot help (the payload was refused, there is no
        channel to post in); the problem waits for staff straight away.
        """
        now = self.now()
        existing = await self.store.open_problem(guild_id, kind, review_id=review_id, feed_id=feed_id)
        first = (parse_utc_iso(existing.first_failed_at) or now) if existing else now
        attempts = (existing.attempts + 1) if existing else 1
        next_retry = self.policy.next_retry(first, attempts, now) if retry else None
        return await self.store.record_failure(FailedAttempt(
            guild_id, kind, review_id, feed_id, channel_id, status, error, at=utc_iso(now),
            next_retry_at=utc_iso(next_retry) if next_retry else None,
            gave_up_at=utc_iso(now) if retry and next_retry is None else None,
        ))  # fmt: skip

    async def succeeded(
        self, guild_id: int, kind: ProblemKind, *, review_id: int | None = None, feed_id: int | None = None
    ) -> Problem | None:
        """It worked: resolve the open problem, if any. Others in the same channel are retried now.

        Discord answering again in a channel (staff fixed the permission) is the best
        moment to retry everything else that failed there.
        """
        problem = await self.store.open_problem(guild_id, kind, review_id=review_id, feed_id=feed_id)
        if problem is None:
            return None
        now = utc_iso(self.now())
        await self.store.resolve(problem.id, now=now, resolution="retried")
        if problem.channel_id is not None and kind in (ANNOUNCEMENT, THREAD):
            for other in (ANNOUNCEMENT, THREAD):
                await self.store.restart(guild_id, now=now, channel_id=problem.channel_id, kind=other)
        return await self.store.get(problem.id)

    async def resolve(
        self,
        guild_id: int,
        kind: ProblemKind,
        *,
        review_id: int | None = None,
        feed_id: int | None = None,
        resolution: str,
    ) -> bool:
        """Close an open problem for another reason than a retry that worked (staff acted, it became moot)."""
        problem = await self.store.open_problem(guild_id, kind, review_id=review_id, feed_id=feed_id)
        if problem is None:
            return False
        await self.store.resolve(problem.id, now=utc_iso(self.now()), resolution=resolution)
        return True

    async def claim_due(self, kind: ProblemKind) -> list[Problem]:
        """Problems whose retry is due now, each pushed to its next slot before being handed out.

        Whoever retries reports back with :meth:`failed` or :meth:`succeeded`; if nobody
        does, the pace stays bounded and the day still runs out.
        """
        now = self.now()
        due = await self.store.due(kind, utc_iso(now))
        for problem in due:
            first = parse_utc_iso(problem.first_failed_at) or now
            following = self.policy.next_retry(first, problem.attempts + 1, now)
            await self.store.schedule(
                problem.id,
                next_retry_at=utc_iso(following) if following else None,
                gave_up_at=None if following else utc_iso(now),
            )
        return due

    async def retry_now(self, guild_id: int, *, channel_id: int | None = None) -> int:
        """Retry the guild's open announcement and thread problems now, with a fresh day of retries."""
        now = utc_iso(self.now())
        restarted = 0
        for kind in (ANNOUNCEMENT, THREAD):
            restarted += await self.store.restart(guild_id, now=now, channel_id=channel_id, kind=kind)
        return restarted

    async def dismiss(self, guild_id: int) -> list[Problem]:
        """Staff closed every open problem of the guild; returns them (their intents are dropped by the caller)."""
        now = utc_iso(self.now())
        problems = await self.store.open_for_guild(guild_id)
        for problem in problems:
            await self.store.resolve(problem.id, now=now, resolution="dismissed")
        return problems

    async def for_guild(self, guild_id: int) -> list[Problem]:
        """Open problems, then those resolved within the last day (what /matinee feed list shows)."""
        return await self.store.for_guild(guild_id, resolved_since=utc_iso(self.now() - SHOW_RESOLVED_FOR))

    async def open_for_guild(self, guild_id: int) -> list[Problem]:
        return await self.store.open_for_guild(guild_id)

    async def unreported(self) -> list[Problem]:
        return await self.store.unreported()

    async def mark_reported(self, problem: Problem) -> None:
        await self.store.mark_reported(problem.id, problem.state)

    async def prune(self) -> int:
        return await self.store.prune(utc_iso(self.now() - FORGET_RESOLVED_AFTER))


def _when(value: str | None, style: str = "R") -> str:
    when = parse_utc_iso(value)
    return f"<t:{int(when.timestamp())}:{style}>" if when else "?"


def _subject(problem: Problem, escape: Callable[[str], str]) -> str:
    title = escape(truncate(problem.review_title or f"review #{problem.review_id}", 120))
    where = f"<#{problem.channel_id}>" if problem.channel_id else "the announcement channel"
    if problem.kind == ANNOUNCEMENT:
        return f"Announcing **{title}** in {where}"
    if problem.kind == THREAD:
        return f"The discussion thread of **{title}** in {where}"
    if problem.feed_id is not None:
        feed = escape(truncate(problem.feed_label or f"feed #{problem.feed_id}", 120))
        return f"The channel <#{problem.channel_id}> of the feed **{feed}** was deleted"
    return f"The announcement channel <#{problem.channel_id}> was deleted"


def describe_problem(problem: Problem, *, escape: Callable[[str], str] = lambda text: text) -> str:
    """One line for staff: what failed, why, and what happens next (Discord Markdown).

    ``escape`` makes a review title or feed name safe inside Markdown (the cog passes
    discord.py's ``escape_markdown``).
    """
    subject = _subject(problem, escape)
    if problem.resolved_at is not None:
        how = {"retried": "worked on a retry", "dismissed": "dismissed", "replaced": "replaced by staff"}.get(
            problem.resolution or "", "no longer needed"
        )
        return f"✅ {subject}: {how} {_when(problem.resolved_at)}."
    if problem.kind == CHANNEL:
        if problem.feed_id is not None:
            return (
                f"⚠ {subject} {_when(problem.first_failed_at)}; its reviews now go to the announcement channel. "
                "Pick another with `/matinee feed add`, or `/matinee feed dismiss`."
            )
        return f"⛔ {subject} {_when(problem.first_failed_at)}; reviews wait until `/matinee setup` picks a new one."
    reason = truncate(problem.error, 200)
    if problem.retrying:
        return f"⚠ {subject} failed: {reason}. Retrying {_when(problem.next_retry_at)} (until a day has passed)."
    return (
        f"⛔ {subject} failed: {reason}. Fix it, then `/matinee feed retry` (or `/matinee feed dismiss`)."
    )
