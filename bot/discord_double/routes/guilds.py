"""Guilds, their channels, roles, members and active threads, as discord.py fetches them.

Why this exists: discord.py mostly learns guilds from GUILD_CREATE, but fetches these when
the cache is not enough (``fetch_member``, ``active_threads``), and Matinee's backfill and
permission checks use them.
"""

from __future__ import annotations

from bot.discord_double.protocol import JSON, THREAD_TYPES
from bot.discord_double.recording import Files, RecordedRequest
from bot.discord_double.responses import unknown
from bot.discord_double.rest import ID, RouteSpec
from bot.discord_double.routes.base import Resource


class GuildRoutes(Resource):
    def routes(self) -> list[RouteSpec]:
        return [
            ("GET", f"/guilds/{ID}", self._r_guild),
            ("GET", f"/guilds/{ID}/channels", self._r_guild_channels),
            ("GET", f"/guilds/{ID}/roles", self._r_guild_roles),
            ("GET", f"/guilds/{ID}/members/{ID}", self._r_member),
            ("GET", f"/guilds/{ID}/threads/active", self._r_active_threads),
        ]

    async def _r_guild(self, rec: RecordedRequest, body: JSON, files: Files, gid: str) -> JSON:
        return self.state.guild_payload(int(gid), full=False)

    async def _r_guild_channels(self, rec: RecordedRequest, body: JSON, files: Files, gid: str) -> list[JSON]:
        self.state.guild(int(gid))
        return [c for c in self.state.channels.values()
                if c.get("guild_id") == gid and c["type"] not in THREAD_TYPES]

    async def _r_guild_roles(self, rec: RecordedRequest, body: JSON, files: Files, gid: str) -> list[JSON]:
        self.state.guild(int(gid))
        return self.state.roles[int(gid)]

    async def _r_member(self, rec: RecordedRequest, body: JSON, files: Files, gid: str, uid: str) -> JSON:
        self.state.guild(int(gid))
        try:
            return self.state.members[int(gid)][int(uid)]
        except KeyError:
            raise unknown("Member", 10007) from None

    async def _r_active_threads(self, rec: RecordedRequest, body: JSON, files: Files, gid: str) -> JSON:
        self.state.guild(int(gid))
        threads = [c for c in self.state.channels.values() if c.get("guild_id") == gid
                   and c["type"] in THREAD_TYPES and not c["thread_metadata"]["archived"]]
        return {"threads": threads, "members": []}
