"""A review withdrawn from the blog (its Markdown file deleted) is served like a deleted page (issue 16).

The read API answers 404 saying so, counts are null, ``export --all`` removes the file it
wrote; when the review comes back, everything is served again.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from bot.storage import ReviewRepository
from bot.storage.web import WebRepository
from bot.web.public import WITHDRAWN
from bot.web.static_export import export_all
from tests.web._seed import seed
from tests.web.conftest import REVIEW_SLUG, REVIEW_URL, Published

pytestmark = pytest.mark.e2e

OTHER_SPELLING = "http://www.blog.example/2026/11/24/chungking-express-a-love-letter-to-loneliness?utm_source=x"


async def _until_status(p: Published, path: str, params: Any, status: int) -> tuple[Any, Any]:
    """The API learns of a change from the change log (one tailer tick): ask until it answers ``status``."""
    for _ in range(300):
        got, body, headers = await p.get(path, params=params)
        if got == status:
            return body, headers
        await asyncio.sleep(0.05)
    raise AssertionError(f"{path} {params} never answered {status} (last: {got} {body})")


async def test_a_withdrawn_review_is_a_clear_404_and_comes_back_with_its_file(published: Published) -> None:
    p = published
    await p.post(p.world.member_id, "Loved the pineapple scene")
    await p.stored(1)
    status, doc, _ = await p.get("/v1/comments", params={"url": REVIEW_URL})
    assert status == 200 and doc["comment_count"] == 1

    [withdrawn] = await ReviewRepository(p.bot.db).set_withdrawn([p.review.id], True)
    assert withdrawn.withdrawn
    for params in ({"url": REVIEW_URL}, {"url": OTHER_SPELLING}, {"review": REVIEW_SLUG}):
        body, _ = await _until_status(p, "/v1/comments", params, 404)
        assert body["error"] == WITHDRAWN, params
        assert "pineapple" not in json.dumps(body)
    got, body, _ = await p.get("/v1/comments.html", params={"review": REVIEW_SLUG})
    assert got == 404 and b"pineapple" not in json.dumps(body).encode()
    got, body, _ = await p.get("/v1/events", params={"url": REVIEW_URL})
    assert got == 404 and body["error"] == WITHDRAWN
    got, body, _ = await p.get("/v1/counts", params={"url": REVIEW_URL})
    assert got == 200 and body["counts"] == {REVIEW_URL: None}  # as for a post Matinee never knew
    got, body, _ = await p.get("/v1/comments", params={"url": "https://blog.example/never-reviewed/"})
    assert got == 404 and "No review is known" in body["error"]  # unknown addresses keep their own message

    await ReviewRepository(p.bot.db).set_withdrawn([p.review.id], False)  # the file came back
    doc, _ = await _until_status(p, "/v1/comments", {"url": REVIEW_URL}, 200)
    assert [c["content"] for c in doc["comments"]] == ["Loved the pineapple scene"]
    got, body, _ = await p.get("/v1/counts", params={"url": REVIEW_URL})
    assert body["counts"][REVIEW_URL]["comment_count"] == 1


async def test_export_all_leaves_out_and_removes_a_withdrawn_review(tmp_path: Path) -> None:
    seeded = await seed(tmp_path / "matinee.db")
    try:
        await seeded.comment("public")
        await seeded.db.execute(
            "INSERT INTO reviews (id, source, source_key, slug, title) VALUES (2, 'markdown', 'p.md', 'paris', 'P')"
        )
        out = tmp_path / "data" / "comments"
        out.mkdir(parents=True)
        (out / "notes.json").write_text("{}", encoding="utf-8")  # the blog's own file: never touched
        repository = WebRepository(seeded.db)
        first = await export_all(repository, out)
        assert sorted(p.name for p in first.written) == ["chungking-express.json", "paris.json"]

        await ReviewRepository(seeded.db).set_withdrawn([seeded.review_id], True)
        second = await export_all(repository, out)
        assert [p.name for p in second.removed] == ["chungking-express.json"]
        assert (second.written, second.unchanged) == ([], 1)
        assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == ["notes.json", "paris.json"]
        assert (await export_all(repository, out)).removed == []  # once

        await ReviewRepository(seeded.db).set_withdrawn([seeded.review_id], False)
        back = await export_all(repository, out)
        assert [p.name for p in back.written] == ["chungking-express.json"]
        assert json.loads((out / "chungking-express.json").read_text())["comments"][0]["content"] == "public"
    finally:
        await seeded.db.close()
