"""Live updates for the sandbox's page: every change in the double, as Server-Sent Events.

Why this exists: the page must update without reloads, like Discord's client does over its
gateway. The double tells one observer (this hub) about every change; the hub turns each into
what the page draws (a message to upsert, a message gone, a channel or thread, a member, an
ephemeral answer for one person) and fans it out to every open page.

Changes are queued as they happen and read back from the double's state when the hub gets to
them, so a page always receives the current message (with its votes and reactions), never a
stale copy. Each page has a bounded queue: a page that stops reading is dropped, and its
``EventSource`` reconnects and reloads what it shows.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field

from bot.discord_double import INTERACTION_CHANGED, Change, DiscordDouble
from bot.discord_double.protocol import JSON

from .view import WorldView

__all__ = ["LiveHub", "PageEvent"]

log = logging.getLogger(__name__)

CLIENT_QUEUE = 2000
MESSAGE_EVENTS = {"MESSAGE_CREATE", "MESSAGE_UPDATE"}
REDRAW_EVENTS = {
    "MESSAGE_REACTION_ADD", "MESSAGE_REACTION_REMOVE", "MESSAGE_REACTION_REMOVE_ALL", "MESSAGE_REACTION_REMOVE_EMOJI",
    "MESSAGE_POLL_VOTE_ADD", "MESSAGE_POLL_VOTE_REMOVE",
}  # fmt: skip
CHANNEL_EVENTS = {"CHANNEL_CREATE", "CHANNEL_UPDATE", "THREAD_CREATE", "THREAD_UPDATE"}


@dataclass(frozen=True, slots=True)
class PageEvent:
    """One Server-Sent Event: its name and JSON data."""

    name: str
    data: JSON

    def encode(self) -> bytes:
        return f"event: {self.name}\ndata: {json.dumps(self.data, separators=(',', ':'))}\n\n".encode()


@dataclass(eq=False)
class Client:
    """One open page."""

    queue: asyncio.Queue[PageEvent | None] = field(default_factory=lambda: asyncio.Queue(CLIENT_QUEUE))
    dropped: bool = False

    def offer(self, event: PageEvent | None) -> None:
        if self.dropped:
            return
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped = True  # the page is not reading; it will reconnect and reload
            with contextlib.suppress(asyncio.QueueEmpty):
                self.queue.get_nowait()
            self.queue.put_nowait(None)


class LiveHub:
    """Observes the double and fans page events out to every connected page."""

    def __init__(self, double: DiscordDouble, view: WorldView) -> None:
        self.double = double
        self.view = view
        self._changes: asyncio.Queue[Change] = asyncio.Queue()
        self._clients: set[Client] = set()
        self._unsubscribe = double.subscribe(self._changes.put_nowait)
        self._task = asyncio.create_task(self._run(), name="sandbox-live-hub")

    # -- pages

    def connect(self) -> Client:
        client = Client()
        self._clients.add(client)
        return client

    def disconnect(self, client: Client) -> None:
        self._clients.discard(client)

    def publish(self, name: str, data: JSON) -> None:
        """Send an event of the sandbox's own (the blog published a review) to every page."""
        self._broadcast(PageEvent(name, data))

    def _broadcast(self, event: PageEvent | None) -> None:
        for client in list(self._clients):
            client.offer(event)

    async def close(self) -> None:
        """Stop observing and end every page's stream (their handlers return at once)."""
        self._unsubscribe()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._broadcast(None)
        self._clients.clear()

    # -- changes to page events

    async def _run(self) -> None:
        while True:
            change = await self._changes.get()
            try:
                events = list(self._translate(change))
            except Exception:
                log.exception("the sandbox page could not be told about %s", change.event)
                continue
            for event in events:
                self._broadcast(event)

    def _translate(self, change: Change) -> Iterator[PageEvent]:
        data = change.data
        event = change.event
        if event == INTERACTION_CHANGED:
            yield from self._interaction(change)
        elif event in MESSAGE_EVENTS or event in REDRAW_EVENTS:
            yield from self._message(int(data.get("message_id") or data["id"]))
        elif event == "MESSAGE_DELETE":
            yield PageEvent("message_delete", {"channel_id": data["channel_id"], "id": data["id"]})
        elif event == "MESSAGE_DELETE_BULK":
            for mid in data["ids"]:
                yield PageEvent("message_delete", {"channel_id": data["channel_id"], "id": mid})
        elif event in CHANNEL_EVENTS:
            channel = self.double.channels.get(int(data["id"]))
            if channel is not None and self.view.is_guild_channel(int(data["id"])):
                yield PageEvent("channel", self.view.channel(channel))
                if event == "THREAD_CREATE":  # the message it was started from now shows the thread
                    yield from self._message(int(data["id"]))
        elif event in ("CHANNEL_DELETE", "THREAD_DELETE"):
            yield PageEvent("channel_delete", {"id": data["id"]})
        elif event == "GUILD_MEMBER_ADD":
            yield PageEvent("member", self.view.person(int(data["user"]["id"])))

    def _message(self, message_id: int) -> Iterator[PageEvent]:
        found = self.view.find(message_id)
        if found is not None:
            yield PageEvent("message", found)

    def _interaction(self, change: Change) -> Iterator[PageEvent]:
        """Ephemeral answers go to the person who ran the command (public ones arrive as messages; modals
        are the answer to the request that ran the command, see :mod:`bot.sandbox.ui`)."""
        record = change.interaction
        if record is None:
            return
        if record.original_deleted and record.original is not None and self.view.is_ephemeral(record.original):
            held = self.view.forget_ephemeral(int(record.original["id"]))
            if held is not None:
                yield PageEvent("message_delete", {"channel_id": held[1]["channel_id"], "id": held[1]["id"]})
        for message in record.messages():
            if self.view.is_ephemeral(message):
                yield PageEvent("message", self.view.keep_ephemeral(record.user_id, message))
