"""Showing a streamed answer in Discord without tripping its rate limits.

The first text is posted as soon as it exists (so members see an answer within
about a second of the first token); after that each message is edited at most
once per ``interval`` with the latest text. Answers longer than one message are
split with :func:`bot.text.split_message`, which keeps code blocks and spoilers
intact across messages: finished chunks stay, the tail keeps growing.

The editor talks to a :class:`ReplyTarget`, so it knows nothing about discord.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from ..text import MESSAGE_LIMIT, split_message

__all__ = ["ReplyTarget", "ThrottledEditor"]

log = logging.getLogger(__name__)

EDIT_INTERVAL_SECONDS = 1.0


class ReplyTarget(Protocol):
    """Where a reply goes: a channel, a thread, a DM or an interaction's follow-ups.

    Implementations (in the chat cog) send every message with no mentions allowed.
    """

    async def send(self, text: str) -> Any:
        """Post a new message and return a handle that :meth:`edit` accepts."""

    async def edit(self, message: Any, text: str) -> None: ...

    async def delete(self, message: Any) -> None: ...

    def typing(self) -> AbstractAsyncContextManager[Any]:
        """A typing indicator shown while the context is open."""


class ThrottledEditor:
    """Posts and edits the messages of one streamed reply.

    ``update(text)`` may be called for every token; it never waits for Discord.
    ``finish(text)`` writes the final text (respecting the interval) and returns
    the posted message handles.
    """

    def __init__(
        self,
        target: ReplyTarget,
        *,
        interval: float = EDIT_INTERVAL_SECONDS,
        limit: int = MESSAGE_LIMIT,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Any] = asyncio.sleep,
        on_first_send: Callable[[], Any] | None = None,
    ) -> None:
        self._target = target
        self._interval = interval
        self._limit = limit
        self._clock = clock
        self._sleep = sleep
        self._on_first_send = on_first_send
        self._wanted = ""
        self._messages: list[Any] = []
        self._shown: list[str] = []
        self._last_flush: float | None = None
        self._pending: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self.edits = 0
        self.sends = 0

    @property
    def messages(self) -> list[Any]:
        return list(self._messages)

    @property
    def posted(self) -> bool:
        return bool(self._messages)

    async def update(self, text: str) -> None:
        """Show ``text`` soon: immediately if nothing is posted yet, else within the interval."""
        self._wanted = text
        if not text.strip():
            return
        if not self._messages and not self._lock.locked():
            await self._flush()
            return
        if self._pending is None or self._pending.done():
            self._pending = asyncio.create_task(self._flush_later(), name="matinee-chat-edit")

    async def finish(self, text: str) -> list[Any]:
        """Write the final text, waiting out the interval if an edit just happened."""
        self._wanted = text
        pending, self._pending = self._pending, None
        if pending is not None and not pending.done():
            # The scheduled edit is already timed right and reads the final text when it runs.
            await pending
        if self._chunks(text) == self._shown:
            return self.messages
        await self._wait_interval()
        await self._flush()
        return self.messages

    async def aclose(self) -> None:
        """Stop a scheduled edit (used when a reply is abandoned)."""
        pending, self._pending = self._pending, None
        if pending is not None and not pending.done():
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pending

    async def _wait_interval(self) -> None:
        if self._last_flush is None or not self._messages:
            return
        remaining = self._last_flush + self._interval - self._clock()
        if remaining > 0:
            await self._sleep(remaining)

    async def _flush_later(self) -> None:
        await self._wait_interval()
        await self._flush()

    def _chunks(self, text: str) -> list[str]:
        return split_message(text, self._limit) if text.strip() else []

    async def _flush(self) -> None:
        async with self._lock:
            chunks = self._chunks(self._wanted)
            if not chunks or chunks == self._shown:
                return
            did_edit = False
            try:
                for i, chunk in enumerate(chunks):
                    if i < len(self._messages):
                        if self._shown[i] != chunk:
                            await self._target.edit(self._messages[i], chunk)
                            self._shown[i] = chunk
                            did_edit = True
                    else:
                        first = not self._messages
                        message = await self._target.send(chunk)
                        self._messages.append(message)
                        self._shown.append(chunk)
                        self.sends += 1
                        if first and self._on_first_send is not None:
                            result = self._on_first_send()
                            if asyncio.iscoroutine(result):
                                await result
                # The text shrank (a late </think> or a final clean-up): drop the extra messages.
                while len(self._messages) > len(chunks):
                    message = self._messages.pop()
                    self._shown.pop()
                    await self._target.delete(message)
            except asyncio.CancelledError:
                raise
            except Exception:
                # A failed edit must not kill the stream; the next flush retries with newer text.
                log.warning("could not update a streamed chat reply", exc_info=True)
            finally:
                if did_edit:
                    self.edits += 1
                self._last_flush = self._clock()
