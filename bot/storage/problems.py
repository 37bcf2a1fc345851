"""Delivery problems: what Discord refused and staff must see (table ``delivery_problems``).

One open row per (guild, kind, review or feed). The retry schedule is decided by
:class:`bot.problems.ProblemLog`; this module only stores and queries it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .database import Database

__all__ = ["ANNOUNCEMENT", "CHANNEL", "THREAD", "FailedAttempt", "Problem", "ProblemKind", "ProblemRepository"]

ProblemKind = Literal["announcement", "thread", "channel"]
ANNOUNCEMENT: ProblemKind = "announcement"
THREAD: ProblemKind = "thread"
CHANNEL: ProblemKind = "channel"

_COLUMNS = (
    "p.id, p.guild_id, p.kind, p.review_id, p.feed_id, p.channel_id, p.status, p.error, p.attempts, "
    "p.first_failed_at, p.last_failed_at, p.next_retry_at, p.gave_up_at, p.resolved_at, p.resolution, p.reported, "
    "r.title AS review_title, coalesce(f.title, f.url) AS feed_label"
)
_FROM = "FROM delivery_problems p LEFT JOIN reviews r ON r.id = p.review_id LEFT JOIN feeds f ON f.id = p.feed_id"


@dataclass(frozen=True, slots=True)
class FailedAttempt:
    """One failed attempt to record: what it is about, what Discord said, and what happens next."""

    guild_id: int
    kind: ProblemKind
    review_id: int | None
    feed_id: int | None
    channel_id: int | None
    status: int | None
    error: str
    at: str
    next_retry_at: str | None  # None: no automatic retry (waits for staff)
    gave_up_at: str | None  # set when this failure ends the window of retries


@dataclass(frozen=True, slots=True)
class Problem:
    id: int
    guild_id: int
    kind: ProblemKind
    review_id: int | None
    feed_id: int | None
    channel_id: int | None
    status: int | None
    error: str
    attempts: int
    first_failed_at: str
    last_failed_at: str
    next_retry_at: str | None = None
    gave_up_at: str | None = None
    resolved_at: str | None = None
    resolution: str | None = None
    reported: str | None = None
    review_title: str | None = None
    feed_label: str | None = None

    @property
    def open(self) -> bool:
        return self.resolved_at is None

    @property
    def retrying(self) -> bool:
        """Open and with an automatic retry still scheduled."""
        return self.open and self.next_retry_at is not None

    @property
    def state(self) -> str:
        """What the log channel was (or should be) told last: 'open', 'gave_up' or 'resolved'."""
        if self.resolved_at is not None:
            return "resolved"
        return "gave_up" if self.gave_up_at is not None else "open"


class ProblemRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def _select(self, where: str, params: tuple | dict = ()) -> list[Problem]:
        rows = await self._db.fetchall(f"SELECT {_COLUMNS} {_FROM} WHERE {where}", params)
        return [Problem(**dict(r)) for r in rows]

    async def get(self, problem_id: int) -> Problem | None:
        found = await self._select("p.id = ?", (problem_id,))
        return found[0] if found else None

    async def open_problem(
        self, guild_id: int, kind: ProblemKind, *, review_id: int | None = None, feed_id: int | None = None
    ) -> Problem | None:
        found = await self._select(
            "p.guild_id = ? AND p.kind = ? AND p.review_id IS ? AND p.feed_id IS ? AND p.resolved_at IS NULL",
            (guild_id, kind, review_id, feed_id),
        )
        return found[0] if found else None

    async def record_failure(self, failure: FailedAttempt) -> Problem:
        """Open the problem ``failure`` is about, or count one more failed attempt of the open one."""
        existing = await self.open_problem(failure.guild_id, failure.kind, review_id=failure.review_id,
                                           feed_id=failure.feed_id)  # fmt: skip
        error = failure.error[:500]
        if existing is None:
            await self._db.execute(
                "INSERT INTO delivery_problems (guild_id, kind, review_id, feed_id, channel_id, status, error, "
                "attempts, first_failed_at, last_failed_at, next_retry_at, gave_up_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?)",
                (failure.guild_id, failure.kind, failure.review_id, failure.feed_id, failure.channel_id, failure.status,
                 error, failure.at, failure.at, failure.next_retry_at, failure.gave_up_at),
            )  # fmt: skip
        else:
            await self._db.execute(
                "UPDATE delivery_problems SET attempts = attempts + 1, channel_id = coalesce(?, channel_id), "
                "status = ?, error = ?, last_failed_at = ?, next_retry_at = ?, gave_up_at = coalesce(gave_up_at, ?) "
                "WHERE id = ?",
                (failure.channel_id, failure.status, error, failure.at, failure.next_retry_at, failure.gave_up_at,
                 existing.id),
            )  # fmt: skip
        found = await self.open_problem(failure.guild_id, failure.kind, review_id=failure.review_id,
                                        feed_id=failure.feed_id)  # fmt: skip
        assert found is not None
        return found

    async def schedule(self, problem_id: int, *, next_retry_at: str | None, gave_up_at: str | None = None) -> None:
        await self._db.execute(
            "UPDATE delivery_problems SET next_retry_at = ?, gave_up_at = coalesce(gave_up_at, ?) WHERE id = ?",
            (next_retry_at, gave_up_at, problem_id),
        )

    async def resolve(self, problem_id: int, *, now: str, resolution: str) -> None:
        await self._db.execute(
            "UPDATE delivery_problems SET resolved_at = ?, resolution = ?, next_retry_at = NULL "
            "WHERE id = ? AND resolved_at IS NULL",
            (now, resolution, problem_id),
        )

    async def due(self, kind: ProblemKind, now: str) -> list[Problem]:
        return await self._select(
            "p.kind = ? AND p.resolved_at IS NULL AND p.next_retry_at IS NOT NULL AND p.next_retry_at <= ? "
            "ORDER BY p.next_retry_at, p.id",
            (kind, now),
        )

    async def restart(self, guild_id: int, *, now: str, channel_id: int | None = None, kind: ProblemKind) -> int:
        """Staff fixed something (or Discord answers again): retry the guild's open problems now, for another day."""
        return await self._db.execute(
            "UPDATE delivery_problems SET next_retry_at = :now, gave_up_at = NULL, first_failed_at = :now, "
            "attempts = 0 WHERE guild_id = :guild AND kind = :kind AND resolved_at IS NULL "
            "AND (:channel IS NULL OR channel_id = :channel)",
            {"now": now, "guild": guild_id, "kind": kind, "channel": channel_id},
        )

    async def for_guild(self, guild_id: int, *, resolved_since: str) -> list[Problem]:
        """The guild's open problems, then those resolved since ``resolved_since``; newest first in each."""
        return await self._select(
            "p.guild_id = ? AND (p.resolved_at IS NULL OR p.resolved_at >= ?) "
            "ORDER BY p.resolved_at IS NOT NULL, coalesce(p.resolved_at, p.last_failed_at) DESC, p.id DESC",
            (guild_id, resolved_since),
        )

    async def open_for_guild(self, guild_id: int) -> list[Problem]:
        return await self._select("p.guild_id = ? AND p.resolved_at IS NULL ORDER BY p.id", (guild_id,))

    async def unreported(self) -> list[Problem]:
        """Problems whose current state the log channel has not been told (resolutions only after a report)."""
        return await self._select(
            "(p.resolved_at IS NULL AND p.gave_up_at IS NULL AND p.reported IS NULL) "
            "OR (p.resolved_at IS NULL AND p.gave_up_at IS NOT NULL AND p.reported IS NOT 'gave_up') "
            "OR (p.resolved_at IS NOT NULL AND p.reported IN ('open', 'gave_up')) ORDER BY p.id"
        )

    async def mark_reported(self, problem_id: int, state: str) -> None:
        await self._db.execute("UPDATE delivery_problems SET reported = ? WHERE id = ?", (state, problem_id))

    async def prune(self, resolved_before: str) -> int:
        """Forget problems resolved long ago (they are only shown for a while after being resolved)."""
        return await self._db.execute(
            "DELETE FROM delivery_problems WHERE resolved_at IS NOT NULL AND resolved_at < ?", (resolved_before,)
        )
