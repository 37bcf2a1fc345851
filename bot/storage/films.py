"""The film catalog: the read contract other features use.

The films feature extends this (FTS search, imports, TMDB cache); ``get`` and
``search`` keep their signatures so chat tools and review matching can rely on them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from ..models import Film
from .database import Database

__all__ = ["FilmRepository"]

_FILM_COLUMNS = (
    "id, title, original_title, year, directors, cast_members, runtime_minutes, genres, overview, "
    "poster_url, tmdb_id, imdb_id, popularity, vote_count"
)


class FilmRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, film_id: int) -> Film | None:
        row = await self._db.fetchone(f"SELECT {_FILM_COLUMNS} FROM films WHERE id = ?", (film_id,))  # noqa: S608
        return Film.from_row(row) if row else None

    async def search(self, query: str, *, limit: int = 25) -> list[Film]:
        """Films whose title starts with or contains ``query``, most popular first."""
        needle = query.strip()
        if not needle:
            return []
        escaped = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        rows = await self._db.fetchall(
            f"SELECT {_FILM_COLUMNS} FROM films WHERE title LIKE ? ESCAPE '\\' "  # noqa: S608
            "ORDER BY (title LIKE ? ESCAPE '\\') DESC, vote_count DESC, popularity DESC LIMIT ?",
            (f"%{escaped}%", f"{escaped}%", limit),
        )
        return [Film.from_row(r) for r in rows]

    async def find_by_title(self, title: str, year: int | None = None) -> Film | None:
        """The best catalog match for a review's film: exact title (and year when known)."""
        params: Sequence[object] = (title.strip(), year) if year else (title.strip(),)
        year_clause = "AND year = ?" if year else ""
        row = await self._db.fetchone(
            f"SELECT {_FILM_COLUMNS} FROM films WHERE title = ? COLLATE NOCASE {year_clause} "  # noqa: S608
            "ORDER BY vote_count DESC LIMIT 1",
            params,
        )
        return Film.from_row(row) if row else None

    async def add(
        self,
        title: str,
        *,
        year: int | None = None,
        directors: Sequence[str] = (),
        genres: Sequence[str] = (),
        source: str = "local",
    ) -> Film:
        """Add a minimal film (e.g. one known only from a review)."""
        async with self._db.transaction() as conn:
            cursor = await conn.execute(
                "INSERT INTO films (title, year, directors, genres, source) VALUES (?, ?, ?, ?, ?)",
                (title, year, json.dumps(list(directors)), json.dumps(list(genres)), source),
            )
            film_id = cursor.lastrowid
        film = await self.get(int(film_id))
        assert film is not None
        return film
