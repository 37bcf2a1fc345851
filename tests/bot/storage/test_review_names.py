"""Reviews are known by their blog address: slugs from URLs, unique, and one resolver for every name."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.storage import Database, ReviewRepository, load_migrations
from bot.storage.review_names import plan_url_slugs, resolve_review_id

CHUNGKING = "https://blog.example/2026/11/24/chungking-express-a-love-letter-to-loneliness/"


def fields(key: str, title: str, url: str | None = None, **extra):
    return {"source": "feed:1", "source_key": key, "title": title, "url": url, "content_hash": key, **extra}


async def resolve(db: Database, name: str) -> int | None:
    return await db.read(lambda conn: resolve_review_id(conn, name))


async def test_a_new_review_is_named_by_its_address_else_its_title(db: Database) -> None:
    reviews = ReviewRepository(db)
    with_url, _ = await reviews.upsert(**fields("a", "Chungking Express: A Love Letter to Loneliness", CHUNGKING))
    plain, _ = await reviews.upsert(**fields("b", "Heat (1995)", "https://blog.example/?p=412"))
    written, _ = await reviews.upsert(**fields("c", "Stalker, again"))
    assert with_url.slug == "chungking-express-a-love-letter-to-loneliness"
    assert plain.slug == "heat-1995"
    assert written.slug == "stalker-again"


async def test_two_reviews_wanting_one_slug_are_numbered_in_the_order_they_were_stored(db: Database) -> None:
    reviews = ReviewRepository(db)
    first, _ = await reviews.upsert(**fields("a", "One", "https://one.example/reviews/heat/"))
    second, _ = await reviews.upsert(**fields("b", "Two", "https://two.example/heat"))
    third, _ = await reviews.upsert(**fields("c", "Heat"))  # its title wants the same name
    assert [first.slug, second.slug, third.slug] == ["heat", "heat-2", "heat-3"]


async def test_every_name_of_a_review_finds_it(db: Database) -> None:
    reviews = ReviewRepository(db)
    review, _ = await reviews.upsert(**fields("a", "Chungking Express", CHUNGKING))
    other, _ = await reviews.upsert(**fields("b", "Stalker", "https://blog.example/stalker/"))
    names = [
        "chungking-express-a-love-letter-to-loneliness",
        "  Chungking-Express-A-Love-Letter-To-Loneliness ",  # pasted with spaces, other case
        str(review.id),
        CHUNGKING,
        "http://www.blog.example/2026/11/24/chungking-express-a-love-letter-to-loneliness?utm_source=x#comments",
        "blog.example/2026/11/24/chungking-express-a-love-letter-to-loneliness/",  # without the scheme
    ]
    for name in names:
        assert await resolve(db, name) == review.id, name
        found = await reviews.find(name)
        assert found is not None and found.id == review.id, name
    for name in ("", "   ", "no-such-review", "https://blog.example/nope/", "javascript:alert(1)/", "9" * 30,
                 "x" * 5000, "blog.example/2026/11/24/"):  # fmt: skip
        assert await resolve(db, name) is None, name
    assert (await reviews.find("stalker")).id == other.id  # type: ignore[union-attr]


async def test_a_slug_wins_over_an_id_that_reads_the_same(db: Database) -> None:
    reviews = ReviewRepository(db)
    first, _ = await reviews.upsert(**fields("a", "Heat"))
    titled, _ = await reviews.upsert(**fields("b", str(first.id)))  # a film called "1"…
    assert titled.slug == str(first.id)
    assert await resolve(db, str(first.id)) == titled.id


async def test_a_post_that_moves_takes_its_new_address_s_slug_and_keeps_the_old_one(db: Database) -> None:
    reviews = ReviewRepository(db)
    review, _ = await reviews.upsert(**fields("a", "Heat (1995)", "https://blog.example/?p=412"))
    assert review.slug == "heat-1995"
    moved, _ = await reviews.upsert(**fields("a", "Heat (1995)", "https://blog.example/2026/heat-review/",
                                             content_hash="v2"))  # fmt: skip
    assert moved.slug == "heat-review"
    assert await resolve(db, "heat-1995") == review.id  # the old name still works
    assert await reviews.slug_exists("heat-1995")
    # A new review wanting the old name gets another: an old slug is never given away.
    newcomer, _ = await reviews.upsert(**fields("b", "Heat (1995)"))
    assert newcomer.slug == "heat-1995-2"
    # Moving back takes the old name back; an edit that keeps the address keeps the name.
    back, _ = await reviews.upsert(**fields("a", "Heat (1995)", "https://blog.example/heat-1995/", content_hash="v3"))
    assert back.slug == "heat-1995"
    assert await resolve(db, "heat-review") == review.id
    same, _ = await reviews.upsert(**fields("a", "Heat!", "https://www.blog.example/heat-1995", content_hash="v4"))
    assert same.slug == "heat-1995"
    lost, _ = await reviews.upsert(**fields("a", "Heat!", None, content_hash="v5"))
    assert lost.slug == "heat-1995"  # no address: it keeps the name it has


def test_the_migration_plan_is_deterministic_and_never_takes_another_review_s_name() -> None:
    rows = [
        (1, "stalker", None),  # keeps its title slug
        (2, "heat-1995", "https://blog.example/?p=412"),  # no name in the address: unchanged
        (3, "chungking-express-a-love-letter", "https://blog.example/reviews/stalker/"),  # "stalker" is 1's
        (4, "paris-texas-the-longest-phone-call", "https://blog.example/reviews/paris-texas/index.html"),
        (5, "paris-texas", "https://other.example/paris-texas/"),  # already named after its address
        (6, "already-right", "https://blog.example/already-right/"),
    ]
    plan = plan_url_slugs(rows)
    assert plan == [
        (3, "chungking-express-a-love-letter", "stalker-2"),
        (4, "paris-texas-the-longest-phone-call", "paris-texas-2"),
    ]
    assert plan_url_slugs(rows) == plan


async def test_existing_databases_are_migrated_and_old_slugs_still_resolve(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "old.db")
    try:
        ours = next(m.version for m in load_migrations() if m.name.endswith("_review_slugs_from_urls.sql"))
        await db.migrate([m for m in load_migrations() if m.version < ours])
        rows = [
            (1, "chungking-express-a-love-letter-to-loneliness", CHUNGKING),
            (2, "chungking-express", "https://blog.example/reviews/chungking-express/"),
            (3, "heat-1995", "https://blog.example/?p=412"),
            (4, "review-of-stalker", "https://blog.example/reviews/stalker/index.html"),
            (5, "stalker", None),
        ]
        for rid, slug, url in rows:
            await db.execute(
                "INSERT INTO reviews (id, source, source_key, slug, title, url) VALUES (?, 'markdown', ?, ?, ?, ?)",
                (rid, f"k{rid}", slug, slug.title(), url),
            )
        await db.execute("UPDATE reviews SET url_key = matinee_url_key(url)")

        await db.migrate()

        slugs = [tuple(r) for r in await db.fetchall("SELECT id, slug FROM reviews ORDER BY id")]
        assert slugs == [
            (1, "chungking-express-a-love-letter-to-loneliness"),
            (2, "chungking-express"),
            (3, "heat-1995"),
            (4, "stalker-2"),  # "stalker" is review 5's and stays so
            (5, "stalker"),
        ]
        for name, rid in (("review-of-stalker", 4), ("stalker-2", 4), ("stalker", 5), ("4", 4),
                          ("https://blog.example/reviews/stalker/index.html", 4)):  # fmt: skip
            assert await resolve(db, name) == rid, name
        changes = await db.fetchval("SELECT count(*) FROM web_changes WHERE review_id = 4 AND kind = 'review'")
        assert changes >= 1  # open pages and caches learn the review's name changed
    finally:
        await db.close()


async def test_a_failing_migration_step_leaves_the_database_as_it_was(tmp_path: Path, monkeypatch) -> None:
    from bot.storage import database as database_module

    async def broken(conn) -> None:
        await conn.execute("UPDATE reviews SET slug = 'half-done'")
        raise RuntimeError("step failed")

    migrations = load_migrations()
    ours = next(m for m in migrations if m.name.endswith("_review_slugs_from_urls.sql"))
    db = await Database.open(tmp_path / "old.db")
    try:
        await db.migrate([m for m in migrations if m.version < ours.version])
        await db.execute(
            "INSERT INTO reviews (id, source, source_key, slug, title, url) VALUES (1, 'm', 'k', 'old', 'T', ?)",
            (CHUNGKING,),
        )
        monkeypatch.setitem(database_module.MIGRATION_STEPS, "review_slugs_from_urls", broken)
        failing = [m for m in load_migrations() if m.version <= ours.version]
        with pytest.raises(RuntimeError, match="step failed"):
            await db.migrate(failing)
        assert await db.user_version() == ours.version - 1
        assert await db.fetchval("SELECT slug FROM reviews") == "old"
        assert await db.fetchval("SELECT count(*) FROM sqlite_master WHERE name = 'review_slug_aliases'") == 0
    finally:
        await db.close()
