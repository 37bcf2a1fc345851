"""Migrations apply atomically and track PRAGMA user_version."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bot.storage import Database, Migration, MigrationError, StorageError, load_migrations


async def test_fresh_database_reaches_latest_version(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "m.db")
    try:
        latest = load_migrations()[-1].version
        assert await db.migrate() == latest
        assert await db.user_version() == latest
        assert await db.pragma("foreign_keys") == 1
        assert (await db.pragma("journal_mode")).lower() == "wal"
        assert await db.pragma("busy_timeout") >= 5000
        tables = {r[0] for r in await db.fetchall("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert {"meta", "guild_settings", "reviews", "announcements", "comments", "films"} <= tables
        # Running again is a no-op.
        assert await db.migrate() == latest
    finally:
        await db.close()


async def test_upgrade_applies_only_newer_migrations(tmp_path: Path) -> None:
    first = Migration(1, "0001_a.sql", "CREATE TABLE a (x INTEGER);")
    second = Migration(2, "0002_b.sql", "CREATE TABLE b (y INTEGER);\nINSERT INTO a VALUES (1);")
    db = await Database.open(tmp_path / "m.db")
    try:
        assert await db.migrate([first]) == 1
        await db.execute("INSERT INTO a VALUES (0)")
        assert await db.migrate([first, second]) == 2
        assert [r[0] for r in await db.fetchall("SELECT x FROM a ORDER BY x")] == [0, 1]
    finally:
        await db.close()


async def test_failing_migration_leaves_previous_version_exactly(tmp_path: Path) -> None:
    first = Migration(1, "0001_a.sql", "CREATE TABLE a (x INTEGER);")
    broken = Migration(
        2,
        "0002_broken.sql",
        "CREATE TABLE b (y INTEGER);\nINSERT INTO a VALUES (42);\nCREATE TABLE a (duplicate INTEGER);",
    )
    path = tmp_path / "m.db"
    db = await Database.open(path)
    try:
        await db.migrate([first])
        with pytest.raises(MigrationError) as excinfo:
            await db.migrate([first, broken])
        assert "0002_broken.sql" in str(excinfo.value)
        assert await db.user_version() == 1
    finally:
        await db.close()
    # A separate connection sees no trace of the failed migration.
    conn = sqlite3.connect(path)
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert tables == {"a"}
        assert conn.execute("SELECT count(*) FROM a").fetchone()[0] == 0
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    finally:
        conn.close()


def test_statements_split_keeps_triggers_whole() -> None:
    migration = Migration(
        3,
        "0003_t.sql",
        "-- comment\nCREATE TABLE t (x INTEGER);\n"
        "CREATE TRIGGER t_ai AFTER INSERT ON t BEGIN\n  UPDATE t SET x = x + 1;\n  SELECT 1;\nEND;\n",
    )
    statements = migration.statements()
    assert len(statements) == 2
    assert statements[1].startswith("CREATE TRIGGER") and statements[1].endswith("END;")


def test_migration_files_are_numbered_uniquely() -> None:
    versions = [m.version for m in load_migrations()]
    assert versions == sorted(set(versions))
    assert versions[0] == 1


async def test_newer_database_than_code_is_refused(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "m.db")
    try:
        await db.pragma("user_version", 999)
        with pytest.raises(StorageError, match="newer"):
            await db.migrate()
    finally:
        await db.close()


async def test_corrupt_file_is_reported_and_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "corrupt.db"
    garbage = b"this is not a sqlite database, it is a film script\n" * 200
    path.write_bytes(garbage)
    with pytest.raises(StorageError) as excinfo:
        await Database.open(path)
    assert "not a SQLite database" in str(excinfo.value) or "unreadable" in str(excinfo.value)
    assert path.read_bytes() == garbage
