"""Migration 0009 (one review per post) on a database written before it: duplicates merged sensibly."""

from __future__ import annotations

from pathlib import Path

from bot.storage import Database, load_migrations


async def _insert_review(db: Database, rid: int, source: str, key: str, url: str) -> None:
    await db.execute(
        "INSERT INTO reviews (id, source, source_key, slug, title, url, content_hash) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (rid, source, key, f"r{rid}", f"R{rid}", url, f"h{rid}"),
    )


async def _announce(db: Database, rid: int, guild: int, *, sent: bool) -> None:
    await db.execute(
        "INSERT INTO announcements (review_id, guild_id, channel_id, nonce, state, message_id) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (rid, guild, guild * 10, f"n{rid}-{guild}", "sent" if sent else "pending", rid * 100 + guild if sent else None),
    )


async def _rows(db: Database, sql: str) -> list[tuple]:
    return [tuple(r) for r in await db.fetchall(sql)]


async def test_existing_duplicates_are_merged_and_nothing_announced_is_lost(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "old.db")
    try:
        ours = next(m.version for m in load_migrations() if m.name.endswith("_one_review_per_post.sql"))
        before = [m for m in load_migrations() if m.version < ours]
        await db.migrate(before)
        feed = "https://blog.example/feed/"
        await db.execute("INSERT INTO feeds (id, url, initialized) VALUES (1, ?, 1)", (feed,))
        await db.execute("INSERT INTO feeds (id, url, builtin, initialized) VALUES (2, ?, 1, 1)",
                         (feed + "?utm_source=newsletter",))  # fmt: skip
        await db.execute("INSERT INTO feeds (id, url, initialized, etag) VALUES (3, ?, 1, 'x')",
                         ("https://other.example/rss",))  # fmt: skip
        for guild, feed_id, channel in ((1, 1, None), (1, 2, None), (2, 2, 77)):
            await db.execute("INSERT INTO feed_subscriptions (guild_id, feed_id, channel_id) VALUES (?, ?, ?)",
                             (guild, feed_id, channel))  # fmt: skip
        await _insert_review(db, 1, "feed:1", "k1", "https://blog.example/p/")
        await _insert_review(db, 2, "feed:2", "k1", "https://blog.example/p/?utm_source=newsletter")
        await _insert_review(db, 3, "feed:2", "k3", "https://blog.example/q/")
        await _insert_review(db, 4, "feed:1", "k3", "http://www.blog.example/q")
        await _announce(db, 1, 1, sent=True)
        await _announce(db, 2, 1, sent=True)  # the duplicate announcement the old code made
        await _announce(db, 2, 2, sent=False)  # and one still waiting in guild 2

        await db.migrate()

        feeds = await _rows(db, "SELECT id, builtin, initialized, etag, url_key FROM feeds")
        assert feeds == [(1, 1, 1, None, "blog.example/feed"), (3, 0, 0, None, "other.example/rss")]
        subs = await _rows(db, "SELECT guild_id, feed_id, channel_id FROM feed_subscriptions ORDER BY guild_id")
        assert subs == [(1, 1, None), (2, 1, 77)]
        keys = await _rows(db, "SELECT source, source_key, review_id FROM review_keys ORDER BY 1, 2")
        assert keys == [("feed:1", "k1", 1), ("feed:1", "k3", 3)]
        # The announced duplicate stays (its thread and comments are members' words); the unannounced one is
        # gone. Reviews of the merged spelling never keep its feed id as their source: a new feed may get it.
        sources = await _rows(db, "SELECT id, source, source_key FROM reviews ORDER BY id")
        assert sources == [(1, "feed:1", "k1"), (2, "merged:feed:2", "k1"), (3, "merged:feed:2", "k3")]
        announcements = await _rows(db, "SELECT review_id, guild_id, state FROM announcements ORDER BY 1, 2")
        assert announcements == [(1, 1, "sent"), (1, 2, "pending"), (2, 1, "sent")]
        assert await db.fetchval("SELECT url_key FROM reviews WHERE id = 3") == "blog.example/q"
        # New rows record their first entry themselves.
        await _insert_review(db, 5, "markdown", "new.md", "https://blog.example/new/")
        assert await db.fetchval("SELECT review_id FROM review_keys WHERE source = 'markdown'") == 5
    finally:
        await db.close()
