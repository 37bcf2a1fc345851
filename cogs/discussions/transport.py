"""The Discord side of discussions: threads, opening messages, history and polls through discord.py.

Implements :class:`bot.discussions.transport.ThreadTransport`; every
``discord.HTTPException`` becomes a ``TransportError``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping, Sequence

import discord

from bot.discussions.opening_prompts import PollSpec
from bot.discussions.service import IncomingMessage
from bot.discussions.transport import ChannelKind, PostedOpening, ThreadInfo, TransportError
from bot.models import Review
from cogs._ui import NO_MENTIONS

from .render import build_poll, incoming, iso, starter_embed

__all__ = ["DiscordThreadTransport"]

THREAD_ALREADY_EXISTS = 160004
OPENING_SEARCH = 50  # how many of a thread's first messages are searched for the bot's own opening


def _info(thread: discord.Thread) -> ThreadInfo:
    return ThreadInfo(
        id=thread.id,
        name=thread.name,
        archived=thread.archived,
        locked=thread.locked,
        auto_archive_minutes=thread.auto_archive_duration,
    )


def _posted(message: discord.Message) -> PostedOpening:
    expires = iso(message.poll.expires_at) if message.poll is not None else None
    return PostedOpening(message.id, expires)


def _error(exc: discord.HTTPException) -> TransportError:
    return TransportError(f"Discord error {exc.status}: {exc.text[:200]}", status=exc.status)


class DiscordThreadTransport:
    def __init__(self, bot: discord.Client) -> None:
        self.bot = bot

    # -- threads -----------------------------------------------------------------------

    def open_threads(self, thread_ids: Iterable[int]) -> list[int]:
        open_ids = []
        for thread_id in thread_ids:
            channel = self.bot.get_channel(thread_id)
            if isinstance(channel, discord.Thread) and not channel.archived:
                open_ids.append(thread_id)
        return open_ids

    async def _thread(self, thread_id: int) -> discord.Thread | None:
        channel = self.bot.get_channel(thread_id)
        if isinstance(channel, discord.Thread):
            return channel
        try:
            fetched = await self.bot.fetch_channel(thread_id)
        except discord.HTTPException:
            return None
        return fetched if isinstance(fetched, discord.Thread) else None

    async def get_thread(self, thread_id: int) -> ThreadInfo | None:
        thread = await self._thread(thread_id)
        return _info(thread) if thread is not None else None

    async def create_thread(
        self, channel_id: int, message_id: int, *, name: str, auto_archive_minutes: int
    ) -> ThreadInfo:
        channel = self.bot.get_channel(channel_id)
        if not isinstance(channel, discord.TextChannel):
            raise TransportError(f"channel {channel_id} is not a text channel I can see")
        try:
            thread = await channel.get_partial_message(message_id).create_thread(
                name=name,
                auto_archive_duration=auto_archive_minutes,  # type: ignore[arg-type]
            )
        except discord.HTTPException as exc:
            if exc.code != THREAD_ALREADY_EXISTS:
                raise _error(exc) from None
            # A thread started from a message shares the message's id.
            found = await self._thread(message_id)
            if found is None:
                raise _error(exc) from None
            thread = found
        return _info(thread)

    async def edit_thread(
        self,
        thread_id: int,
        *,
        name: str | None = None,
        auto_archive_minutes: int | None = None,
        archived: bool | None = None,
        locked: bool | None = None,
    ) -> ThreadInfo:
        thread = await self._thread(thread_id)
        if thread is None:
            raise TransportError(f"thread {thread_id} is gone", status=404)
        changes: dict[str, object] = {}
        if name is not None:
            changes["name"] = name
        if auto_archive_minutes is not None:
            changes["auto_archive_duration"] = auto_archive_minutes
        if archived is not None:
            changes["archived"] = archived
        if locked is not None:
            changes["locked"] = locked
        try:
            return _info(await thread.edit(**changes))  # type: ignore[arg-type]
        except discord.HTTPException as exc:
            raise _error(exc) from None

    # -- channels ----------------------------------------------------------------------

    async def channel_kind(self, channel_id: int) -> ChannelKind:
        channel = self.bot.get_channel(channel_id)
        if isinstance(channel, discord.ForumChannel):
            return "forum"
        if isinstance(channel, discord.TextChannel):
            return "text"
        return "other"

    async def send_review_card(self, channel_id: int, review: Review) -> int:
        channel = self.bot.get_channel(channel_id)
        if not isinstance(channel, discord.TextChannel):
            raise TransportError(f"channel {channel_id} is not a text channel I can see")
        try:
            message = await channel.send(embed=starter_embed(review), allowed_mentions=NO_MENTIONS)
        except discord.HTTPException as exc:
            raise _error(exc) from None
        return message.id

    async def create_forum_post(
        self, channel_id: int, review: Review, *, name: str, auto_archive_minutes: int
    ) -> tuple[int, ThreadInfo]:
        channel = self.bot.get_channel(channel_id)
        if not isinstance(channel, discord.ForumChannel):
            raise TransportError(f"channel {channel_id} is not a forum I can see")
        try:
            created = await channel.create_thread(
                name=name,
                embed=starter_embed(review),
                auto_archive_duration=auto_archive_minutes,  # type: ignore[arg-type]
                allowed_mentions=NO_MENTIONS,
            )
        except discord.HTTPException as exc:
            raise _error(exc) from None
        return created.message.id, _info(created.thread)

    # -- messages ----------------------------------------------------------------------

    def _messageable(self, thread_id: int) -> discord.abc.Messageable:
        channel = self.bot.get_channel(thread_id)
        if isinstance(channel, discord.Thread):
            return channel
        return self.bot.get_partial_messageable(thread_id)

    async def post_opening(self, thread_id: int, content: str, poll: PollSpec, *, nonce: str) -> PostedOpening:
        try:
            # discord.py sends a nonce with enforce_nonce, so its own retry of a 5xx cannot post a copy.
            message = await self._messageable(thread_id).send(
                content, poll=build_poll(poll), nonce=nonce, allowed_mentions=NO_MENTIONS
            )
        except discord.HTTPException as exc:
            raise _error(exc) from None
        return _posted(message)

    async def find_opening(self, thread_id: int) -> PostedOpening | None:
        thread = await self._thread(thread_id)
        if thread is None:
            raise TransportError(f"thread {thread_id} is gone", status=404)
        me = self.bot.user.id if self.bot.user is not None else None
        try:
            # The opening follows the thread's creation at once: it is among its first messages.
            first = thread.history(limit=OPENING_SEARCH, after=discord.Object(thread_id), oldest_first=True)
            async for message in first:
                if message.author.id == me and message.poll is not None:
                    return _posted(message)
        except discord.HTTPException as exc:
            raise _error(exc) from None
        return None

    async def messages_after(self, thread_id: int, after_id: int) -> AsyncIterator[IncomingMessage]:
        thread = await self._thread(thread_id)
        if thread is None:
            raise TransportError(f"thread {thread_id} is gone", status=404)
        try:
            async for message in thread.history(limit=None, after=discord.Object(after_id), oldest_first=True):
                yield incoming(message)
        except discord.HTTPException as exc:
            raise _error(exc) from None

    async def messages_before(self, thread_id: int, before_id: int, limit: int) -> Sequence[IncomingMessage]:
        thread = await self._thread(thread_id)
        if thread is None:
            raise TransportError(f"thread {thread_id} is gone", status=404)
        try:
            return [incoming(m) async for m in thread.history(limit=limit, before=discord.Object(before_id))]
        except discord.HTTPException as exc:
            raise _error(exc) from None

    async def _fetch(self, thread_id: int, message_id: int) -> discord.Message:
        try:
            return await self._messageable(thread_id).fetch_message(message_id)
        except discord.HTTPException as exc:
            raise _error(exc) from None

    async def message_content(self, thread_id: int, message_id: int) -> str:
        return (await self._fetch(thread_id, message_id)).content

    async def edit_message(self, thread_id: int, message_id: int, content: str) -> None:
        target = self.bot.get_partial_messageable(thread_id).get_partial_message(message_id)
        try:
            await target.edit(content=content, allowed_mentions=NO_MENTIONS)
        except discord.HTTPException as exc:
            raise _error(exc) from None

    # -- polls -------------------------------------------------------------------------

    async def poll_voters(self, thread_id: int, message_id: int) -> Mapping[int, int] | None:
        message = await self._fetch(thread_id, message_id)
        if message.poll is None or message.poll.is_finalised():
            return None
        voters: dict[int, int] = {}
        try:
            for answer in message.poll.answers:
                async for voter in answer.voters(limit=None):
                    voters[voter.id] = answer.id
        except discord.HTTPException as exc:
            raise _error(exc) from None
        return voters

    async def poll_results(self, thread_id: int, message_id: int) -> Mapping[int, int] | None:
        message = await self._fetch(thread_id, message_id)
        poll = message.poll
        if poll is None or not poll.is_finalised():
            return None
        return {answer.id: answer.vote_count for answer in poll.answers}
