"""Blog comments on the public surface: one order with Discord's, marked, nested, live, and published by the rules.

Blog comments are public already (they are on the blog), so a member's consent does not
apply to them; but they appear only for a review a publishing server announced, and a
comment staff hid from the blog stays hidden. Rows are written the way the bridge writes
them (:meth:`CommentFeedRepository.apply`).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from bot.storage.blog_comments import CommentChanges, CommentFeedRepository, NewComment
from bot.storage.web import WebRepository
from bot.timestamps import utc_iso
from tests.e2e._discussions import eventually
from tests.web._seed import GUILD, read_event, seed, serving

ANCHOR = "https://blog.example/2026/11/24/chungking-express/#comment-12"


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def add_blog_comment(db, author: str = "Ana", content: str = "Loved the **pineapple** scene",
                           at: str = "2026-11-24T09:00:00.000Z", guid: str = "c12") -> int:  # fmt: skip
    feeds = CommentFeedRepository(db)
    await feeds.apply(1, CommentChanges(new=[NewComment(guid, author, content, ANCHOR, at, mirror=False)]), now=now())
    return -int(await db.fetchval("SELECT id FROM blog_comments WHERE guid = ?", (guid,)))


async def comments(session, **params) -> dict:
    async with session.get("/v1/comments", params={"review": "chungking-express", **params}) as response:
        assert response.status == 200
        return json.loads(await response.read())


async def test_blog_and_discord_comments_come_in_one_order_each_marked_with_replies_nested(tmp_path: Path) -> None:
    seeded = await seed(tmp_path / "m.db")
    early = await seeded.comment("Discord first")  # created "now + n seconds": after the blog comment's date
    blog_id = await add_blog_comment(seeded.db)
    await seeded.comment("An answer from Discord", reply_to=blog_id)
    async with serving(seeded.db) as (_, session):
        doc = await comments(session)
    assert [(c["author"], c["source"]) for c in doc["comments"]] == [("Ana", "blog"), ("Mo", "discord")]
    blog = doc["comments"][0]
    assert blog["id"] == f"blog-{-blog_id}" and blog["url"] == ANCHOR and "author_id" not in blog
    assert blog["content_html"] == "Loved the <strong>pineapple</strong> scene"
    assert [(r["content"], r["source"]) for r in blog["replies"]] == [("An answer from Discord", "discord")]
    assert doc["comments"][1]["id"] == str(early)
    assert doc["comment_count"] == 3
    await seeded.db.close()


async def test_consent_does_not_apply_to_blog_comments_but_publishing_and_hiding_do(tmp_path: Path) -> None:
    seeded = await seed(tmp_path / "m.db", consent="opt-in")  # nobody opted in: no Discord comment is public
    await seeded.comment("A member who never said yes")
    blog_id = await add_blog_comment(seeded.db)
    web = WebRepository(seeded.db)
    async with serving(seeded.db) as (_, session):

        async def sources() -> list[str]:  # the page cache learns of changes from the log, shortly after
            return [c["source"] for c in (await comments(session))["comments"]]

        assert await sources() == ["blog"]
        await web.set_hidden(blog_id, True)  # staff: "Hide from blog" on its mirror
        await eventually(sources, [])
        await web.set_hidden(blog_id, False)
        await eventually(sources, ["blog"])
        await web.update_guild(GUILD, publish=False)  # the only server discussing it stops publishing
        await eventually(sources, [])
    await seeded.db.close()


async def test_a_new_blog_comment_and_its_deletion_reach_open_pages_live(tmp_path: Path) -> None:
    seeded = await seed(tmp_path / "m.db")
    async with serving(seeded.db) as (_, session):
        doc = await comments(session)
        events = await session.get("/v1/events", params={"review": "chungking-express", "since": str(doc["seq"])})
        assert (await read_event(events))["event"] == "ready"
        blog_id = await add_blog_comment(seeded.db, at=utc_iso(now()))
        event = await read_event(events)
        data = json.loads(event["data"])
        assert event["event"] == "comment" and data["comment"]["id"] == f"blog-{-blog_id}"
        assert data["comment"]["source"] == "blog" and data["parent_id"] is None
        await CommentFeedRepository(seeded.db).apply(1, CommentChanges(deleted=[-blog_id]), now=now())
        event = await read_event(events)
        assert event["event"] == "remove" and json.loads(event["data"])["id"] == f"blog-{-blog_id}"
        events.close()
    await seeded.db.close()
