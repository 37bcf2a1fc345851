"""Observers of the world besides the bot: every change, in order, for a page that shows it.

Why this exists: the bot learns about changes over the gateway, filtered by its intents and
redacted the way Discord does it, and it never sees another user's ephemeral answers. A
page that shows the world to a person (the sandbox's Discord-like client) needs every change
and the answers only their invoker sees. Observers subscribe here and receive a
:class:`Change` for each gateway dispatch (before any intent filtering) and each time an
interaction's answer changes (callback, ``@original`` edits, follow-ups).

Observers are called synchronously from the code that made the change, so they must be quick
and must not await: put the change on a queue and return. An observer that raises is logged
and kept; it cannot break the world or the other observers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.discord_double.protocol import JSON

if TYPE_CHECKING:
    from bot.discord_double.interactions import InteractionRecord

__all__ = ["INTERACTION_CHANGED", "Change", "ChangeFeed", "Observer"]

log = logging.getLogger(__name__)

INTERACTION_CHANGED = "INTERACTION_CHANGED"
"""The event of a :class:`Change` about an interaction's answer (not a gateway event)."""


@dataclass(frozen=True, slots=True)
class Change:
    """One change: a gateway ``event`` with its ``data`` (read it, don't modify it), or an interaction's answer."""

    event: str
    data: JSON
    interaction: InteractionRecord | None = None


Observer = Callable[[Change], None]


class ChangeFeed:
    """The observers, told about each change in the order the changes happen."""

    def __init__(self) -> None:
        self._observers: list[Observer] = []

    def subscribe(self, observer: Observer) -> Callable[[], None]:
        """Start telling ``observer``; returns the function that stops it."""
        self._observers.append(observer)

        def unsubscribe() -> None:
            if observer in self._observers:
                self._observers.remove(observer)

        return unsubscribe

    def publish(self, change: Change) -> None:
        for observer in list(self._observers):
            try:
                observer(change)
            except Exception:
                log.exception("a change observer failed on %s", change.event)

    def dispatched(self, event: str, data: JSON) -> None:
        if self._observers:
            self.publish(Change(event, data))

    def interaction_changed(self, record: InteractionRecord) -> None:
        if self._observers:
            self.publish(Change(INTERACTION_CHANGED, {"id": str(record.id)}, record))
