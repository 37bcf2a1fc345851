"""A fake ThreadTransport: Discord as a few dicts, so the discussions services run without discord.py."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import SimpleNamespace
from typing import Any

from bot.discussions.feature import DiscussionFeature
from bot.discussions.opening_prompts import PollSpec
from bot.discussions.service import IncomingMessage
from bot.discussions.summary import DiscussionSummary
from bot.discussions.transport import ChannelKind, PostedOpening, ThreadInfo, TransportError
from bot.models import Review
from bot.storage import AnnouncementRepository, DiscussionThreadRepository, ReviewRepository

GUILD = 1
TEXT_CHANNEL, FORUM_CHANNEL = 10, 11
MEMBER, OTHER = 7, 8


@dataclass
class FakePoll:
    voters: dict[int, int] = field(default_factory=dict)  # user → answer
    ended: bool = False


class FakeTransport:
    """Discord as the services see it. ``calls`` records every request; ``fail`` makes one raise."""

    def __init__(self) -> None:
        self._ids = itertools.count(1000)
        self.channels: dict[int, ChannelKind] = {TEXT_CHANNEL: "text", FORUM_CHANNEL: "forum"}
        self.threads: dict[int, ThreadInfo] = {}
        self.messages: dict[int, dict[int, IncomingMessage]] = {}  # thread → members' messages by id
        self.contents: dict[int, str] = {}  # the bot's own messages (cards, openings) by id
        self.polls: dict[int, FakePoll] = {}
        self.calls: list[tuple[str, Any]] = []
        self.fail: dict[str, TransportError] = {}  # method name → the error it raises (every time)
        # method name → the error it raises once the work is done (a lost answer), as many times as listed
        self.lose_answer: dict[str, list[TransportError]] = {}
        self.openings: dict[int, list[int]] = {}  # thread → the bot's opening messages posted in it
        self.nonces: dict[str, int] = {}  # opening nonces Discord still remembers (its dedupe window) → message
        self.latency = 0.0  # seconds each request takes, to let concurrent callers interleave

    def new_id(self) -> int:
        return next(self._ids)

    def ids_from(self, start: int) -> None:
        """Give later messages ids from ``start`` on (a snowflake: "posted after that moment")."""
        self._ids = itertools.count(start)

    async def _request(self, method: str, *args: Any) -> None:
        self.calls.append((method, args))
        await asyncio.sleep(self.latency)
        if method in self.fail:
            raise self.fail[method]

    def _lost(self, method: str) -> None:
        """The request did its work; raise if its answer is to be lost."""
        if self.lose_answer.get(method):
            raise self.lose_answer[method].pop(0)

    def called(self, method: str) -> list[Any]:
        return [args for name, args in self.calls if name == method]

    # -- test set-up -------------------------------------------------------------------

    def add_thread(self, thread_id: int | None = None, *, name: str = "a thread", archived: bool = False) -> int:
        thread_id = thread_id or self.new_id()
        self.threads[thread_id] = ThreadInfo(thread_id, name, archived=archived)
        self.messages.setdefault(thread_id, {})
        return thread_id

    def post(self, thread_id: int, author_id: int = MEMBER, content: str = "hi", **fields: Any) -> IncomingMessage:
        message = IncomingMessage(
            message_id=fields.pop("message_id", None) or self.new_id(),
            guild_id=GUILD,
            channel_id=thread_id,
            author_id=author_id,
            author_name=f"member {author_id}",
            author_username=f"member{author_id}",
            content=content,
            created_at="2026-01-01T00:00:00.000Z",
            in_thread=True,
            **fields,
        )
        self.messages.setdefault(thread_id, {})[message.message_id] = message
        return message

    # -- ThreadTransport ---------------------------------------------------------------

    def open_threads(self, thread_ids: Iterable[int]) -> list[int]:
        return [t for t in thread_ids if t in self.threads and not self.threads[t].archived]

    async def get_thread(self, thread_id: int) -> ThreadInfo | None:
        await self._request("get_thread", thread_id)
        return self.threads.get(thread_id)

    async def create_thread(
        self, channel_id: int, message_id: int, *, name: str, auto_archive_minutes: int
    ) -> ThreadInfo:
        await self._request("create_thread", channel_id, message_id, name, auto_archive_minutes)
        if self.channels.get(channel_id) != "text" or message_id not in self.contents:
            raise TransportError("no such message in a text channel", status=404)
        if message_id not in self.threads:  # a thread started from a message shares its id
            self.threads[message_id] = ThreadInfo(message_id, name, auto_archive_minutes=auto_archive_minutes)
            self.messages[message_id] = {}
            self._lost("create_thread")
        return self.threads[message_id]

    async def edit_thread(
        self,
        thread_id: int,
        *,
        name: str | None = None,
        auto_archive_minutes: int | None = None,
        archived: bool | None = None,
        locked: bool | None = None,
    ) -> ThreadInfo:
        await self._request("edit_thread", thread_id, name, auto_archive_minutes, archived, locked)
        thread = self.threads[thread_id]
        changes = {"name": name, "auto_archive_minutes": auto_archive_minutes, "archived": archived, "locked": locked}
        self.threads[thread_id] = replace(thread, **{k: v for k, v in changes.items() if v is not None})
        return self.threads[thread_id]

    async def channel_kind(self, channel_id: int) -> ChannelKind:
        return self.channels.get(channel_id, "other")

    async def send_review_card(self, channel_id: int, review: Review) -> int:
        await self._request("send_review_card", channel_id, review.id)
        message_id = self.new_id()
        self.contents[message_id] = f"card of {review.title}"
        return message_id

    async def create_forum_post(
        self, channel_id: int, review: Review, *, name: str, auto_archive_minutes: int
    ) -> tuple[int, ThreadInfo]:
        await self._request("create_forum_post", channel_id, review.id, name)
        thread_id = self.add_thread(name=name)
        self.threads[thread_id] = replace(self.threads[thread_id], auto_archive_minutes=auto_archive_minutes)
        self.contents[thread_id] = f"card of {review.title}"  # a forum post's starter shares the thread's id
        return thread_id, self.threads[thread_id]

    async def post_opening(self, thread_id: int, content: str, poll: PollSpec, *, nonce: str) -> PostedOpening:
        await self._request("post_opening", thread_id, content, poll)
        if nonce in self.nonces:  # enforce_nonce: the message already sent, not a copy
            return PostedOpening(self.nonces[nonce], "2026-01-08T00:00:00.000Z")
        message_id = self.new_id()
        self.contents[message_id] = content
        self.polls[message_id] = FakePoll()
        self.openings.setdefault(thread_id, []).append(message_id)
        self.nonces[nonce] = message_id
        self._lost("post_opening")
        return PostedOpening(message_id, "2026-01-08T00:00:00.000Z")

    async def find_opening(self, thread_id: int) -> PostedOpening | None:
        await self._request("find_opening", thread_id)
        found = self.openings.get(thread_id)
        return PostedOpening(found[0], "2026-01-08T00:00:00.000Z") if found else None

    async def messages_after(self, thread_id: int, after_id: int) -> AsyncIterator[IncomingMessage]:
        await self._request("messages_after", thread_id, after_id)
        for message_id in sorted(self.messages.get(thread_id, {})):
            if message_id > after_id:
                yield self.messages[thread_id][message_id]

    async def messages_before(self, thread_id: int, before_id: int, limit: int) -> Sequence[IncomingMessage]:
        await self._request("messages_before", thread_id, before_id, limit)
        older = [m for i, m in self.messages.get(thread_id, {}).items() if i < before_id]
        return sorted(older, key=lambda m: m.message_id, reverse=True)[:limit]

    async def message_content(self, thread_id: int, message_id: int) -> str:
        await self._request("message_content", thread_id, message_id)
        return self.contents[message_id]

    async def edit_message(self, thread_id: int, message_id: int, content: str) -> None:
        await self._request("edit_message", thread_id, message_id, content)
        self.contents[message_id] = content

    async def poll_voters(self, thread_id: int, message_id: int) -> Mapping[int, int] | None:
        await self._request("poll_voters", thread_id, message_id)
        poll = self.polls.get(message_id)
        return None if poll is None or poll.ended else dict(poll.voters)

    async def poll_results(self, thread_id: int, message_id: int) -> Mapping[int, int] | None:
        await self._request("poll_results", thread_id, message_id)
        poll = self.polls.get(message_id)
        if poll is None or not poll.ended:
            return None
        counts = dict.fromkeys(range(1, 6), 0)
        for answer in poll.voters.values():
            counts[answer] += 1
        return counts


async def statistics_only(review, comments, poll_counts, *, spoiler: bool) -> DiscussionSummary:
    return DiscussionSummary(f"{len(comments)} comments, spoiler={spoiler}", False)


def make_feature(db, writer, transport: FakeTransport, **kw: Any) -> DiscussionFeature:
    kw.setdefault("summarise", statistics_only)
    return DiscussionFeature(db, writer, transport, **kw)


async def open_review_thread(
    db,
    transport: FakeTransport,
    feature: DiscussionFeature,
    slug: str = "heat",
    film_id: int | None = None,
    *,
    guild_id: int = GUILD,
) -> SimpleNamespace:
    """A stored review announced in the text channel, with its thread and opening poll."""
    review, _ = await ReviewRepository(db).upsert(
        source="s", source_key=slug, slug=slug, title=slug, film_id=film_id, content_hash="1"
    )
    message_id = await transport.send_review_card(TEXT_CHANNEL, review)
    announcement = await AnnouncementRepository(db).record_sent(review.id, guild_id, TEXT_CHANNEL, message_id)
    thread = await feature.opening.open(review, announcement)
    opening_id = (await DiscussionThreadRepository(db).get(thread.id)).opening_message_id
    return SimpleNamespace(review=review, thread_id=thread.id, opening_id=opening_id)
