"""Read models for film lookup: leaderboards, comment counts, and linking reviews to their films.

Kept apart from the reviews and ratings repositories (owned by other features) so
the films feature adds queries without editing theirs.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..models import Film, Review
from .database import Database
from .films import _F_COLUMNS
from .reviews import _R_COLUMNS

__all__ = ["FilmStatsRepository", "LeaderboardRow"]


@dataclass(frozen=True, slots=True)
class LeaderboardRow:
    film: Film
    average: float
    votes: int


class FilmStatsRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def reviews_without_film(self, limit: int = 500) -> list[Review]:
        """Reviews that name a film but are not linked to a catalog entry yet."""
        rows = await self._db.fetchall(
            f"SELECT {_R_COLUMNS} FROM reviews r WHERE r.film_id IS NULL AND coalesce(trim(r.film_title), '') <> '' "  # noqa: S608
            "ORDER BY r.id LIMIT ?",
            (limit,),
        )
        return [Review.from_row(r) for r in rows]

    async def link_review(self, review_id: int, film_id: int) -> bool:
        """Point a review at its film (only if it has none), so the film card lists it."""
        changed = await self._db.execute(
            "UPDATE reviews SET film_id = ? WHERE id = ? AND film_id IS NULL", (film_id, review_id)
        )
        return changed > 0

    async def comment_count(self, film_id: int, guild_id: int | None = None) -> int:
        """Comments (not deleted) on every review of the film the blog still publishes, optionally in one guild."""
        if guild_id is None:
            value = await self._db.fetchval(
                "SELECT count(*) FROM comments c JOIN published_reviews r ON r.id = c.review_id "
                "WHERE r.film_id = ? AND c.deleted = 0",
                (film_id,),
            )
        else:
            value = await self._db.fetchval(
                "SELECT count(*) FROM comments c JOIN published_reviews r ON r.id = c.review_id "
                "WHERE r.film_id = ? AND c.guild_id = ? AND c.deleted = 0",
                (film_id, guild_id),
            )
        return int(value or 0)

    @staticmethod
    def _leaderboard_where(genre: str | None, since: str | None) -> str:
        clauses = ["fr.guild_id = :guild"]
        if since:
            clauses.append("fr.updated_at >= :since")
        if genre:
            clauses.append("EXISTS (SELECT 1 FROM json_each(f.genres) g WHERE g.value = :genre COLLATE NOCASE)")
        return " AND ".join(clauses)

    async def leaderboard(
        self,
        guild_id: int,
        *,
        genre: str | None = None,
        since: str | None = None,
        min_votes: int = 3,
        limit: int = 10,
        offset: int = 0,
    ) -> tuple[list[LeaderboardRow], int]:
        """Films rated at least ``min_votes`` times in the guild, best average first; and the total."""
        where = self._leaderboard_where(genre, since)
        params = {"guild": guild_id, "since": since, "genre": genre, "min": min_votes, "n": limit, "off": offset}
        grouped = (
            "SELECT fr.film_id, avg(fr.stars) AS average, count(*) AS votes "  # noqa: S608 - constant clauses
            f"FROM film_ratings fr JOIN films f ON f.id = fr.film_id WHERE {where} "
            "GROUP BY fr.film_id HAVING count(*) >= :min"
        )
        total = int(await self._db.fetchval(f"SELECT count(*) FROM ({grouped})", params) or 0)  # noqa: S608
        rows = await self._db.fetchall(
            f"SELECT {_F_COLUMNS}, s.average, s.votes FROM ({grouped}) s JOIN films f ON f.id = s.film_id "  # noqa: S608
            "ORDER BY s.average DESC, s.votes DESC, f.title COLLATE NOCASE LIMIT :n OFFSET :off",
            params,
        )
        return [LeaderboardRow(Film.from_row(r), float(r["average"]), int(r["votes"])) for r in rows], total

    async def rated_genres(self, guild_id: int, prefix: str = "", limit: int = 25) -> list[str]:
        """Genres of films rated in the guild (for /top's genre autocomplete)."""
        rows = await self._db.fetchall(
            "SELECT DISTINCT g.value FROM film_ratings fr JOIN films f ON f.id = fr.film_id, json_each(f.genres) g "
            "WHERE fr.guild_id = ? AND g.value LIKE ? ESCAPE '\\' ORDER BY g.value LIMIT ?",
            (guild_id, prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%", limit),
        )
        return [str(r[0]) for r in rows]
