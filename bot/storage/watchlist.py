"""Members' personal watchlists (one list per member, across servers)."""

from __future__ import annotations

from ..models import Film
from .database import Database
from .films import _F_COLUMNS
from .privacy import NO_SERVER, MemberData

__all__ = ["WatchlistRepository"]

MAX_WATCHLIST = 500


class WatchlistRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, user_id: int, film_id: int) -> bool:
        """Add a film; False when it was already on the list."""
        changed = await self._db.execute(
            "INSERT OR IGNORE INTO watchlist (user_id, film_id) VALUES (?, ?)", (user_id, film_id)
        )
        return changed > 0

    async def remove(self, user_id: int, film_id: int) -> bool:
        changed = await self._db.execute("DELETE FROM watchlist WHERE user_id = ? AND film_id = ?", (user_id, film_id))
        return changed > 0

    async def count(self, user_id: int) -> int:
        return int(await self._db.fetchval("SELECT count(*) FROM watchlist WHERE user_id = ?", (user_id,)))

    async def list(self, user_id: int, *, limit: int = 10, offset: int = 0) -> list[Film]:
        rows = await self._db.fetchall(
            f"SELECT {_F_COLUMNS} FROM watchlist w JOIN films f ON f.id = w.film_id "  # noqa: S608
            "WHERE w.user_id = ? ORDER BY w.added_at DESC, f.id DESC LIMIT ? OFFSET ?",
            (user_id, limit, offset),
        )
        return [Film.from_row(r) for r in rows]

    async def random(self, user_id: int) -> Film | None:
        row = await self._db.fetchone(
            f"SELECT {_F_COLUMNS} FROM watchlist w JOIN films f ON f.id = w.film_id "  # noqa: S608
            "WHERE w.user_id = ? ORDER BY random() LIMIT 1",
            (user_id,),
        )
        return Film.from_row(row) if row else None

    # -- privacy (MemberDataEraser) -------------------------------------------------

    # A watchlist follows its member across servers: it belongs to no server, so an
    # erase scoped to one server leaves it alone and the NO_SERVER scope takes it.
    member_data = MemberData("watchlist films", ("watchlist",), outside_servers="your watchlist", per_server=False)

    async def count_member(self, user_id: int, guild_id: int | None) -> int:
        return await self.count(user_id) if guild_id in (None, NO_SERVER) else 0

    async def erase_member(self, user_id: int, guild_id: int | None) -> int:
        if guild_id not in (None, NO_SERVER):
            return 0
        return await self._db.execute("DELETE FROM watchlist WHERE user_id = ?", (user_id,))

    async def contains(self, user_id: int, film_id: int) -> bool:
        return (
            await self._db.fetchval("SELECT 1 FROM watchlist WHERE user_id = ? AND film_id = ?", (user_id, film_id))
            is not None
        )
