"""The page's API: acting as a member of the sandbox (over real HTTP), its guards, and its live events.

Every action goes through the double to the unmodified bot, so each test checks what Matinee
did with it: a comment stored, a vote counted, a command answered.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from bot.sandbox import Sandbox
from tests.sandbox.conftest import opening, seeded, start_sandbox, threads

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]


class Page:
    """What the browser page does: JSON requests from its own origin."""

    def __init__(self, sandbox: Sandbox, session: aiohttp.ClientSession) -> None:
        self.sandbox = sandbox
        self.session = session
        self.url = sandbox.url
        world = sandbox.world
        assert world is not None
        self.owner, (self.rosa, self.theo) = world.owner_id, world.member_ids
        self.thread = int(threads(sandbox)[0]["id"])

    async def call(self, method: str, path: str, body: Any = None, **headers: str) -> tuple[int, Any]:
        sent = {"Origin": self.url, **headers}
        async with self.session.request(method, self.url + path, json=body, headers=sent) as response:
            return response.status, await response.json()

    async def post(self, channel: int, who: int, content: str, **extra: Any) -> str:
        status, data = await self.call("POST", f"/api/channels/{channel}/messages", {"as": str(who), "content": content,
                                                                                       **extra})  # fmt: skip
        assert status == 201, data
        return data["id"]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def page() -> AsyncIterator[Page]:
    sandbox = await start_sandbox()
    try:
        await seeded(sandbox, 3)
        async with aiohttp.ClientSession() as session:
            yield Page(sandbox, session)
    finally:
        await sandbox.close()


async def rows(page: Page, sql: str, params: tuple, count: int) -> list[Any]:
    bot = page.sandbox.bot
    assert bot is not None

    async def loop() -> list[Any]:
        while True:
            found = await bot.db.fetchall(sql, params)
            if len(found) >= count:
                return found
            await asyncio.sleep(0.02)

    return await asyncio.wait_for(loop(), 20)


async def test_the_snapshot_lists_people_channels_and_commands(page: Page) -> None:
    status, state = await page.call("GET", "/api/state")
    assert status == 200
    assert [p["name"] for p in state["people"]] == ["You", "Rosa", "Theo"]
    assert state["people"][0]["owner"] is True
    names = {c["name"] for c in state["commands"]}
    assert {"film", "ask", "rate", "matinee setup", "matinee feed add"} <= names
    film = next(c for c in state["commands"] if c["name"] == "film")
    assert film["options"][0]["autocomplete"] is True
    thread = next(c for c in state["channels"] if c["id"] == str(page.thread))
    assert thread["link"].startswith(state["blog"]["url"] + "reviews/")
    assert state["blog"]["upcoming"]["title"].startswith("In the Mood for Love")


async def test_a_members_reply_in_a_review_thread_becomes_a_comment(page: Page) -> None:
    mid = await page.post(page.thread, page.rosa, "Faye's **California Dreamin'** scene!")
    found = await rows(page, "SELECT content FROM comments WHERE message_id = ?", (int(mid),), 1)
    assert "California Dreamin'" in found[0]["content"]
    status, history = await page.call("GET", f"/api/channels/{page.thread}/messages?as={page.rosa}")
    assert status == 200 and history[-1]["id"] == mid and history[-1]["author"]["id"] == str(page.rosa)


async def test_only_the_author_edits_and_only_the_author_or_staff_delete(page: Page) -> None:
    mid = await page.post(page.thread, page.theo, "first take")
    path = f"/api/channels/{page.thread}/messages/{mid}"
    status, data = await page.call("PATCH", path, {"as": str(page.rosa), "content": "hijacked"})
    assert status == 403 and "own" in data["error"]
    status, _ = await page.call("PATCH", path, {"as": str(page.theo), "content": "second take"})
    assert status == 200
    edited = await rows(page, "SELECT content FROM comments WHERE message_id = ? AND content = ?",
                        (int(mid), "second take"), 1)  # fmt: skip
    assert edited
    status, _ = await page.call("DELETE", path, {"as": str(page.rosa)})
    assert status == 403
    status, _ = await page.call("DELETE", path, {"as": str(page.owner)})  # the owner has Manage Messages
    assert status == 200
    await rows(page, "SELECT 1 FROM comments WHERE message_id = ? AND deleted = 1", (int(mid),), 1)


async def test_replies_reference_the_message(page: Page) -> None:
    first = await page.post(page.thread, page.rosa, "Which cop did you prefer?")
    second = await page.post(page.thread, page.theo, "663, easily", reply_to=first)
    assert page.sandbox.double is not None
    message = page.sandbox.double.get_message(page.thread, int(second))
    assert message["type"] == 19 and message["message_reference"]["message_id"] == first


async def test_votes_and_reactions_are_counted(page: Page) -> None:
    poll = opening(page.sandbox, threads(page.sandbox)[0])
    assert poll is not None
    path = f"/api/channels/{page.thread}/messages/{poll['id']}"
    status, _ = await page.call("POST", path + "/votes", {"as": str(page.rosa), "answer_id": 5})
    assert status == 200
    await rows(page, "SELECT 1 FROM poll_votes WHERE user_id = ?", (page.rosa,), 1)
    status, data = await page.call("POST", path + "/votes", {"as": str(page.rosa), "answer_id": 9})
    assert status == 400 and "no such answer" in data["error"]
    status, _ = await page.call("POST", path + "/reactions", {"as": str(page.theo), "emoji": "🍍"})
    assert status == 200
    assert page.sandbox.double is not None
    assert page.sandbox.double.reactions_on(int(poll["id"])) == {"🍍": [page.theo]}
    status, history = await page.call("GET", f"/api/channels/{page.thread}/messages?as={page.theo}")
    shown = next(m for m in history if m["id"] == poll["id"])
    assert shown["sandbox"]["poll_voters"]["5"] == [str(page.rosa)]
    assert shown["sandbox"]["reaction_users"] == {"🍍": [str(page.theo)]}


async def test_film_autocompletes_from_the_bot_and_answers_with_the_card(page: Page) -> None:
    body = {"as": str(page.rosa), "channel_id": str(page.thread), "name": "film", "options": {"title": "chung"},
            "focused": "title"}  # fmt: skip
    status, data = await page.call("POST", "/api/autocomplete", body)
    assert status == 200
    choice = data["choices"][0]
    assert choice["name"].startswith("Chungking Express (1994)")
    status, answer = await page.call("POST", "/api/commands", {
        "as": str(page.rosa), "channel_id": str(page.thread), "name": "film", "options": {"title": choice["value"]}})
    assert status == 200 and answer["answered"] and answer["modal"] is None
    assert page.sandbox.double is not None
    record = page.sandbox.double.interactions[int(answer["interaction_id"])]
    card = await record.wait_final_message(20)
    assert card["embeds"][0]["title"] == "Chungking Express (1994)"
    assert "Wong Kar-wai" in json.dumps(card["embeds"][0])


async def test_ask_without_a_model_answers_from_the_reviews(page: Page) -> None:
    status, answer = await page.call("POST", "/api/commands", {
        "as": str(page.theo), "channel_id": str(page.thread), "name": "ask",
        "options": {"question": "What did the review think of Stalker?"}})
    assert status == 200 and answer["answered"]
    assert page.sandbox.double is not None
    record = page.sandbox.double.interactions[int(answer["interaction_id"])]
    final = await record.wait_final_message(20)
    assert "Stalker" in json.dumps(final["embeds"])


async def test_staff_commands_are_for_staff_and_options_are_checked(page: Page) -> None:
    setup = {"channel_id": str(page.thread), "name": "matinee feed list", "options": {}}
    status, data = await page.call("POST", "/api/commands", {"as": str(page.rosa), **setup})
    assert status == 403 and "staff" in data["error"]
    status, data = await page.call("POST", "/api/commands", {
        "as": str(page.rosa), "channel_id": str(page.thread), "name": "rate", "options": {"stars": 9}})
    assert status == 400
    status, data = await page.call("POST", "/api/commands", {
        "as": str(page.rosa), "channel_id": str(page.thread), "name": "nope", "options": {}})
    assert status == 404


async def test_a_modal_is_shown_and_submitted(page: Page) -> None:
    status, answer = await page.call("POST", "/api/commands", {
        "as": str(page.owner), "channel_id": str(page.sandbox.world.general_channel_id),  # type: ignore[union-attr]
        "name": "matinee review post", "options": {}})
    assert status == 200 and answer["modal"]["title"] == "Post a review"
    values = {"review:film": "Fallen Angels (1995)", "review:title": "", "review:rating": "4",
              "review:body": "Neon, again, and even lonelier."}  # fmt: skip
    form = {"interaction_id": answer["interaction_id"], "values": values}
    status, data = await page.call("POST", "/api/modals", {"as": str(page.rosa), **form})
    assert status == 403  # someone else's form
    status, data = await page.call("POST", "/api/modals", {"as": str(page.owner), **form})
    assert status == 200 and data["answered"]
    await seeded(page.sandbox, 4)
    assert any("Fallen Angels" in t["name"] for t in threads(page.sandbox))


async def test_live_events_bring_new_messages_and_private_answers(page: Page) -> None:
    async with page.session.get(page.url + "/api/events") as stream:
        assert stream.headers["Content-Type"].startswith("text/event-stream")

        async def next_event(name: str) -> dict:
            event = None
            async for raw in stream.content:
                line = raw.decode().rstrip("\n")
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: ") and event == name:
                    return json.loads(line[6:])
            raise AssertionError("stream ended")

        await asyncio.wait_for(next_event("hello"), 10)
        await page.post(page.thread, page.theo, "live from the thread")
        message = await asyncio.wait_for(next_event("message"), 10)
        while message["content"] != "live from the thread":
            message = await asyncio.wait_for(next_event("message"), 10)
        assert message["channel_id"] == str(page.thread)

        status, _ = await page.call("POST", "/api/commands", {
            "as": str(page.rosa), "channel_id": str(page.thread), "name": "rate",
            "options": {"film": "Stalker", "stars": 4.5}})
        assert status == 200
        private = await asyncio.wait_for(next_event("message"), 10)
        while not private.get("sandbox", {}).get("only_for"):
            private = await asyncio.wait_for(next_event("message"), 10)
        assert private["sandbox"]["only_for"] == str(page.rosa)
        assert "Stalker" in private["content"] and private["flags"] & 64


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Host": "evil.example"}, 421),  # a rebound DNS name
        ({"Origin": "https://evil.example"}, 403),  # another site's page
    ],
)
async def test_requests_from_elsewhere_are_refused(page: Page, headers: dict[str, str], status: int) -> None:
    got, data = await page.call("POST", f"/api/channels/{page.thread}/messages",
                                {"as": str(page.rosa), "content": "forged"}, **headers)  # fmt: skip
    assert got == status and data["error"]


async def test_forms_from_other_sites_and_strangers_are_refused(page: Page) -> None:
    path = page.url + f"/api/channels/{page.thread}/messages"
    async with page.session.post(path, data={"as": str(page.rosa), "content": "form"}) as response:
        assert response.status == 415  # not JSON: a cross-site form cannot send JSON without a preflight
    status, data = await page.call("POST", f"/api/channels/{page.thread}/messages", {"as": "42", "content": "who?"})
    assert status == 403
    status, data = await page.call("POST", f"/api/channels/{page.thread}/messages", {"as": str(page.rosa),
                                                                                      "content": "x" * 2001})
    assert status == 400 and "2000" in data["error"]


async def test_the_page_is_served_with_a_strict_policy(page: Page) -> None:
    async with page.session.get(page.url + "/") as response:
        assert response.status == 200
        policy = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
        assert "unsafe-inline" not in policy.split("style-src")[0]
    async with page.session.get(page.url + "/static/../runner.py") as response:
        assert response.status in (403, 404)
