"""The read API against the real bot: the matinee.comments/1 document, paging, counts, caching, HTML, CORS."""

from __future__ import annotations

import asyncio
import json
import re

import pytest

from bot.storage import ReviewRepository
from bot.storage.web import WebRepository
from tests.e2e._discussions import eventually, wait_rows
from tests.web.conftest import REVIEW_SLUG, REVIEW_URL, Published

pytestmark = pytest.mark.e2e

URL_VARIANTS = [
    REVIEW_URL,
    "http://www.blog.example/2026/11/24/chungking-express-a-love-letter-to-loneliness",
    "https://BLOG.example/2026/11/24/chungking-express-a-love-letter-to-loneliness/?utm_source=x&fbclid=y#comments",
]


async def _discussion(p: Published) -> dict[str, int]:
    w = p.world
    first = await p.post(w.member_id, "Loved the **pineapple** scene ||and the ending||")
    reply = await p.post(w.admin_id, "Same! Faye Wong steals it", reference=int(first["id"]))
    second = await p.post(
        w.member_id, "Here's a still", attachments=[{"filename": "still.png", "content_type": "image/png"}]
    )
    await p.double.add_reaction(p.thread_id, int(first["id"]), w.admin_id, "🍍")
    await p.double.poll_vote(p.thread_id, int(p.opening["id"]), w.member_id, 4)
    await p.stored(3)
    await wait_rows(p.bot, p.double, "SELECT 1 FROM poll_votes", count=1)
    await eventually(
        lambda: p.bot.db.fetchval("SELECT reactions FROM comments WHERE message_id = ?", (int(first["id"]),)),
        '{"🍍":1}',
    )
    return {"first": int(first["id"]), "reply": int(reply["id"]), "second": int(second["id"])}


async def test_comments_are_the_export_contract_with_thread_links_and_no_user_ids(published: Published) -> None:
    p = published
    ids = await _discussion(p)
    for url in URL_VARIANTS:
        status, doc, headers = await p.get("/v1/comments", params={"url": url})
        assert status == 200, doc
        assert headers["Content-Type"].startswith("application/json")
    assert doc["format"] == "matinee.comments/1"
    assert doc["review"]["slug"] == REVIEW_SLUG and doc["review"]["url"] == REVIEW_URL
    assert doc["comment_count"] == 3 and doc["participant_count"] == 2
    first, second = doc["comments"]
    assert first["id"] == str(ids["first"]) and second["id"] == str(ids["second"])
    assert [r["id"] for r in first["replies"]] == [str(ids["reply"])]
    assert first["content_html"].startswith("Loved the <strong>pineapple</strong> scene")
    assert '<span class="matinee-spoiler">and the ending</span>' in first["content_html"]
    assert first["reactions"] == {"🍍": 1}
    assert second["attachments"] and second["attachments"][0].endswith("/still.png")
    assert doc["rating_summary"]["poll"]["votes"] == 1 and doc["rating_summary"]["poll"]["counts"]["4"] == 1
    assert doc["discussions"] == [
        {
            "server": "Film Club",
            "thread_url": f"https://discord.com/channels/{p.world.guild_id}/{p.thread_id}",
            "invite_url": "https://discord.gg/filmclub",
        }
    ]
    assert isinstance(doc["seq"], int) and doc["seq"] > 0
    assert doc["page"] == {"sort": "oldest", "offset": 0, "limit": 50, "threads": 2, "next_offset": None}
    raw = json.dumps(doc)
    for user_id in (p.world.member_id, p.world.admin_id):
        assert str(user_id) not in raw
    assert "author_id" not in raw

    by_slug = await p.get("/v1/comments", params={"review": REVIEW_SLUG})
    by_id = await p.get("/v1/comments", params={"review": str(p.review.id)})
    assert by_slug[1]["comments"] == by_id[1]["comments"] == doc["comments"]


async def test_unknown_addresses_and_bad_parameters_get_clear_json_errors(published: Published) -> None:
    p = published
    cases = [
        ({"url": "https://blog.example/never-reviewed/"}, 404, "No review is known at this address"),
        ({"review": "no-such-review"}, 404, "No review has the slug"),
        ({}, 400, "exactly one of `url`"),
        ({"url": REVIEW_URL, "review": REVIEW_SLUG}, 400, "exactly one of"),
        ({"url": "javascript:alert(1)"}, 400, "absolute http(s)"),
        ({"review": REVIEW_SLUG, "sort": "random"}, 400, "`sort` must be one of"),
        ({"review": REVIEW_SLUG, "limit": "0"}, 400, "`limit` must be a whole number from 1 to 500"),
        ({"review": REVIEW_SLUG, "limit": "-5"}, 400, "`limit`"),
        ({"review": REVIEW_SLUG, "offset": "1e3"}, 400, "`offset`"),
        ({"review": REVIEW_SLUG, "callback": "x"}, 400, "Unknown parameter 'callback'"),
    ]
    for params, status, message in cases:
        got, body, headers = await p.get("/v1/comments", params=params)
        assert (got, message in body["error"]) == (status, True), (params, body)
        assert headers["Content-Type"].startswith("application/json")


async def test_review_takes_its_slug_id_or_post_address_and_old_names_keep_working(published: Published) -> None:
    p = published
    await _discussion(p)
    expected = (await p.get("/v1/comments", params={"url": REVIEW_URL}))[1]["comments"]
    for name in (REVIEW_SLUG, str(p.review.id), *URL_VARIANTS):
        status, doc, _ = await p.get("/v1/comments", params={"review": name})
        assert (status, doc["comments"]) == (200, expected), name
    status, body, _ = await p.get("/v1/comments", params={"review": "https://blog.example/never-reviewed/"})
    assert status == 404 and "No review is known at this address" in body["error"]
    status, body, _ = await p.get("/v1/comments", params={"review": "https://"})
    assert status == 400 and "`review` must be an absolute http(s) address" in body["error"]

    # The post moves (a new permalink): the review takes the new slug; the old slug and id still find it,
    # and the widget on the new page finds it too, once the change log has told the server.
    moved = "https://blog.example/2026/11/24/chungking-express/"
    await ReviewRepository(p.bot.db).update_content(p.review.id, {"url": moved, "content_hash": "moved"})
    await eventually(lambda: _slug(p, {"review": str(p.review.id)}), "chungking-express")
    for params in ({"review": REVIEW_SLUG}, {"review": str(p.review.id)}, {"url": moved}, {"review": moved}):
        status, doc, _ = await p.get("/v1/comments", params=params)
        assert (status, doc["review"]["slug"], doc["comments"]) == (200, "chungking-express", expected), params
    status, _, _ = await p.get("/v1/comments", params={"url": REVIEW_URL})
    assert status == 404  # the old address is no longer the post's


async def _slug(p: Published, params: dict[str, str]) -> str:
    return (await p.get("/v1/comments", params=params))[1]["review"]["slug"]


async def test_sort_and_paging_over_top_level_comments(published: Published) -> None:
    p = published
    ids = []
    for n in range(5):
        message = await p.post(p.world.member_id, f"comment {n}")
        ids.append(message["id"])
    await p.stored(5)
    await p.double.add_reaction(p.thread_id, int(ids[2]), p.world.admin_id, "👍")
    await p.double.add_reaction(p.thread_id, int(ids[2]), p.world.member_id, "🔥")
    await p.post(p.world.admin_id, "reply", reference=int(ids[3]))
    await p.stored(6)
    await eventually(lambda: p.bot.db.fetchval("SELECT reactions FROM comments WHERE message_id = ?", (int(ids[2]),)),
                     '{"👍":1,"🔥":1}')  # fmt: skip

    _, newest, _ = await p.get("/v1/comments", params={"review": REVIEW_SLUG, "sort": "newest", "limit": "2"})
    assert [c["id"] for c in newest["comments"]] == [ids[4], ids[3]]
    assert newest["page"]["next_offset"] == 2 and newest["page"]["threads"] == 5
    assert newest["comment_count"] == 6  # replies count, paging is by thread
    _, last, _ = await p.get("/v1/comments", params={"review": REVIEW_SLUG, "sort": "newest", "offset": "4"})
    assert [c["id"] for c in last["comments"]] == [ids[0]] and last["page"]["next_offset"] is None
    _, top, _ = await p.get("/v1/comments", params={"review": REVIEW_SLUG, "sort": "top"})
    assert [c["id"] for c in top["comments"]][:2] == [ids[2], ids[3]]
    _, oldest, _ = await p.get("/v1/comments", params={"review": REVIEW_SLUG})
    assert [c["id"] for c in oldest["comments"]] == ids


async def test_etag_answers_304_until_something_changes(published: Published) -> None:
    p = published
    await p.post(p.world.member_id, "first")
    await p.stored(1)
    params = {"review": REVIEW_SLUG}
    status, _, headers = await p.get("/v1/comments", params=params)
    etag = headers["ETag"]
    assert status == 200 and etag.startswith('W/"')
    cache = headers["Cache-Control"]
    assert "public" in cache and re.search(r"max-age=\d+", cache) and "stale-while-revalidate=" in cache
    status, body, headers = await p.get("/v1/comments", params=params, headers={"If-None-Match": etag})
    assert status == 304 and body == b"" and headers["ETag"] == etag
    async with p.session.head(p.api + "/v1/comments", params=params) as head:
        assert head.status == 200 and head.headers["ETag"] == etag and await head.read() == b""

    await p.post(p.world.member_id, "second")
    await p.stored(2)

    async def fresh() -> int:
        status, _, _ = await p.get("/v1/comments", params=params, headers={"If-None-Match": etag})
        return status

    await eventually(fresh, 200)
    _, doc, headers = await p.get("/v1/comments", params=params)
    assert headers["ETag"] != etag and doc["comment_count"] == 2


async def test_counts_for_an_index_page(published: Published) -> None:
    p = published
    await p.post(p.world.member_id, "one")
    await p.post(p.world.admin_id, "two")
    await p.double.poll_vote(p.thread_id, int(p.opening["id"]), p.world.member_id, 5)
    await p.double.poll_vote(p.thread_id, int(p.opening["id"]), p.world.admin_id, 4)
    await p.stored(2)
    await wait_rows(p.bot, p.double, "SELECT 1 FROM poll_votes", count=2)
    unknown = "https://blog.example/not-a-review/"
    status, body, headers = await p.get("/v1/counts", params=[("url", URL_VARIANTS[2]), ("url", unknown)])
    assert status == 200 and "ETag" in headers
    assert body["counts"] == {
        URL_VARIANTS[2]: {"comment_count": 2, "rating": {"average": 4.5, "votes": 2}},
        unknown: None,
    }
    status, body, _ = await p.get("/v1/counts", params=[("url", f"https://blog.example/{n}") for n in range(101)])
    assert status == 400 and "At most 100" in body["error"]
    status, body, _ = await p.get("/v1/counts")
    assert status == 400


async def test_html_snippet_is_script_free_with_a_strict_csp(published: Published) -> None:
    p = published
    await p.post(p.world.member_id, "<script>window.pwned=1</script> <img src=x onerror=alert(1)> **bold**")
    await p.stored(1)
    status, body, headers = await p.get("/v1/comments.html", params={"url": REVIEW_URL})
    html = body.decode()
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert "<script" not in html and "<img" not in html
    assert "&lt;script&gt;" in html and "<strong>bold</strong>" in html
    assert f'href="https://discord.com/channels/{p.world.guild_id}/{p.thread_id}"' in html


async def test_cors_only_for_the_allowed_origins(published: Published, blog) -> None:
    p = published
    params = {"review": REVIEW_SLUG}
    _, _, allowed = await p.get("/v1/comments", params=params, headers={"Origin": blog.origin})
    assert allowed["Access-Control-Allow-Origin"] == blog.origin and "Origin" in allowed["Vary"]
    _, _, other = await p.get("/v1/comments", params=params, headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other
    assert "Access-Control-Allow-Credentials" not in allowed


async def test_health_openapi_and_the_widget_script(published: Published) -> None:
    p = published
    status, health, headers = await p.get("/healthz")
    assert status == 200 and health["status"] == "ok" and health["role"] == "bot"
    status, spec, _ = await p.get("/v1/openapi.json")
    assert status == 200 and spec["openapi"].startswith("3.") and "/v1/comments" in spec["paths"]
    assert spec["servers"] == [{"url": p.api}]
    status, script, headers = await p.get("/embed.js")
    assert status == 200 and headers["Content-Type"].startswith("text/javascript")
    assert b"attachShadow" in script and b"document.cookie" not in script
    assert headers["Cross-Origin-Resource-Policy"] == "cross-origin"
    # Loaded with crossorigin="anonymous" from any page, so no cookie ever travels with it.
    _, _, headers = await p.get("/embed.js", headers={"Origin": "https://elsewhere.example"})
    assert headers["Access-Control-Allow-Origin"] == "*"


async def test_publishing_off_serves_the_review_without_its_discussion(published: Published) -> None:
    p = published
    await p.post(p.world.member_id, "visible while publishing")
    await p.stored(1)
    await WebRepository(p.bot.db).update_guild(p.world.guild_id, publish=False)

    async def count() -> int:
        _, doc, _ = await p.get("/v1/comments", params={"review": REVIEW_SLUG})
        return doc["comment_count"]

    await eventually(count, 0)
    _, doc, _ = await p.get("/v1/comments", params={"review": REVIEW_SLUG})
    assert doc["comments"] == [] and doc["discussions"] == []
    assert doc["rating_summary"]["poll"]["votes"] == 0


async def test_many_concurrent_first_requests_build_the_page_once(published: Published) -> None:
    p = published
    for n in range(3):
        await p.post(p.world.member_id, f"c{n}")
    await p.stored(3)
    results = await asyncio.gather(*(p.get("/v1/comments", params={"review": REVIEW_SLUG}) for _ in range(40)))
    assert {r[0] for r in results} == {200}
    assert len({r[2]["ETag"] for r in results}) == 1
