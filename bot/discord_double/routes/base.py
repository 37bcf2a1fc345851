"""What every group of REST handlers shares: the world it answers from and changes.

Handlers are named ``_r_<what>`` and called only through the route table that ``routes()``
returns; tests find a handler by that name to wrap it (see :mod:`bot.discord_double.rest`).
Each handler takes ``(record, json_body, files, *path_groups)``.
"""

from __future__ import annotations

from bot.discord_double.rest import RouteSpec
from bot.discord_double.world import World


class Resource:
    """A group of REST handlers for one kind of Discord object."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.state = world.state
        self.composer = world.composer
        self.gateway = world.gateway

    def routes(self) -> list[RouteSpec]:
        raise NotImplementedError
