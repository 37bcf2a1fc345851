"""Star-rating polls in discussion threads: the polls, live votes and final counts.

Votes arrive as gateway events and go through the batched writer like comments.
``poll_votes`` (shared, in 0001) holds one row per member per chosen answer;
``poll_results`` holds what Discord reported when the poll closed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .database import Database
from .forgotten import not_forgotten, snowflake_at
from .privacy import MemberData, member_rows
from .writer import BatchedWriter

__all__ = ["PollInfo", "PollRepository"]

_ADD_VOTE = (
    "INSERT OR IGNORE INTO poll_votes (message_id, review_id, guild_id, user_id, answer_id) "
    f"SELECT ?1, ?2, ?3, ?4, ?5 WHERE {not_forgotten(user='?4', guild='?3', snowflake='?6')}"
)


@dataclass(frozen=True, slots=True)
class PollInfo:
    message_id: int
    review_id: int
    guild_id: int
    thread_id: int
    finalized: bool


class PollRepository:
    def __init__(self, db: Database, writer: BatchedWriter) -> None:
        self._db = db
        self._writer = writer

    async def record_poll(
        self, message_id: int, review_id: int, guild_id: int, thread_id: int, expires_at: str | None
    ) -> None:
        await self._db.execute(
            "INSERT OR IGNORE INTO discussion_polls (message_id, review_id, guild_id, thread_id, expires_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (message_id, review_id, guild_id, thread_id, expires_at),
        )

    async def get_poll(self, message_id: int) -> PollInfo | None:
        row = await self._db.fetchone(
            "SELECT message_id, review_id, guild_id, thread_id, finalized_at IS NOT NULL AS finalized "
            "FROM discussion_polls WHERE message_id = ?",
            (message_id,),
        )
        if row is None:
            return None
        return PollInfo(row[0], row[1], row[2], row[3], bool(row[4]))

    async def polls_for_review(self, review_id: int) -> list[PollInfo]:
        rows = await self._db.fetchall(
            "SELECT message_id, review_id, guild_id, thread_id, finalized_at IS NOT NULL "
            "FROM discussion_polls WHERE review_id = ? ORDER BY message_id",
            (review_id,),
        )
        return [PollInfo(r[0], r[1], r[2], r[3], bool(r[4])) for r in rows]

    async def expired_open_polls(self, now_iso: str) -> list[PollInfo]:
        """Polls past their expiry whose final counts we never received (we were down)."""
        rows = await self._db.fetchall(
            "SELECT message_id, review_id, guild_id, thread_id, 0 FROM discussion_polls "
            "WHERE finalized_at IS NULL AND expires_at IS NOT NULL AND expires_at < ? ORDER BY message_id",
            (now_iso,),
        )
        return [PollInfo(r[0], r[1], r[2], r[3], False) for r in rows]

    # -- votes (batched) ----------------------------------------------------------

    async def add_vote(
        self,
        message_id: int,
        review_id: int,
        guild_id: int,
        user_id: int,
        answer_id: int,
        *,
        seen_at: int | None = None,
    ) -> None:
        """Store a vote, unless its member was forgotten here after ``seen_at`` (a snowflake; now when None).

        ``seen_at`` is when the vote is known to exist: when a live event was received,
        or the poll's creation for a vote only seen in the voter list (bot/storage/forgotten.py).
        """
        seen = seen_at or snowflake_at()
        await self._writer.write(_ADD_VOTE, (message_id, review_id, guild_id, user_id, answer_id, seen))

    async def remove_vote(self, message_id: int, user_id: int, answer_id: int) -> None:
        await self._writer.write(
            "DELETE FROM poll_votes WHERE message_id = ? AND user_id = ? AND answer_id = ?",
            (message_id, user_id, answer_id),
        )

    async def user_answers(self, message_id: int, user_id: int) -> list[int]:
        rows = await self._db.fetchall(
            "SELECT answer_id FROM poll_votes WHERE message_id = ? AND user_id = ? ORDER BY answer_id",
            (message_id, user_id),
        )
        return [int(r[0]) for r in rows]

    async def votes(self, message_id: int) -> dict[int, set[int]]:
        """Every stored vote of a poll: user id → the answers they chose."""
        rows = await self._db.fetchall("SELECT user_id, answer_id FROM poll_votes WHERE message_id = ?", (message_id,))
        found: dict[int, set[int]] = {}
        for user_id, answer_id in rows:
            found.setdefault(int(user_id), set()).add(int(answer_id))
        return found

    async def live_counts(self, message_id: int) -> dict[int, int]:
        rows = await self._db.fetchall(
            "SELECT answer_id, count(*) FROM poll_votes WHERE message_id = ? GROUP BY answer_id", (message_id,)
        )
        return {int(r[0]): int(r[1]) for r in rows}

    # -- final results ------------------------------------------------------------

    async def record_results(self, message_id: int, counts: Mapping[int, int]) -> None:
        """Store Discord's final per-answer counts and mark the poll closed (idempotent)."""
        async with self._db.transaction() as conn:
            await conn.executemany(
                "INSERT INTO poll_results (message_id, answer_id, votes) VALUES (?, ?, ?) "
                "ON CONFLICT (message_id, answer_id) DO UPDATE SET votes = excluded.votes",
                [(message_id, int(a), max(0, int(v))) for a, v in counts.items()],
            )
            await conn.execute(
                "UPDATE discussion_polls SET finalized_at = coalesce(finalized_at, "
                "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) WHERE message_id = ?",
                (message_id,),
            )

    async def results(self, message_id: int) -> dict[int, int]:
        rows = await self._db.fetchall("SELECT answer_id, votes FROM poll_results WHERE message_id = ?", (message_id,))
        return {int(r[0]): int(r[1]) for r in rows}

    async def review_counts(self, review_id: int, guild_id: int | None = None) -> tuple[dict[int, int], bool]:
        """Per-answer counts over the review's polls (final counts where a poll closed).

        Returns the counts and whether every poll has closed (so the numbers are final).
        """
        polls = [p for p in await self.polls_for_review(review_id) if guild_id is None or p.guild_id == guild_id]
        totals: dict[int, int] = {}
        for poll in polls:
            counts = await self.results(poll.message_id) if poll.finalized else await self.live_counts(poll.message_id)
            for answer, votes in counts.items():
                totals[answer] = totals.get(answer, 0) + votes
        return totals, bool(polls) and all(p.finalized for p in polls)

    # -- privacy (MemberDataEraser) -------------------------------------------------

    # The ratings these votes made are film_ratings rows: RatingRepository erases those.
    member_data = MemberData("poll votes", ("poll_votes",))

    async def count_member(self, user_id: int, guild_id: int | None) -> int:
        rows, params = member_rows("poll_votes", "user_id", user_id, guild_id)
        return int(await self._db.fetchval(f"SELECT count(*) {rows}", params))

    async def erase_member(self, user_id: int, guild_id: int | None) -> int:
        """Delete the member's votes for good (through the writer, after any of theirs still queued)."""
        count = await self.count_member(user_id, guild_id)
        rows, params = member_rows("poll_votes", "user_id", user_id, guild_id)
        await self._writer.write(f"DELETE {rows}", params)
        return count
