"""Application commands: what ``bot.tree.sync()`` puts, and what it reads back.

Why this exists: the double invokes commands from what the bot synced (option types,
subcommands), so syncing must keep ids stable across re-syncs like Discord, and refuse
duplicate names the way Discord does.
"""

from __future__ import annotations

from typing import Any

from bot.discord_double.protocol import JSON
from bot.discord_double.recording import Files, RecordedRequest
from bot.discord_double.responses import DiscordError, unknown
from bot.discord_double.rest import ID, RouteSpec
from bot.discord_double.routes.base import Resource
from bot.discord_double.snowflakes import make_snowflake


class CommandRoutes(Resource):
    def routes(self) -> list[RouteSpec]:
        return [
            ("GET", f"/applications/{ID}/commands", self._r_get_commands),
            ("PUT", f"/applications/{ID}/commands", self._r_put_commands),
            ("POST", f"/applications/{ID}/commands", self._r_post_command),
            ("DELETE", f"/applications/{ID}/commands/{ID}", self._r_delete_command),
            ("GET", f"/applications/{ID}/guilds/{ID}/commands", self._r_get_commands),
            ("PUT", f"/applications/{ID}/guilds/{ID}/commands", self._r_put_commands),
            ("POST", f"/applications/{ID}/guilds/{ID}/commands", self._r_post_command),
            ("DELETE", f"/applications/{ID}/guilds/{ID}/commands/{ID}", self._r_delete_command),
        ]

    def _command_pool(self, app: str, gid: str | None) -> list[JSON]:
        """The global commands, or a guild's (another application's commands are out of reach)."""
        if int(app) != self.state.application_id:
            raise DiscordError(403, 50001, "Missing Access")
        if gid is None:
            return self.state.global_commands
        self.state.guild(int(gid))
        return self.state.guild_commands.setdefault(int(gid), [])

    def _make_command(self, spec: JSON, existing: list[JSON], gid: str | None) -> JSON:
        """A command from its spec; one with the same name and type keeps its id."""
        ctype = spec.get("type", 1)
        prev = next((c for c in existing if c["name"] == spec["name"] and c.get("type", 1) == ctype), None)
        cmd = {
            "id": prev["id"] if prev else str(make_snowflake()),
            "application_id": str(self.state.application_id),
            "version": str(make_snowflake()),
            "type": ctype,
            "name": spec["name"],
            "name_localizations": spec.get("name_localizations"),
            "description": spec.get("description", ""),
            "description_localizations": spec.get("description_localizations"),
            "options": spec.get("options", []),
            "default_member_permissions": spec.get("default_member_permissions"),
            "dm_permission": spec.get("dm_permission", True),
            "nsfw": spec.get("nsfw", False),
            "contexts": spec.get("contexts"),
            "integration_types": spec.get("integration_types", [0]),
        }
        if gid is not None:
            cmd["guild_id"] = gid
        return cmd

    async def _r_get_commands(self, rec: RecordedRequest, body: Any, files: Files, app: str,
                              gid: str | None = None) -> list[JSON]:
        return self._command_pool(app, gid)

    async def _r_put_commands(self, rec: RecordedRequest, body: Any, files: Files, app: str,
                              gid: str | None = None) -> list[JSON]:
        pool = self._command_pool(app, gid)
        specs = body if isinstance(body, list) else []
        names = [(c["name"], c.get("type", 1)) for c in specs]
        if len(names) != len(set(names)):
            raise DiscordError(400, 50035, "Invalid Form Body", {"_errors": [{
                "code": "APPLICATION_COMMANDS_DUPLICATE_NAME", "message": "Application command names must be unique"}]})
        new = [self._make_command(spec, pool, gid) for spec in specs]
        pool[:] = new
        return new

    async def _r_post_command(self, rec: RecordedRequest, body: JSON, files: Files, app: str,
                              gid: str | None = None) -> JSON:
        pool = self._command_pool(app, gid)
        cmd = self._make_command(body, pool, gid)
        pool[:] = [c for c in pool if c["id"] != cmd["id"]] + [cmd]
        return cmd

    async def _r_delete_command(self, rec: RecordedRequest, body: JSON, files: Files, app: str,
                                *rest: str) -> None:
        gid, cmd_id = (rest[0], rest[1]) if len(rest) == 2 else (None, rest[0])
        pool = self._command_pool(app, gid)
        if not any(c["id"] == cmd_id for c in pool):
            raise unknown("application command", 10063)
        pool[:] = [c for c in pool if c["id"] != cmd_id]
