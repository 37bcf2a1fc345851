"""What the discussions feature needs Discord to do, as a protocol with no discord.py types.

The services in ``bot.discussions`` decide *what* happens (which thread a review
gets, when the opening is posted, where a backfill resumes); an implementation
of :class:`ThreadTransport` does it on Discord. The bot's implementation lives
next to the cog (``cogs/discussions/transport.py``); unit tests use a fake.
Every method raises :class:`TransportError` when Discord refuses or fails, so a
service never sees an ``HTTPException``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from ..models import Review
from .opening_prompts import PollSpec
from .service import IncomingMessage

__all__ = ["ChannelKind", "PostedOpening", "ThreadInfo", "ThreadTransport", "TransportError"]

ChannelKind = Literal["text", "forum", "other"]


class TransportError(Exception):
    """Discord refused or failed a request (``status`` is the HTTP status when there was one)."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class ThreadInfo:
    """A thread as Discord has it now."""

    id: int
    name: str
    archived: bool = False
    locked: bool = False
    auto_archive_minutes: int = 10080


@dataclass(frozen=True, slots=True)
class PostedOpening:
    """The opening message once sent: its id and when its poll ends (UTC ISO-8601), if Discord said."""

    message_id: int
    poll_expires_at: str | None


class ThreadTransport(Protocol):
    # -- threads -----------------------------------------------------------------------

    def open_threads(self, thread_ids: Iterable[int]) -> list[int]:
        """Those of ``thread_ids`` that Discord shows open (not archived), from the gateway cache; no requests."""
        ...

    async def get_thread(self, thread_id: int) -> ThreadInfo | None:
        """The thread, from the cache or fetched; None when it is gone or hidden from the bot."""
        ...

    async def create_thread(
        self, channel_id: int, message_id: int, *, name: str, auto_archive_minutes: int
    ) -> ThreadInfo:
        """A public thread started from a message of a text channel.

        When the message already has a thread (an earlier attempt got through), that
        thread is returned instead. Raises TransportError when the channel is not a
        text channel or Discord refuses.
        """
        ...

    async def edit_thread(
        self,
        thread_id: int,
        *,
        name: str | None = None,
        auto_archive_minutes: int | None = None,
        archived: bool | None = None,
        locked: bool | None = None,
    ) -> ThreadInfo:
        """Change what is given, leave the rest; returns the thread as it is now."""
        ...

    # -- channels ----------------------------------------------------------------------

    async def channel_kind(self, channel_id: int) -> ChannelKind:
        """Whether a discussion can start in the channel: a text channel, a forum, or neither."""
        ...

    async def send_review_card(self, channel_id: int, review: Review) -> int:
        """Post the review's card in a text channel (a thread is started from it later); its message id."""
        ...

    async def create_forum_post(
        self, channel_id: int, review: Review, *, name: str, auto_archive_minutes: int
    ) -> tuple[int, ThreadInfo]:
        """Open a forum post whose starter message is the review's card: (starter message id, thread)."""
        ...

    # -- messages ----------------------------------------------------------------------

    async def post_opening(self, thread_id: int, content: str, poll: PollSpec, *, nonce: str) -> PostedOpening:
        """Send the opening message with its star poll, mentioning nobody.

        ``nonce`` is enforced: when a message with the same nonce was sent recently
        (a retry after a lost answer), Discord returns that message instead of a copy.
        """
        ...

    async def find_opening(self, thread_id: int) -> PostedOpening | None:
        """The bot's own opening message (the bot's first message with a poll) among the thread's first messages."""
        ...

    def messages_after(self, thread_id: int, after_id: int) -> AsyncIterator[IncomingMessage]:
        """Every message of the thread newer than ``after_id``, oldest first (read page by page)."""
        ...

    async def messages_before(self, thread_id: int, before_id: int, limit: int) -> Sequence[IncomingMessage]:
        """The newest ``limit`` messages older than ``before_id``, newest first."""
        ...

    async def message_content(self, thread_id: int, message_id: int) -> str:
        """The text of a message as Discord has it now."""
        ...

    async def edit_message(self, thread_id: int, message_id: int, content: str) -> None:
        """Replace the text of one of the bot's messages, mentioning nobody."""
        ...

    # -- polls -------------------------------------------------------------------------

    async def poll_voters(self, thread_id: int, message_id: int) -> Mapping[int, int] | None:
        """Who voted for what (user id → answer id) in an open poll; None when the poll has ended or is gone."""
        ...

    async def poll_results(self, thread_id: int, message_id: int) -> Mapping[int, int] | None:
        """The final count per answer id of a poll that has ended; None while it is still open."""
        ...
