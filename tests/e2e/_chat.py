"""Helpers for the chat e2e tests: a bot wired to the OpenAI stub, a review thread with comments."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from bot.discord_double import DiscordDouble
from bot.settings import Secret
from bot.storage import AnnouncementRepository, ReviewRepository
from tests.doubles.openai_stub import OpenAIStub

CHAT_EXTENSIONS = ["cogs.chat"]

REVIEW_BODY = (
    "Wong Kar-wai's Hong Kong, shot on the run by Christopher Doyle. Cop 223 buys tins of pineapple that "
    "expire on May 1st, and Faye Wong plays California Dreamin' until the song becomes the film's heartbeat."
)


def llm_settings(stub: OpenAIStub, **overrides: Any) -> dict[str, Any]:
    """Settings overrides pointing the real AsyncOpenAI client at the stub, with small timeouts."""
    settings: dict[str, Any] = {
        "openai_base_url": stub.base_url,
        "openai_api_key": Secret("test"),
        "openai_max_retries": 1,
        "openai_timeout_seconds": 2.0,
    }
    settings.update(overrides)
    return settings


async def start_chat_bot(run_bot: Any, stub: OpenAIStub | None, *, edit_interval: float | None = None, **overrides):
    """Start MatineeBot with only the chat extension (and the stub as its model when given)."""
    settings = llm_settings(stub, **overrides) if stub is not None else overrides
    bot = await run_bot(extensions=CHAT_EXTENSIONS, **settings)
    if edit_interval is not None:
        bot.get_cog("Chat").service.edit_interval = edit_interval
    return bot


async def review_thread(bot: Any, double: DiscordDouble, world: SimpleNamespace, *, spoiler: bool = False):
    """A stored review announced in the text channel with a discussion thread, and two comments."""
    review, _ = await ReviewRepository(bot.db).upsert(
        source="markdown",
        source_key="chungking.md",
        slug="chungking-express",
        title="Chungking Express: A Love Letter to Loneliness",
        url="https://blog.example/chungking-express",
        author="Wren",
        film_title="Chungking Express",
        film_year=1994,
        rating=4.5,
        excerpt="Wong Kar-wai's Hong Kong, with Faye Wong and canned pineapple.",
        body_md=REVIEW_BODY,
        content_hash="v1",
    )
    announcement_message = await double.post_message(world.text_channel_id, double.bot_user_id, "New review!")
    thread = await double.add_thread(
        world.text_channel_id, "Chungking Express", message_id=int(announcement_message["id"])
    )
    thread_id = int(thread["id"])
    await AnnouncementRepository(bot.db).record_sent(
        review.id,
        world.guild_id,
        world.text_channel_id,
        int(announcement_message["id"]),
        thread_id=thread_id,
        spoiler=spoiler,
    )
    comments = [
        (world.member_id, "Mo Member", "The jukebox scene with California Dreamin' is pure joy."),
        (world.admin_id, "Ada Admin", "I keep thinking about the expiring pineapple tins."),
    ]
    for i, (author_id, name, content) in enumerate(comments):
        await bot.db.execute(
            "INSERT INTO comments (message_id, review_id, guild_id, thread_id, author_id, author_name, content, "
            "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (thread_id + 1 + i, review.id, world.guild_id, thread_id, author_id, name, content, f"2026-01-0{i + 1}"),
        )
    await wait_channel_known(bot, thread_id)
    return SimpleNamespace(review=review, thread_id=thread_id, comments=comments)


async def wait_channel_known(bot: Any, channel_id: int, timeout: float = 5.0) -> None:
    async def loop() -> None:
        while bot.get_channel(channel_id) is None:
            await asyncio.sleep(0.01)

    await asyncio.wait_for(loop(), timeout)


def mention(double: DiscordDouble) -> str:
    return f"<@{double.bot_user_id}>"


def bot_messages(double: DiscordDouble, channel_id: int) -> list[dict[str, Any]]:
    return [m for m in double.messages_in(channel_id) if m["author"]["id"] == str(double.bot_user_id)]


async def wait_bot_reply(double: DiscordDouble, channel_id: int, *, count: int = 1, timeout: float = 10.0):
    """Wait until the bot has posted ``count`` messages in the channel; returns the last one."""
    await double.wait_until(lambda: len(bot_messages(double, channel_id)) >= count, timeout=timeout)
    return bot_messages(double, channel_id)[count - 1]


async def wait_reply_text(double: DiscordDouble, channel_id: int, predicate, *, timeout: float = 10.0) -> str:
    """Wait until the bot's messages in the channel, joined, satisfy ``predicate``; returns that text."""

    def joined() -> str | None:
        text = "\n".join(m["content"] for m in bot_messages(double, channel_id))
        return text if predicate(text) else None

    return await double.wait_until(joined, timeout=timeout)


def chat_posts(double: DiscordDouble, channel_id: int):
    return double.find_requests("POST", rf"/channels/{channel_id}/messages$")


def chat_patches(double: DiscordDouble, channel_id: int):
    return double.find_requests("PATCH", rf"/channels/{channel_id}/messages/\d+$")


def completion_requests(stub: OpenAIStub) -> list[dict[str, Any]]:
    return [r for r in stub.requests if r["path"] == "/v1/chat/completions"]


def prompt_text(request: dict[str, Any]) -> str:
    return "\n".join(str(m.get("content") or "") for m in request["json"]["messages"])
