"""The withdrawn-reviews migration on a database written before it: every review stays published."""

from __future__ import annotations

from pathlib import Path

from bot.storage import Database, ReviewRepository, load_migrations


async def test_existing_reviews_stay_published_and_withdrawing_one_takes_it_out_of_listings(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "old.db")
    try:
        ours = next(m.version for m in load_migrations() if m.name.endswith("_withdrawn_reviews.sql"))
        await db.migrate([m for m in load_migrations() if m.version < ours])
        for rid in (1, 2):
            await db.execute(
                "INSERT INTO reviews (id, source, source_key, slug, title, content_hash) "
                "VALUES (?, 'markdown', ?, ?, ?, 'h')",
                (rid, f"{rid}.md", f"r{rid}", f"Review {rid}"),
            )
        await db.migrate()
        reviews = ReviewRepository(db)
        assert [r.id for r in await reviews.recent()] == [2, 1]
        assert [(await reviews.get(rid)).withdrawn_at for rid in (1, 2)] == [None, None]
        changes = await db.fetchval("SELECT count(*) FROM web_changes WHERE kind = 'review'")
        [gone] = await reviews.set_withdrawn([1, 1], True)
        assert gone.id == 1 and gone.withdrawn_at
        assert await reviews.set_withdrawn([1], True) == []  # already withdrawn: nothing changes
        assert [r.id for r in await reviews.recent()] == [2]
        reloads = await db.fetchval("SELECT count(*) FROM web_changes WHERE kind = 'review'")
        assert reloads == changes + 1  # open widgets are told
        assert [r.id for r in await reviews.set_withdrawn([1, 2], False)] == [1]
        assert [r.id for r in await reviews.recent()] == [2, 1]
    finally:
        await db.close()
