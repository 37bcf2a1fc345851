"""Members' film ratings, from /rate and from discussion-thread polls.

Poll votes count as ratings: a ★★★★ vote is a 4-star rating of the review's film.
An explicit /rate always wins over a poll vote for the same member and film.
"""

from __future__ import annotations

from dataclasses import dataclass

from .database import Database
from .privacy import MemberData, member_rows

__all__ = ["RatingRepository", "RatingSummary"]


@dataclass(frozen=True, slots=True)
class RatingSummary:
    average: float | None
    votes: int


class RatingRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def set_rating(
        self, guild_id: int, user_id: int, film_id: int, stars: float, *, source: str = "rate"
    ) -> None:
        """Record or replace a rating; a poll vote never overwrites an explicit /rate."""
        await self._db.execute(
            "INSERT INTO film_ratings (guild_id, user_id, film_id, stars, source) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (guild_id, user_id, film_id) DO UPDATE SET stars = excluded.stars, "
            "source = excluded.source, updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') "
            "WHERE excluded.source = 'rate' OR film_ratings.source = 'poll'",
            (guild_id, user_id, film_id, stars, source),
        )

    async def clear_rating(self, guild_id: int, user_id: int, film_id: int, *, source: str | None = None) -> None:
        """Remove a rating; with ``source`` only a rating from that source (a retracted poll vote)."""
        if source is None:
            await self._db.execute(
                "DELETE FROM film_ratings WHERE guild_id = ? AND user_id = ? AND film_id = ?",
                (guild_id, user_id, film_id),
            )
        else:
            await self._db.execute(
                "DELETE FROM film_ratings WHERE guild_id = ? AND user_id = ? AND film_id = ? AND source = ?",
                (guild_id, user_id, film_id, source),
            )

    async def mirror_poll_vote(self, guild_id: int, user_id: int, film_id: int, poll_message_id: int) -> None:
        """Make the member's poll rating of the film what their stored vote in that poll says (or none).

        Read from ``poll_votes`` inside the write itself, never from a value read
        earlier: a forget erasing the vote between the two cannot leave the rating
        behind, and a vote that was refused leaves none. An explicit /rate is kept.
        """
        params = (guild_id, user_id, film_id, poll_message_id)
        async with self._db.transaction() as conn:
            await conn.execute(
                "INSERT INTO film_ratings (guild_id, user_id, film_id, stars, source) "
                "SELECT ?1, ?2, ?3, max(answer_id), 'poll' FROM poll_votes WHERE message_id = ?4 AND user_id = ?2 "
                "GROUP BY user_id "
                "ON CONFLICT (guild_id, user_id, film_id) DO UPDATE SET stars = excluded.stars, "
                "source = excluded.source, updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') "
                "WHERE film_ratings.source = 'poll'",
                params,
            )
            await conn.execute(
                "DELETE FROM film_ratings WHERE guild_id = ?1 AND user_id = ?2 AND film_id = ?3 AND source = 'poll' "
                "AND NOT EXISTS (SELECT 1 FROM poll_votes WHERE message_id = ?4 AND user_id = ?2)",
                params,
            )

    async def get_rating(self, guild_id: int, user_id: int, film_id: int) -> float | None:
        return await self._db.fetchval(
            "SELECT stars FROM film_ratings WHERE guild_id = ? AND user_id = ? AND film_id = ?",
            (guild_id, user_id, film_id),
        )

    # -- privacy (MemberDataEraser) -------------------------------------------------

    # Both sources: a member who asks to be forgotten expects their /rate ratings gone
    # too, not only the ones their poll votes made.
    member_data = MemberData("film ratings", ("film_ratings",))

    async def count_member(self, user_id: int, guild_id: int | None) -> int:
        rows, params = member_rows("film_ratings", "user_id", user_id, guild_id)
        return int(await self._db.fetchval(f"SELECT count(*) {rows}", params))

    async def erase_member(self, user_id: int, guild_id: int | None) -> int:
        rows, params = member_rows("film_ratings", "user_id", user_id, guild_id)
        return await self._db.execute(f"DELETE {rows}", params)

    async def summary(self, film_id: int, guild_id: int | None = None) -> RatingSummary:
        if guild_id is None:
            row = await self._db.fetchone("SELECT avg(stars), count(*) FROM film_ratings WHERE film_id = ?", (film_id,))
        else:
            row = await self._db.fetchone(
                "SELECT avg(stars), count(*) FROM film_ratings WHERE film_id = ? AND guild_id = ?",
                (film_id, guild_id),
            )
        assert row is not None
        return RatingSummary(average=row[0], votes=int(row[1]))
