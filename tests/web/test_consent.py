"""Consent and moderation, end to end: nothing is public until staff and members say so, and removals go live.

Each "the API never serves…" case has its own test: a hidden comment, an opted-out
member, a member who did not opt in, a deleted comment (user ids: test_api).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from bot.web.consent import BLOG_NOTICE_MARK
from tests.e2e._discussions import eventually, open_thread
from tests.web._seed import read_event
from tests.web.conftest import REVIEW_SLUG, Published, free_port, publish_discussion

pytestmark = pytest.mark.e2e
EPHEMERAL = 1 << 6


async def _ids(p: Published) -> list[str]:
    _, doc, _ = await p.get("/v1/comments", params={"review": REVIEW_SLUG})
    ids = []

    def walk(nodes: list[dict[str, Any]]) -> None:
        for node in nodes:
            ids.append(node["id"])
            walk(node["replies"])

    walk(doc["comments"])
    return sorted(ids)


async def _command(p: Published, user_id: int, name: str, options: dict | None = None, **kwargs: Any) -> str:
    record = await p.double.invoke_command(p.world.guild_id, p.thread_id, user_id, name, options, **kwargs)
    response = await record.wait_response(timeout=10)
    assert response["data"]["flags"] & EPHEMERAL, response
    return response["data"]["content"]


class Stream:
    """An open /v1/events connection."""

    def __init__(self, p: Published) -> None:
        self.p = p
        self.response: Any = None

    async def __aenter__(self) -> Stream:
        # Like the widget: resume from the position of the list as fetched, so no change falls in between.
        _, doc, _ = await self.p.get("/v1/comments", params={"review": REVIEW_SLUG})
        params = {"review": REVIEW_SLUG, "since": str(doc["seq"])}
        self.response = await self.p.session.get(self.p.api + "/v1/events", params=params)
        assert self.response.status == 200
        ready = await read_event(self.response)
        assert ready["event"] == "ready"
        return self

    async def next(self, name: str, timeout: float = 10.0) -> dict[str, Any]:
        """The next event called ``name`` (others skipped)."""

        async def find() -> dict[str, Any]:
            while True:
                event = await read_event(self.response)
                if event.get("event") == name:
                    return json.loads(event["data"])

        return await asyncio.wait_for(find(), timeout)

    async def __aexit__(self, *exc: object) -> None:
        self.response.close()


async def test_publishing_is_off_until_staff_turn_it_on_and_members_are_told(run_bot, double, world) -> None:
    port = free_port()
    api = f"http://127.0.0.1:{port}"
    bot = await run_bot(web_port=port, public_url=api)
    opened = await open_thread(bot, double, world, url="https://blog.example/chungking/", slug="chungking")
    assert BLOG_NOTICE_MARK not in opened.opening["content"]
    await double.post_message(opened.thread_id, world.member_id, "my take")
    import aiohttp

    async with aiohttp.ClientSession() as session:

        async def count() -> int:
            async with session.get(api + "/v1/comments", params={"review": "chungking"}) as response:
                return (await response.json())["comment_count"]

        await eventually(count, 0)  # stored, but not public: publishing is off
        p = Published(bot, double, world, api, opened.thread_id, opened.review, opened.opening, session)

        denied = await double.invoke_command(world.guild_id, opened.thread_id, world.member_id, "matinee web",
                                             {"publish": "on"})  # fmt: skip
        assert "permission" in (await denied.wait_response())["data"]["content"].lower()
        assert await count() == 0

        reply = await _command(p, world.admin_id, "matinee web", {"publish": "on", "invite": "discord.gg/FilmClub"})
        assert "Publishing is on" in reply and "https://discord.gg/FilmClub" in reply and "embed.js" in reply
        await eventually(count, 1)

        # Members are told, in the threads that exist and in new ones.
        def opening_text() -> str:
            return double.get_message(opened.thread_id, int(opened.opening["id"]))["content"]

        await double.wait_until(lambda: BLOG_NOTICE_MARK in opening_text(), timeout=10)
        assert "/privacy blog hide" in opening_text()
        later = await open_thread(bot, double, world, url="https://blog.example/paris-texas/", slug="paris-texas",
                                  source_key="paris.md", title="Paris, Texas", film_title="Paris, Texas")  # fmt: skip
        assert BLOG_NOTICE_MARK in later.opening["content"]

        reply = await _command(p, world.admin_id, "matinee web", {"consent": "opt-in"})
        assert "consent: opt-in" in reply
        await double.wait_until(lambda: "/privacy blog show" in opening_text(), timeout=10)
        await eventually(count, 0)

        await _command(p, world.admin_id, "matinee web", {"publish": "off"})
        await double.wait_until(lambda: BLOG_NOTICE_MARK not in opening_text(), timeout=10)
        assert "Vote in the poll below" in opening_text()


async def test_a_hidden_comment_is_never_served_and_leaves_open_pages_live(published: Published) -> None:
    p = published
    keep = await p.post(p.world.member_id, "a fine comment")
    rude = await p.post(p.world.member_id, "a rude comment")
    await p.stored(2)
    assert await _ids(p) == sorted([keep["id"], rude["id"]])
    async with Stream(p) as stream:
        refused = await _command(p, p.world.member_id, "Hide from blog", command_type=3, target_id=int(rude["id"]))
        assert "permission" in refused.lower()
        done = await _command(p, p.world.admin_id, "Hide from blog", command_type=3, target_id=int(rude["id"]))
        assert "Hidden from the blog" in done
        removed = await stream.next("remove")
        assert removed == {"id": rude["id"], "comment_count": 1}
        assert await _ids(p) == [keep["id"]]
        assert any(m["id"] == rude["id"] for m in p.double.messages_in(p.thread_id))  # still in Discord

        await _command(p, p.world.admin_id, "Show on blog", command_type=3, target_id=int(rude["id"]))
        back = await stream.next("comment")
        assert back["comment"]["id"] == rude["id"]
    assert await _ids(p) == sorted([keep["id"], rude["id"]])
    not_a_comment = await _command(
        p, p.world.admin_id, "Hide from blog", command_type=3, target_id=int(p.opening["id"])
    )
    assert "isn't a comment" in not_a_comment


async def test_a_member_who_opted_out_is_never_served(published: Published) -> None:
    p = published
    mine = await p.post(p.world.member_id, "mine")
    theirs = await p.post(p.world.admin_id, "theirs")
    await p.stored(2)
    async with Stream(p) as stream:
        said = await _command(p, p.world.member_id, "privacy blog", {"choice": "hide"})
        assert "not shown on the blog" in said
        await stream.next("reload")
        assert await _ids(p) == [theirs["id"]]
    later = await p.post(p.world.member_id, "said after hiding")
    await p.stored(3)
    await eventually(lambda: _ids(p), [theirs["id"]])
    said = await _command(p, p.world.member_id, "privacy blog", {"choice": "show"})
    assert "appear on the blog" in said
    await eventually(lambda: _ids(p), sorted([mine["id"], theirs["id"], later["id"]]))


async def test_in_opt_in_mode_only_members_who_said_yes_are_served(run_bot, double, world, blog) -> None:
    p = await publish_discussion(run_bot, double, world)
    try:
        mine = await p.post(world.member_id, "mine")
        await p.post(world.admin_id, "theirs")
        await p.stored(2)
        await _command(p, world.admin_id, "matinee web", {"consent": "opt-in"})
        await eventually(lambda: _ids(p), [])
        status = await _command(p, world.member_id, "privacy blog")
        assert "only members who opted in" in status
        await _command(p, world.member_id, "privacy blog", {"choice": "show"})
        await eventually(lambda: _ids(p), [mine["id"]])
    finally:
        await p.session.close()


async def test_a_deleted_comment_is_never_served_and_disappears_live(published: Published) -> None:
    p = published
    gone = await p.post(p.world.member_id, "I'll delete this")
    stays = await p.post(p.world.member_id, "this stays")
    await p.stored(2)
    async with Stream(p) as stream:
        await p.double.delete_message(p.thread_id, int(gone["id"]))
        removed = await stream.next("remove")
        assert removed["id"] == gone["id"] and removed["comment_count"] == 1
    assert await _ids(p) == [stays["id"]]
    _, html, _ = await p.get("/v1/comments.html", params={"review": REVIEW_SLUG})
    assert b"I'll delete this" not in html


async def test_live_events_carry_comments_edits_votes_and_no_user_ids(published: Published) -> None:
    p = published
    async with Stream(p) as stream:
        first = await p.post(p.world.member_id, "hello **there**")
        event = await stream.next("comment")
        assert event["comment"]["id"] == first["id"]
        assert event["comment"]["content_html"] == "hello <strong>there</strong>"
        assert event["parent_id"] is None and event["comment_count"] == 1
        reply = await p.post(p.world.admin_id, "hi", reference=int(first["id"]))
        event = await stream.next("comment")
        assert event["comment"]["id"] == reply["id"] and event["parent_id"] == first["id"]
        await p.double.edit_message(p.thread_id, int(first["id"]), "hello, edited")
        event = await stream.next("comment")
        assert event["comment"]["content"] == "hello, edited" and event["comment"]["edited_at"]
        await p.double.add_reaction(p.thread_id, int(first["id"]), p.world.admin_id, "🎬")
        event = await stream.next("comment")
        assert event["comment"]["reactions"] == {"🎬": 1}
        await p.double.poll_vote(p.thread_id, int(p.opening["id"]), p.world.member_id, 3)
        event = await stream.next("rating")
        assert event["rating_summary"]["poll"]["counts"]["3"] == 1
        raw = json.dumps(event)
        assert str(p.world.member_id) not in raw and str(p.world.admin_id) not in raw
