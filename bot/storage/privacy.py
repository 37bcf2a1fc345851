"""The contract every feature's store of member data keeps: count and erase one member's rows.

Each repository that stores something about a member (their comments, votes,
ratings, chat turns, watchlist...) declares :class:`MemberData` and implements
:class:`MemberDataEraser`; ``bot.privacy`` calls them all through one registry
for ``/forget-me`` and ``matinee forget``. Modelled on Red-DiscordBot's
``red_delete_data_for_user``, which every cog implements.

Scopes, the ``guild_id`` each method takes:

- ``None``: everywhere (every server and direct messages);
- a server's id: what the member left in that server;
- :data:`NO_SERVER`: what belongs to no server (a watchlist that follows the
  member everywhere, a chat in direct messages).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

__all__ = ["NO_SERVER", "MemberData", "MemberDataEraser", "member_rows"]

NO_SERVER = 0  # the scope of data kept outside any server (Discord ids are never 0)


@dataclass(frozen=True, slots=True)
class MemberData:
    """What an eraser covers, for the report and for the test that every member table has one."""

    name: str  # how reports count it, a plural noun: "comments", "poll votes"
    tables: tuple[str, ...]  # the tables it erases from (each table has exactly one eraser)
    outside_servers: str | None = None  # what of it belongs to no server, said to the member ("your watchlist")
    per_server: bool = True  # False: none of it is tied to a server (a watchlist), only NO_SERVER and None apply


@runtime_checkable
class MemberDataEraser(Protocol):
    member_data: MemberData

    async def count_member(self, user_id: int, guild_id: int | None) -> int:
        """How many of the member's items an erase in this scope would remove (what the member sees)."""
        ...

    async def erase_member(self, user_id: int, guild_id: int | None) -> int:
        """Delete the member's rows in this scope for good (not a soft delete); returns how many items went."""
        ...


def member_rows(
    table: str, member_column: str, user_id: int, guild_id: int | None, *, also: str = ""
) -> tuple[str, tuple[int, ...]]:
    """``FROM <table> WHERE …`` and its parameters: the member's rows in a scope, for a count or a delete.

    ``table`` has a ``guild_id`` column; rows of direct messages keep NULL there, so
    :data:`NO_SERVER` selects those. ``also`` narrows further. Table, column and condition are
    constants of the calling repository, never input: only the ids are parameters.
    """
    conditions, params = [f"{member_column} = ?"], [user_id]
    if guild_id == NO_SERVER:
        conditions.append("guild_id IS NULL")
    elif guild_id is not None:
        conditions.append("guild_id = ?")
        params.append(guild_id)
    if also:
        conditions.append(also)
    return f"FROM {table} WHERE {' AND '.join(conditions)}", tuple(params)
