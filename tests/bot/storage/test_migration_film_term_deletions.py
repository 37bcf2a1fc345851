"""Migration 0015 (typo correction by deletion neighbourhood) on a catalog written before it."""

from __future__ import annotations

from pathlib import Path

from bot.storage import Database, load_migrations
from bot.storage.film_search import deletions


async def _keys(db: Database, term: str) -> set[str]:
    return {r[0] for r in await db.fetchall("SELECT variant FROM film_term_deletions WHERE term = ?", (term,))}


async def test_existing_vocabulary_is_indexed_and_kept_current_by_its_triggers(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "old.db")
    try:
        ours = next(m.version for m in load_migrations() if m.name.endswith("_film_term_deletions.sql"))
        await db.migrate([m for m in load_migrations() if m.version < ours])
        await db.execute("INSERT INTO film_terms (term, films) VALUES ('chungking', 2), ('amélie', 1), ('七人', 1)")

        await db.migrate()

        assert await _keys(db, "chungking") == deletions("chungking")
        assert "chngking" in await _keys(db, "chungking")
        assert await _keys(db, "amélie") == deletions("amélie")  # characters, not bytes
        assert await _keys(db, "七人") == {"七人", "七", "人"}
        # A new word gets its keys; a recount (the upsert's UPDATE) leaves them; a removed word loses them.
        await db.execute("INSERT INTO film_terms (term, films) VALUES ('express', 1)")
        await db.execute(
            "INSERT INTO film_terms (term, films) VALUES ('express', 1) "
            "ON CONFLICT (term) DO UPDATE SET films = films + excluded.films"
        )
        assert await _keys(db, "express") == deletions("express")
        await db.execute("UPDATE film_terms SET term = 'expresso' WHERE term = 'express'")
        assert await _keys(db, "express") == set()
        assert await _keys(db, "expresso") == deletions("expresso")
        await db.execute("DELETE FROM film_terms")
        assert await db.fetchval("SELECT count(*) FROM film_term_deletions") == 0
    finally:
        await db.close()
