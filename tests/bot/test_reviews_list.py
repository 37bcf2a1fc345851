"""``matinee reviews list``: the names to use for every stored review, as a table or JSON."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

import pytest

from bot.cli import main
from bot.cli.reviews import format_table, print_reviews
from bot.storage import Database, FeedRepository, ReviewRepository
from bot.storage.reviews import ReviewListing
from tests.deploy._samples import seed_samples


@pytest.fixture
async def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "matinee.db"
    await seed_samples(path)
    db = await Database.open(path)
    try:
        # A feed review, announced in two servers, with two comments (one deleted) and a pending third server.
        feed = await FeedRepository(db).ensure("https://blog.example/category/reviews/feed/")
        review, _ = await ReviewRepository(db).upsert(
            source=f"feed:{feed.id}", source_key="guid-1", title="Heat \x1b[31m(1995)\x9b", content_hash="h",
            url="https://blog.example/2026/11/24/heat-a-city-of-professionals/", published_at="2026-11-24T08:00:00Z",
        )  # fmt: skip
        for guild, state in ((1, "sent"), (2, "sent"), (3, "pending")):
            await db.execute(
                "INSERT INTO announcements (review_id, guild_id, channel_id, nonce, state) VALUES (?, ?, 1, ?, ?)",
                (review.id, guild, f"n{guild}", state),
            )
        for message_id, deleted in ((10, 0), (11, 0), (12, 1)):
            await db.execute(
                "INSERT INTO comments (message_id, review_id, guild_id, thread_id, author_id, author_name, "
                "created_at, deleted) VALUES (?, ?, 1, 5, 7, 'Mo', '2026-11-24T09:00:00Z', ?)",
                (message_id, review.id, deleted),
            )
    finally:
        await db.close()
    monkeypatch.setenv("DATABASE_PATH", str(path))
    return path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["reviews", "list", *args])
    out, err = capsys.readouterr()
    return code, out, err


async def test_the_table_names_every_review_newest_first(database: Path, capsys) -> None:
    code, out, _ = await _in_thread(run, capsys)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["id", "slug", "date", "comments", "announced", "title"]
    rows = [line.split() for line in lines[1:]]
    assert [row[1] for row in rows] == ["heat-a-city-of-professionals", "paris-texas", "stalker", "chungking-express"]
    heat = rows[0]
    assert heat[2:6] == ["2026-11-24", "2", "yes", "(2)"] and heat[6:] == ["Heat", "[31m(1995)"]
    assert "\x1b" not in out and "\x9b" not in out  # a feed's title cannot drive the terminal
    assert rows[3][2:5] == ["2025-01-08", "0", "no"]
    # Columns line up: every slug starts where the header's does.
    assert len({line.index(slug) for line, slug in zip(lines[1:], [r[1] for r in rows], strict=True)}) == 1


async def test_search_feed_and_json(database: Path, capsys) -> None:
    code, out, _ = await _in_thread(run, capsys, "--search", "PARIS", "--json")
    assert code == 0
    (paris,) = json.loads(out)
    assert paris["slug"] == "paris-texas" and paris["announced"] is False and paris["comments"] == 0
    assert paris["url"] == "https://example.com/reviews/paris-texas/" and paris["date"].startswith("2025-03-09")

    code, out, _ = await _in_thread(run, capsys, "--feed", "http://www.blog.example/category/reviews/feed", "--json")
    (heat,) = json.loads(out)
    assert (heat["announced_in"], heat["pending_in"], heat["comments"]) == (2, 1, 2)

    code, out, err = await _in_thread(run, capsys, "--search", "no such film")
    assert (code, out, err.strip()) == (0, "", "no reviews")


async def test_an_unknown_feed_or_database_is_one_clear_line(database: Path, capsys, monkeypatch) -> None:
    code, _, err = await _in_thread(run, capsys, "--feed", "https://elsewhere.example/feed/")
    assert code == 2 and "follows no feed at https://elsewhere.example/feed/" in err
    assert "https://blog.example/category/reviews/feed/" in err  # the feeds it does know
    monkeypatch.setenv("DATABASE_PATH", str(database.parent / "missing.db"))
    code, _, err = await _in_thread(run, capsys)
    assert code == 2 and err.startswith("matinee: no database at") and len(err.splitlines()) == 1


def test_long_titles_are_cut_to_the_terminal() -> None:
    review = ReviewListing(1, "heat", "A " * 200, None, None, "2026-01-01T00:00:00Z", 0, 0, 0)
    table = format_table([review], width=80)
    assert all(len(line) <= 80 for line in table.splitlines())
    assert format_table([review]).splitlines()[1].endswith("A")  # not a terminal: whole


async def _in_thread(fn, *args):
    """The command runs its own event loop (asyncio.run), so not on the test's."""
    return await asyncio.to_thread(fn, *args)


def test_print_to_a_stream_is_not_cut() -> None:
    buffer = io.StringIO()
    print_reviews([ReviewListing(1, "s", "T" * 300, None, None, "2026", 0, 0, 0)], as_json=False, out=buffer)
    assert "T" * 300 in buffer.getvalue()


async def test_a_withdrawn_review_is_listed_as_withdrawn(database: Path, capsys) -> None:
    db = await Database.open(database)
    try:
        stalker = await ReviewRepository(db).find("stalker")
        assert stalker is not None
        await ReviewRepository(db).set_withdrawn([stalker.id], True)
    finally:
        await db.close()
    code, out, _ = await _in_thread(run, capsys)
    assert code == 0
    [row] = [line.split() for line in out.splitlines() if line.split()[1:2] == ["stalker"]]
    assert row[4] == "withdrawn"
    code, out, _ = await _in_thread(run, capsys, "--search", "stalker", "--json")
    assert json.loads(out)[0]["withdrawn"] is True
