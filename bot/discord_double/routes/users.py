"""Who the bot is and where to connect: users, DM channels, the application, gateway discovery.

Why this exists: these are what discord.py asks for while logging in (``/users/@me``,
``/oauth2/applications/@me``, ``/gateway``) and when it opens a DM.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

from bot.discord_double.protocol import JSON, PRIVILEGED_INTENT_APP_FLAGS_LIMITED
from bot.discord_double.recording import Files, RecordedRequest
from bot.discord_double.responses import unknown
from bot.discord_double.rest import ID, RouteSpec
from bot.discord_double.routes.base import Resource
from bot.discord_double.world import World


class UserRoutes(Resource):
    def __init__(self, world: World, gateway_url: Callable[[], str]) -> None:
        super().__init__(world)
        self._gateway_url = gateway_url

    def routes(self) -> list[RouteSpec]:
        return [
            ("GET", "/gateway", self._r_gateway),
            ("GET", "/gateway/bot", self._r_gateway_bot),
            ("GET", "/users/@me", self._r_me),
            ("GET", f"/users/{ID}", self._r_user),
            ("POST", "/users/@me/channels", self._r_create_dm),
            ("GET", "/oauth2/applications/@me", self._r_app),
            ("GET", "/applications/@me", self._r_app),
        ]

    async def _r_gateway(self, rec: RecordedRequest, body: JSON, files: Files) -> JSON:
        return {"url": self._gateway_url()}

    async def _r_gateway_bot(self, rec: RecordedRequest, body: JSON, files: Files) -> JSON:
        return {"url": self._gateway_url(), "shards": 1, "session_start_limit": {
            "total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1}}

    async def _r_me(self, rec: RecordedRequest, body: JSON, files: Files) -> JSON:
        return {**self.state.bot_user, "verified": True, "mfa_enabled": False, "locale": "en-US", "email": None}

    async def _r_user(self, rec: RecordedRequest, body: JSON, files: Files, uid: str) -> JSON:
        try:
            return self.state.users[int(uid)]
        except KeyError:
            raise unknown("User", 10013) from None

    async def _r_create_dm(self, rec: RecordedRequest, body: JSON, files: Files) -> JSON:
        uid = int(body["recipient_id"])
        if uid not in self.state.users:
            raise unknown("User", 10013)
        return self.state.dm_channel(uid)

    async def _r_app(self, rec: RecordedRequest, body: JSON, files: Files) -> JSON:
        state = self.state
        owner_id = next(iter(state.guilds.values()))["owner_id"] if state.guilds else None
        owner = state.users[int(owner_id)] if owner_id else state.make_user(None, "App Owner")
        return {
            "id": str(state.application_id),
            "name": state.bot_user["username"],
            "icon": None,
            "description": "",
            "summary": "",
            "type": None,
            "hook": True,
            "bot_public": True,
            "bot_require_code_grant": False,
            "verify_key": secrets.token_hex(32),
            "owner": owner,
            "team": None,
            "flags": self._application_flags(),
            "bot": state.bot_user,
            "rpc_origins": [],
            "tags": [],
            "redirect_uris": [],
            "interactions_endpoint_url": None,
            "role_connections_verification_url": None,
            "approximate_guild_count": len(state.guilds),
            "integration_types_config": {"0": {}},
            "install_params": None,
            "custom_install_url": None,
        }

    def _application_flags(self) -> int:
        """What the Developer Portal's intent switches set: as the test chose, else as the gateway enforces."""
        if self.state.application_flags is not None:
            return self.state.application_flags
        return PRIVILEGED_INTENT_APP_FLAGS_LIMITED if self.gateway.privileged_intents_enabled else 0
