"""A loopback double of Discord's REST API v10 and Gateway for tests.

Why this exists
---------------
Matinee is a discord.py bot.  Mocking discord.py objects tests our
assumptions about discord.py instead of the real behaviour, so this module
runs a tiny Discord on ``127.0.0.1`` (aiohttp, ephemeral port) that the
*unmodified* discord.py client talks to over real HTTP and a real websocket.
Tests then drive "member" activity (messages, reactions, slash commands,
poll votes, ...) through plain Python methods and assert on the exact REST
payloads the bot sent (:attr:`DiscordDouble.requests`).

Pointing discord.py at the double::

    discord.http.Route.BASE = double.api_base          # http://127.0.0.1:P/api/v10
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(double.gateway_url)

(:meth:`DiscordDouble.patched_endpoints` does that and restores the old values.)

Fidelity notes (things discord.py relies on that are easy to get wrong):

* JSON responses carry ``Content-Type: application/json`` *without* a charset,
  otherwise ``discord.http.json_or_text`` hands back a ``str``.
* 429 responses carry a ``Via`` header; without it discord.py assumes a
  Cloudflare ban and raises instead of retrying.
* Interaction callbacks are called with ``?with_response=1`` and must answer
  with an ``InteractionCallbackResponse`` body.
* Gateway dispatches are sent as plain TEXT frames (discord.py asks for
  ``compress=zlib-stream`` but handles text frames), each with a sequence
  number, and are kept per session so RESUME can replay them.
* Dispatches are filtered by the intents sent in IDENTIFY, and
  ``content``/``embeds``/... are blanked without the MESSAGE_CONTENT intent,
  like real Discord, so a missing intent shows up in tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import datetime as dt
import hashlib
import itertools
import json
import math
import re
import secrets
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

__all__ = [
    "DiscordDouble",
    "DiscordError",
    "Fault",
    "InteractionRecord",
    "RecordedFile",
    "RecordedRequest",
    "snowflake_time",
]

JSON = dict[str, Any]

DISCORD_EPOCH_MS = 1420070400000
ALL_PERMISSIONS = (1 << 53) - 1
ADMINISTRATOR = 1 << 3
DEFAULT_EVERYONE_PERMISSIONS = 0x0000_0006_3284_1E41  # view, send, read history, reactions, ...

# Channel types
GUILD_TEXT, DM, GUILD_VOICE, GUILD_CATEGORY, GUILD_NEWS = 0, 1, 2, 4, 5
NEWS_THREAD, PUBLIC_THREAD, PRIVATE_THREAD, GUILD_FORUM = 10, 11, 12, 15
THREAD_TYPES = {NEWS_THREAD, PUBLIC_THREAD, PRIVATE_THREAD}

# Gateway opcodes
OP_DISPATCH, OP_HEARTBEAT, OP_IDENTIFY, OP_PRESENCE, OP_VOICE_STATE = 0, 1, 2, 3, 4
OP_RESUME, OP_RECONNECT, OP_REQUEST_MEMBERS, OP_INVALID_SESSION = 6, 7, 8, 9
OP_HELLO, OP_HEARTBEAT_ACK = 10, 11

# Intents (bit positions as documented)
INTENT_GUILDS = 1 << 0
INTENT_GUILD_MEMBERS = 1 << 1
INTENT_GUILD_PRESENCES = 1 << 8
INTENT_GUILD_MESSAGES = 1 << 9
INTENT_GUILD_MESSAGE_REACTIONS = 1 << 10
INTENT_GUILD_MESSAGE_TYPING = 1 << 11
INTENT_DIRECT_MESSAGES = 1 << 12
INTENT_DIRECT_MESSAGE_REACTIONS = 1 << 13
INTENT_MESSAGE_CONTENT = 1 << 15
INTENT_GUILD_MESSAGE_POLLS = 1 << 24
INTENT_DIRECT_MESSAGE_POLLS = 1 << 25
PRIVILEGED_INTENTS = INTENT_GUILD_MEMBERS | INTENT_GUILD_PRESENCES | INTENT_MESSAGE_CONTENT

# Message flags
FLAG_HAS_THREAD = 1 << 5
FLAG_EPHEMERAL = 1 << 6
FLAG_LOADING = 1 << 7

_SNOWFLAKE_LOCK_COUNTER = itertools.count()
_last_snowflake = 0


def make_snowflake(at: float | None = None) -> int:
    """Return a realistic, strictly increasing snowflake (time-based like Discord's).

    Increasing ids matter: discord.py and our bot order messages/threads by id.
    """
    global _last_snowflake
    ms = int((time.time() if at is None else at) * 1000) - DISCORD_EPOCH_MS
    candidate = (ms << 22) | (next(_SNOWFLAKE_LOCK_COUNTER) & 0xFFF)
    if at is None and candidate <= _last_snowflake:
        candidate = _last_snowflake + 1
    if at is None:
        _last_snowflake = candidate
    return candidate


def snowflake_time(snowflake: int | str) -> dt.datetime:
    """Creation time encoded in a snowflake."""
    ms = (int(snowflake) >> 22) + DISCORD_EPOCH_MS
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)


def _iso(when: dt.datetime | None = None) -> str:
    return (when or dt.datetime.now(dt.UTC)).isoformat()


def _json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """JSON with exactly ``application/json`` (no charset) - discord.py compares the header verbatim."""
    hdrs = {"Content-Type": "application/json"}
    if headers:
        hdrs.update(headers)
    return web.Response(body=json.dumps(data).encode(), status=status, headers=hdrs)


class DiscordError(Exception):
    """Raised inside REST handlers to produce a Discord-shaped error body."""

    def __init__(self, status: int, code: int, message: str, errors: JSON | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors

    def body(self) -> JSON:
        data: JSON = {"message": self.message, "code": self.code}
        if self.errors is not None:
            data["errors"] = self.errors
        return data


def _unknown(kind: str, code: int) -> DiscordError:
    return DiscordError(404, code, f"Unknown {kind}")


@dataclass
class RecordedFile:
    """A file part of a multipart request (``files[n]``)."""

    field_name: str
    filename: str | None
    content_type: str | None
    data: bytes


Files = list[RecordedFile]


@dataclass
class RecordedRequest:
    """One REST request as received by the double (including faulted/unhandled ones)."""

    method: str
    path: str  # decoded path relative to the API base, e.g. "/channels/1/messages"
    raw_path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any  # parsed JSON body, or parsed payload_json of a multipart body
    files: list[RecordedFile]
    body: bytes
    timestamp: float
    status: int = 0
    response: Any = None
    route: str | None = None  # route template name, None when unhandled

    @property
    def file_names(self) -> list[str | None]:
        return [f.filename for f in self.files]


@dataclass
class Fault:
    """An injected REST failure; ``hits`` counts how often it fired."""

    method: str
    path_regex: re.Pattern[str]
    status: int
    times: int | None
    retry_after: float | None
    global_: bool
    body: Any = None
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        remaining = self.times is None or self.hits < self.times
        return remaining and self.method in ("*", method) and bool(self.path_regex.search(path))


@dataclass
class InteractionRecord:
    """An interaction the double sent to the bot, plus everything the bot answered.

    ``wait_*`` helpers poll state changed by the REST handlers; they raise
    ``asyncio.TimeoutError`` when the bot does not answer in time.
    """

    id: int
    token: str
    type: int
    payload: JSON
    channel_id: int | None
    guild_id: int | None
    created_at: float = field(default_factory=time.monotonic)
    callbacks: list[JSON] = field(default_factory=list)
    responded_at: float | None = None
    original: JSON | None = None
    original_edits: list[JSON] = field(default_factory=list)
    original_deleted: bool = False
    followups: list[JSON] = field(default_factory=list)
    followup_edits: list[JSON] = field(default_factory=list)
    _changed: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    @property
    def response(self) -> JSON | None:
        """The first (only valid) callback body ``{"type": n, "data": {...}}``."""
        return self.callbacks[0] if self.callbacks else None

    @property
    def response_type(self) -> int | None:
        return self.response["type"] if self.response else None

    @property
    def response_latency(self) -> float | None:
        """Seconds between dispatch and callback (Discord requires < 3 s)."""
        return None if self.responded_at is None else self.responded_at - self.created_at

    @property
    def choices(self) -> list[JSON] | None:
        """Autocomplete choices (callback type 8), if answered."""
        resp = self.response
        if resp is None or resp["type"] != 8:
            return None
        return list((resp.get("data") or {}).get("choices", []))

    @property
    def modal(self) -> JSON | None:
        """Modal data (callback type 9), if answered with a modal."""
        resp = self.response
        return resp.get("data") if resp and resp["type"] == 9 else None

    def _notify(self) -> None:
        self._changed.set()

    async def _wait(self, predicate: Callable[[], Any], timeout: float) -> Any:
        async def loop() -> Any:
            while True:
                value = predicate()
                if value:
                    return value
                self._changed.clear()
                await self._changed.wait()

        return await asyncio.wait_for(loop(), timeout)

    async def wait_response(self, timeout: float = 5.0) -> JSON:
        """Wait for the interaction callback and return its body."""
        return await self._wait(lambda: self.response, timeout)

    async def wait_choices(self, timeout: float = 5.0) -> list[JSON]:
        """Wait for an autocomplete result and return the choices list."""
        await self.wait_response(timeout)
        return self.choices or []

    async def wait_followup(self, count: int = 1, timeout: float = 5.0) -> JSON:
        """Wait until ``count`` follow-ups exist and return the ``count``-th message."""
        await self._wait(lambda: len(self.followups) >= count, timeout)
        return self.followups[count - 1]

    async def wait_original_edit(self, count: int = 1, timeout: float = 5.0) -> JSON:
        """Wait for the ``count``-th PATCH of ``@original`` and return the resulting message."""
        await self._wait(lambda: len(self.original_edits) >= count, timeout)
        assert self.original is not None
        return self.original

    async def wait_final_message(self, timeout: float = 5.0) -> JSON:
        """Wait until the original response is a real (non-loading) message; return it."""

        def done() -> JSON | None:
            orig = self.original
            if orig is not None and not (orig.get("flags", 0) & FLAG_LOADING):
                return orig
            return None

        return await self._wait(done, timeout)


@dataclass
class _Session:
    """Gateway session state, kept across reconnects so RESUME can replay."""

    session_id: str
    intents: int
    identify: JSON
    seq: int = 0
    # Dispatches sent, as (seq, encoded frame) for RESUME replay. Kept as the JSON
    # text that went on the wire rather than as dicts: replay resends exactly what
    # was sent, and a long log (the ingest benchmark sends 50,000 frames) is not
    # hundreds of thousands of live dicts for the bot's garbage collector to scan.
    log: list[tuple[int, str]] = field(default_factory=list)
    ws: web.WebSocketResponse | None = None
    invalidated: bool = False
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


@dataclass
class _Route:
    method: str
    pattern: re.Pattern[str]
    handler: Callable[..., Any]
    template: str


class DiscordDouble:
    """In-process fake of Discord (REST v10 + Gateway) for discord.py integration tests.

    State is kept in plain dicts shaped like Discord's JSON; builders return
    those dicts so tests can reference ids.  Everything is single-event-loop.
    """

    def __init__(
        self,
        *,
        bot_user_id: int | None = None,
        application_id: int | None = None,
        bot_name: str = "Matinee",
        token: str | None = None,
        heartbeat_interval_ms: int = 41250,
        privileged_intents_enabled: bool = True,
        bucket_limit: int = 50,
        bucket_window: float = 1.0,
        enforce_bucket_limits: bool = False,
    ) -> None:
        """Create the double (not started).

        ``token``: if given, REST/IDENTIFY with another token fail like Discord (401 / close 4004).
        ``privileged_intents_enabled``: False makes IDENTIFY with privileged intents close with 4014.
        ``bucket_limit``/``bucket_window``: per-route X-RateLimit-* values we advertise.
        ``enforce_bucket_limits``: answer 429 (scope "user") when a client ignores them.
        """
        self.application_id = application_id or make_snowflake()
        self.bot_user_id = bot_user_id or self.application_id
        self.token = token
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.privileged_intents_enabled = privileged_intents_enabled
        self.bucket_limit = bucket_limit
        self.bucket_window = bucket_window
        self.enforce_bucket_limits = enforce_bucket_limits

        self.users: dict[int, JSON] = {}
        self.guilds: dict[int, JSON] = {}
        self.roles: dict[int, list[JSON]] = {}
        self.members: dict[int, dict[int, JSON]] = {}
        self.channels: dict[int, JSON] = {}
        self.messages: dict[int, list[JSON]] = {}
        self.global_commands: list[JSON] = []
        self.guild_commands: dict[int, list[JSON]] = {}
        self.interactions: dict[int, InteractionRecord] = {}
        self._reactions: dict[tuple[int, str], list[int]] = {}  # (message_id, emoji key) -> user ids
        self._emoji_data: dict[str, JSON] = {}
        self._poll_votes: dict[int, dict[int, set[int]]] = {}  # message id -> answer id -> user ids
        self._dm_channels: dict[int, int] = {}  # recipient -> channel id
        self._attachments: dict[int, bytes] = {}

        self.requests: list[RecordedRequest] = []
        self.unhandled: list[RecordedRequest] = []
        self.faults: list[Fault] = []
        self.rate_limited_count = 0
        self.global_rate_limit: int | None = None
        self._global_window: deque[float] = deque()
        self._buckets: dict[str, deque[float]] = {}
        self._request_event = asyncio.Event()

        self.gateway_received: list[JSON] = []  # every frame the client sent (parsed)
        self.identify_count = 0
        self.resume_count = 0
        self.heartbeat_count = 0
        self.connection_count = 0
        self._sessions: dict[str, _Session] = {}
        self._pending_guild_creates: list[int] = []
        self.replayed_count = 0  # dispatches re-sent because of RESUME
        self._accepting = asyncio.Event()
        self._accepting.set()
        self._sockets: set[web.WebSocketResponse] = set()
        self._state_event = asyncio.Event()

        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._port: int | None = None
        self._routes: list[_Route] = []
        self._register_routes()

        self.bot_user = self._make_user(self.bot_user_id, bot_name, bot=True)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> DiscordDouble:
        """Bind to 127.0.0.1 on an ephemeral port and start serving."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/gateway", self._gateway_handler)
        app.router.add_get("/attachments/{attachment_id}/{filename}", self._attachment_handler)
        app.router.add_route("*", "/api/v10/{tail:.*}", self._rest_handler)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        self._site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await self._site.start()
        server = self._site._server
        assert server is not None and server.sockets  # type: ignore[attr-defined]
        self._port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        return self

    async def stop(self) -> None:
        """Close all websockets and the HTTP server."""
        self._accepting.set()
        for ws in list(self._sockets):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(code=1001), 1.0)
        if self._runner is not None:
            await self._runner.cleanup()
        self._runner = None
        self._site = None

    async def __aenter__(self) -> DiscordDouble:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("DiscordDouble not started")
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_base(self) -> str:
        """Value for ``discord.http.Route.BASE``."""
        return f"{self.base_url}/api/v10"

    @property
    def gateway_url(self) -> str:
        """Value for ``discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY`` (wrap in yarl.URL)."""
        return f"ws://127.0.0.1:{self.port}/gateway"

    @contextlib.contextmanager
    def patched_endpoints(self) -> Iterator[None]:
        """Point discord.py's REST base and default gateway at the double; restore on exit."""
        import discord.gateway
        import discord.http
        import yarl

        old_base = discord.http.Route.BASE
        old_gateway = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
        discord.http.Route.BASE = self.api_base
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(self.gateway_url)
        try:
            yield
        finally:
            discord.http.Route.BASE = old_base
            discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = old_gateway

    # ------------------------------------------------------------------ state builders

    def _make_user(self, user_id: int | None, name: str, *, bot: bool = False) -> JSON:
        uid = user_id or make_snowflake()
        user = {
            "id": str(uid),
            "username": name.lower().replace(" ", "_"),
            "global_name": None if bot else name,
            "discriminator": "0",
            "avatar": None,
            "bot": bot,
            "system": False,
            "public_flags": 0,
            "flags": 0,
            "banner": None,
            "accent_color": None,
            "avatar_decoration_data": None,
            "primary_guild": None,
            "collectibles": None,
        }
        self.users[uid] = user
        return user

    def add_user(self, name: str = "user", *, user_id: int | None = None, bot: bool = False) -> JSON:
        """Create a user that is not (yet) in any guild (e.g. for DMs)."""
        return self._make_user(user_id, name, bot=bot)

    def add_guild(self, name: str = "Test Guild", *, guild_id: int | None = None, owner_id: int | None = None) -> JSON:
        """Create a guild with an @everyone role, an owner member and the bot as member.

        Returns the guild dict (no channels/members inside; see ``guild_payload``).
        Before the bot connects it is listed in READY (unavailable) and sent as
        GUILD_CREATE after READY.  When called while connected, GUILD_CREATE is
        dispatched (bot joins) ahead of any later dispatch.
        """
        gid = guild_id or make_snowflake()
        owner = self.users.get(owner_id) if owner_id else None
        if owner is None:
            owner = self._make_user(owner_id, f"{name} Owner")
        guild = {
            "id": str(gid),
            "name": name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": owner["id"],
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "emojis": [],
            "stickers": [],
            "features": [],
            "mfa_level": 0,
            "application_id": None,
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "safety_alerts_channel_id": None,
            "public_updates_channel_id": None,
            "vanity_url_code": None,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "preferred_locale": "en-US",
            "nsfw_level": 0,
            "nsfw": False,
            "premium_progress_bar_enabled": False,
            "max_members": 500000,
            "max_video_channel_users": 25,
            "widget_enabled": False,
            "widget_channel_id": None,
            "incidents_data": None,
            "joined_at": _iso(),
            "large": False,
            "unavailable": False,
            "lazy": True,
        }
        self.guilds[gid] = guild
        self.roles[gid] = [self._role_payload(gid, "@everyone", DEFAULT_EVERYONE_PERMISSIONS, role_id=gid, position=0)]
        self.members[gid] = {}
        self._member_payload(gid, owner, [])
        self._member_payload(gid, self.bot_user, [])
        if any(not s.invalidated for s in self._sessions.values()):
            # Already connected: GUILD_CREATE goes out before any later dispatch (see dispatch()).
            self._pending_guild_creates.append(gid)
            asyncio.get_running_loop().create_task(self._flush_guild_creates())
        return guild

    async def _flush_guild_creates(self) -> None:
        while self._pending_guild_creates:
            gid = self._pending_guild_creates.pop(0)
            payload = self.guild_payload(gid)
            del payload["unavailable"]  # no "unavailable" key = bot joined (on_guild_join), not available again
            await self._dispatch_now("GUILD_CREATE", payload)

    def _role_payload(self, gid: int, name: str, permissions: int, *, role_id: int | None = None, position: int = 1,
                      color: int = 0, hoist: bool = False, mentionable: bool = False, managed: bool = False) -> JSON:
        return {
            "id": str(role_id or make_snowflake()),
            "name": name,
            "color": color,
            "colors": {"primary_color": color, "secondary_color": None, "tertiary_color": None},
            "hoist": hoist,
            "icon": None,
            "unicode_emoji": None,
            "position": position,
            "permissions": str(permissions),
            "managed": managed,
            "mentionable": mentionable,
            "flags": 0,
        }

    async def add_role(self, guild_id: int, name: str, permissions: int = 0, *, color: int = 0,
                       mentionable: bool = False, hoist: bool = False) -> JSON:
        """Add a role (dispatches GUILD_ROLE_CREATE when connected)."""
        gid = int(guild_id)
        role = self._role_payload(gid, name, permissions, position=len(self.roles[gid]), color=color,
                                  mentionable=mentionable, hoist=hoist)
        self.roles[gid].append(role)
        await self.dispatch("GUILD_ROLE_CREATE", {"guild_id": str(gid), "role": role})
        return role

    def _member_payload(self, gid: int, user: JSON, role_ids: list[int], nick: str | None = None) -> JSON:
        member = {
            "user": user,
            "nick": nick,
            "avatar": None,
            "banner": None,
            "roles": [str(r) for r in role_ids],
            "joined_at": _iso(),
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
            "communication_disabled_until": None,
            "avatar_decoration_data": None,
        }
        self.members[gid][int(user["id"])] = member
        return member

    async def add_member(self, guild_id: int, user_id: int | None = None, name: str = "member", *,
                         roles: list[int] | None = None, permissions: int | None = None, bot: bool = False,
                         nick: str | None = None) -> JSON:
        """Add a member; returns the member dict (``member["user"]["id"]`` is the id).

        ``permissions`` creates a dedicated role with those permission bits.
        Dispatches GUILD_MEMBER_ADD when connected (needs the members intent).
        """
        gid = int(guild_id)
        user = self.users.get(int(user_id)) if user_id else None
        if user is None:
            user = self._make_user(user_id, name, bot=bot)
        role_ids = [int(r) for r in roles or []]
        if permissions is not None:
            role = await self.add_role(gid, f"{name}-perms", permissions)
            role_ids.append(int(role["id"]))
        member = self._member_payload(gid, user, role_ids, nick)
        await self.dispatch("GUILD_MEMBER_ADD", {**member, "guild_id": str(gid)})
        return member

    def _base_channel(self, gid: int, name: str, ctype: int, parent_id: int | None = None) -> JSON:
        siblings = [c for c in self.channels.values()
                    if c.get("guild_id") == str(gid) and c["type"] not in THREAD_TYPES]
        return {
            "id": str(make_snowflake()),
            "type": ctype,
            "guild_id": str(gid),
            "name": name,
            "position": len(siblings),
            "permission_overwrites": [],
            "nsfw": False,
            "topic": None,
            "rate_limit_per_user": 0,
            "parent_id": str(parent_id) if parent_id else None,
            "last_message_id": None,
            "last_pin_timestamp": None,
            "flags": 0,
            "default_auto_archive_duration": 1440,
            "default_thread_rate_limit_per_user": 0,
        }

    async def add_text_channel(self, guild_id: int, name: str, *, topic: str | None = None,
                               parent_id: int | None = None, news: bool = False,
                               permission_overwrites: list[JSON] | None = None) -> JSON:
        """Add a text (or announcement) channel; CHANNEL_CREATE when connected."""
        chan = self._base_channel(int(guild_id), name, GUILD_NEWS if news else GUILD_TEXT, parent_id)
        chan["topic"] = topic
        chan["permission_overwrites"] = permission_overwrites or []
        return await self._add_channel(chan)

    async def add_category(self, guild_id: int, name: str) -> JSON:
        chan = self._base_channel(int(guild_id), name, GUILD_CATEGORY)
        return await self._add_channel(chan)

    async def add_forum_channel(self, guild_id: int, name: str, tags: list[str | JSON] | None = None, *,
                                parent_id: int | None = None, require_tag: bool = False) -> JSON:
        """Add a forum channel; ``tags`` are names or tag dicts. Tag ids are generated."""
        chan = self._base_channel(int(guild_id), name, GUILD_FORUM, parent_id)
        available = []
        for tag in tags or []:
            t = {"name": tag} if isinstance(tag, str) else dict(tag)
            available.append({"id": str(t.get("id") or make_snowflake()), "name": t["name"],
                              "moderated": t.get("moderated", False), "emoji_id": t.get("emoji_id"),
                              "emoji_name": t.get("emoji_name")})
        chan.update({
            "available_tags": available,
            "default_reaction_emoji": None,
            "default_sort_order": None,
            "default_forum_layout": 0,
            "flags": 16 if require_tag else 0,
        })
        return await self._add_channel(chan)

    async def _add_channel(self, chan: JSON) -> JSON:
        self.channels[int(chan["id"])] = chan
        self.messages.setdefault(int(chan["id"]), [])
        await self.dispatch("CHANNEL_CREATE", chan)
        return chan

    def _thread_payload(self, parent: JSON, name: str, owner_id: int, *, thread_id: int | None = None,
                        ctype: int = PUBLIC_THREAD, auto_archive_duration: int = 1440,
                        applied_tags: list[Any] | None = None, invitable: bool = True) -> JSON:
        now = _iso()
        thread = {
            "id": str(thread_id or make_snowflake()),
            "type": ctype,
            "guild_id": parent["guild_id"],
            "parent_id": parent["id"],
            "owner_id": str(owner_id),
            "name": name,
            "last_message_id": None,
            "message_count": 0,
            "total_message_sent": 0,
            "member_count": 1,
            "rate_limit_per_user": 0,
            "flags": 0,
            "applied_tags": [str(t) for t in applied_tags or []],
            "thread_metadata": {
                "archived": False,
                "auto_archive_duration": auto_archive_duration,
                "archive_timestamp": now,
                "locked": False,
                "create_timestamp": now,
            },
        }
        if ctype == PRIVATE_THREAD:
            thread["thread_metadata"]["invitable"] = invitable
        return thread

    async def add_thread(self, channel_id: int, name: str, *, owner_id: int | None = None,
                         message_id: int | None = None, private: bool = False, archived: bool = False,
                         locked: bool = False, applied_tags: list[Any] | None = None,
                         starter_content: str | None = None) -> JSON:
        """Add a thread under a text/forum channel, created by a member (THREAD_CREATE when connected).

        For forum channels a starter message (``starter_content``, default the
        name) is stored with the thread's id, like Discord does.
        """
        parent = self._channel(int(channel_id))
        owner = int(owner_id or (parent and self.guilds[int(parent["guild_id"])]["owner_id"]))
        ctype = PRIVATE_THREAD if private else (NEWS_THREAD if parent["type"] == GUILD_NEWS else PUBLIC_THREAD)
        thread = self._thread_payload(parent, name, owner, thread_id=message_id, ctype=ctype,
                                      applied_tags=applied_tags)
        thread["thread_metadata"]["archived"] = archived
        thread["thread_metadata"]["locked"] = locked
        tid = int(thread["id"])
        self.channels[tid] = thread
        self.messages.setdefault(tid, [])
        if message_id is not None:
            self._mark_message_thread(int(channel_id), message_id, thread)
        await self.dispatch("THREAD_CREATE", {**thread, "newly_created": True})
        if parent["type"] == GUILD_FORUM:
            await self.post_message(tid, owner, starter_content or name, message_id=tid)
        return thread

    def _mark_message_thread(self, channel_id: int, message_id: int, thread: JSON) -> None:
        with contextlib.suppress(DiscordError):
            msg = self._message(channel_id, message_id)
            msg["thread"] = thread
            msg["flags"] = msg.get("flags", 0) | FLAG_HAS_THREAD

    async def announce_guild(self, guild_id: int) -> None:
        """(Re-)dispatch GUILD_CREATE with the current full guild state."""
        await self.dispatch("GUILD_CREATE", self.guild_payload(int(guild_id)))

    def guild_payload(self, guild_id: int, *, full: bool = True) -> JSON:
        """The guild as in GUILD_CREATE (``full``) or as REST GET /guilds/{id}."""
        gid = int(guild_id)
        guild = dict(self._guild(gid))
        guild["roles"] = copy.deepcopy(self.roles[gid])
        guild["approximate_member_count"] = len(self.members[gid])
        if not full:
            for key in ("joined_at", "large", "unavailable", "lazy"):
                guild.pop(key, None)
            return guild
        chans = [c for c in self.channels.values() if c.get("guild_id") == str(gid)]
        guild["channels"] = [c for c in chans if c["type"] not in THREAD_TYPES]
        guild["threads"] = [c for c in chans if c["type"] in THREAD_TYPES and not c["thread_metadata"]["archived"]]
        guild["members"] = list(self.members[gid].values())
        guild["member_count"] = len(self.members[gid])
        guild.update({"voice_states": [], "presences": [], "stage_instances": [], "guild_scheduled_events": [],
                      "soundboard_sounds": []})
        return copy.deepcopy(guild)

    # ------------------------------------------------------------------ lookups

    def _guild(self, gid: int) -> JSON:
        try:
            return self.guilds[gid]
        except KeyError:
            raise _unknown("Guild", 10004) from None

    def _channel(self, cid: int) -> JSON:
        try:
            return self.channels[cid]
        except KeyError:
            raise _unknown("Channel", 10003) from None

    def _message(self, cid: int, mid: int) -> JSON:
        for msg in self.messages.get(cid, []):
            if int(msg["id"]) == mid:
                return msg
        raise _unknown("Message", 10008)

    def _find_message(self, mid: int) -> JSON | None:
        for msgs in self.messages.values():
            for msg in msgs:
                if int(msg["id"]) == mid:
                    return msg
        return None

    def messages_in(self, channel_id: int) -> list[JSON]:
        """Stored history of a channel, oldest first (ephemeral messages are not stored)."""
        return [self._render_message(m) for m in self.messages.get(int(channel_id), [])]

    def get_message(self, channel_id: int, message_id: int) -> JSON:
        return self._render_message(self._message(int(channel_id), int(message_id)))

    def _member_permissions(self, gid: int, uid: int) -> int:
        guild = self._guild(gid)
        if str(uid) == guild["owner_id"]:
            return ALL_PERMISSIONS
        member = self.members[gid].get(uid)
        if member is None:
            return 0
        perms = 0
        role_ids = {str(gid), *member["roles"]}
        for role in self.roles[gid]:
            if role["id"] in role_ids:
                perms |= int(role["permissions"])
        return ALL_PERMISSIONS if perms & ADMINISTRATOR else perms

    def _channel_guild_id(self, cid: int) -> int | None:
        gid = self.channels.get(cid, {}).get("guild_id")
        return int(gid) if gid else None

    # ------------------------------------------------------------------ message model

    def _render_message(self, msg: JSON) -> JSON:
        """Message as Discord returns it over REST (reactions/poll results computed)."""
        out = copy.deepcopy({k: v for k, v in msg.items() if not k.startswith("_")})
        mid = int(msg["id"])
        reactions = []
        for key, users in self._reactions.items():
            if key[0] == mid and users:
                reactions.append({
                    "emoji": dict(self._emoji_data[key[1]]),
                    "count": len(users),
                    "count_details": {"burst": 0, "normal": len(users)},
                    "me": self.bot_user_id in users,
                    "me_burst": False,
                    "burst_colors": [],
                    "burst_count": 0,
                })
        if reactions:
            out["reactions"] = reactions
        if "poll" in out:
            votes = self._poll_votes.get(mid, {})
            out["poll"]["results"] = {
                "is_finalized": bool(msg.get("_poll_finalized")),
                "answer_counts": [
                    {"id": a["answer_id"], "count": len(votes.get(a["answer_id"], ())),
                     "me_voted": self.bot_user_id in votes.get(a["answer_id"], ())}
                    for a in out["poll"]["answers"]
                ],
            }
        return out

    def _gateway_message(self, msg: JSON) -> JSON:
        """Message as in MESSAGE_CREATE/UPDATE: adds guild_id and member."""
        out = self._render_message(msg)
        gid = self._channel_guild_id(int(msg["channel_id"]))
        if gid is not None:
            out["guild_id"] = str(gid)
            member = self.members.get(gid, {}).get(int(msg["author"]["id"]))
            if member is not None and not msg.get("webhook_id"):
                out["member"] = {k: v for k, v in member.items() if k != "user"}
        return out

    def _parse_mentions(self, content: str, gid: int | None, allowed: JSON | None,
                        author_id: int) -> tuple[list[JSON], list[str], bool]:
        user_ids = [int(x) for x in re.findall(r"<@!?(\d+)>", content)]
        role_ids = re.findall(r"<@&(\d+)>", content)
        everyone = "@everyone" in content or "@here" in content
        if allowed is not None:
            parse = allowed.get("parse", [])
            allowed_users = {int(u) for u in allowed.get("users", [])}
            allowed_roles = {str(r) for r in allowed.get("roles", [])}
            user_ids = [u for u in user_ids if "users" in parse or u in allowed_users]
            role_ids = [r for r in role_ids if "roles" in parse or r in allowed_roles]
            everyone = everyone and "everyone" in parse
        mentions = []
        for uid in dict.fromkeys(user_ids):
            user = self.users.get(uid)
            if user is None:
                continue
            entry = dict(user)
            member = self.members.get(gid, {}).get(uid) if gid else None
            if member is not None:
                entry["member"] = {k: v for k, v in member.items() if k != "user"}
            mentions.append(entry)
        return mentions, list(dict.fromkeys(role_ids)), everyone

    def _build_poll(self, spec: JSON) -> JSON:
        answers = []
        for i, ans in enumerate(spec.get("answers", []), start=1):
            answers.append({"answer_id": i, "poll_media": ans.get("poll_media", ans)})
        duration = int(spec.get("duration", 24))
        expiry = dt.datetime.now(dt.UTC) + dt.timedelta(hours=duration)
        return {
            "question": spec.get("question", {"text": ""}),
            "answers": answers,
            "expiry": _iso(expiry),
            "allow_multiselect": bool(spec.get("allow_multiselect", False)),
            "layout_type": spec.get("layout_type", 1),
        }

    def _store_attachments(self, specs: list[JSON], files: list[RecordedFile]) -> list[JSON]:
        """Turn uploaded ``files[n]`` (+ ``attachments`` metadata) into attachment objects."""
        meta_by_index = {str(a.get("id")): a for a in specs}
        out = []
        for f in files:
            m = re.fullmatch(r"files\[(\d+)\]", f.field_name)
            idx = m.group(1) if m else str(len(out))
            meta = meta_by_index.get(idx, {})
            aid = make_snowflake()
            filename = meta.get("filename") or f.filename or f"file{idx}"
            self._attachments[aid] = f.data
            url = f"{self.base_url}/attachments/{aid}/{filename}"
            att = {"id": str(aid), "filename": filename, "size": len(f.data), "url": url, "proxy_url": url,
                   "content_type": f.content_type or "application/octet-stream"}
            if meta.get("description"):
                att["description"] = meta["description"]
            if filename.startswith("SPOILER_"):
                att["spoiler"] = True
            out.append(att)
        # attachments kept from a previous version (edits pass {"id": existing})
        return out

    def _new_message(self, channel_id: int, author: JSON, payload: JSON, *, files: list[RecordedFile] | None = None,
                     message_id: int | None = None, msg_type: int = 0, webhook_id: int | None = None,
                     extra: JSON | None = None, validate: bool = True) -> JSON:
        """Validate + build a message dict (not yet stored)."""
        files = files or []
        content = payload.get("content") or ""
        embeds = payload.get("embeds") or []
        components = payload.get("components") or []
        if validate:
            if not (content or embeds or files or payload.get("poll") or components or payload.get("sticker_ids")):
                raise DiscordError(400, 50006, "Cannot send an empty message")
            if len(content) > 2000:
                raise DiscordError(400, 50035, "Invalid Form Body", {"content": {"_errors": [{
                    "code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 2000 or fewer in length."}]}})
            if len(embeds) > 10:
                raise DiscordError(400, 50035, "Invalid Form Body", {"embeds": {"_errors": [{
                    "code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 10 or fewer in length."}]}})
        gid = self._channel_guild_id(channel_id)
        mentions, mention_roles, everyone = self._parse_mentions(
            content, gid, payload.get("allowed_mentions"), int(author["id"]))
        msg: JSON = {
            "id": str(message_id or make_snowflake()),
            "channel_id": str(channel_id),
            "author": copy.deepcopy(author),
            "content": content,
            "timestamp": _iso(),
            "edited_timestamp": None,
            "tts": bool(payload.get("tts", False)),
            "mention_everyone": everyone,
            "mentions": mentions,
            "mention_roles": mention_roles,
            "mention_channels": [],
            "attachments": self._store_attachments(payload.get("attachments") or [], files),
            "embeds": [{"type": "rich", **e} for e in embeds],
            "pinned": False,
            "type": msg_type,
            "flags": int(payload.get("flags") or 0),
            "components": components,
        }
        if webhook_id is not None:
            msg["webhook_id"] = str(webhook_id)
        if payload.get("nonce") is not None:
            msg["nonce"] = payload["nonce"]
        if payload.get("poll"):
            msg["poll"] = self._build_poll(payload["poll"])
        if payload.get("sticker_ids"):
            msg["sticker_items"] = [{"id": str(s), "name": "sticker", "format_type": 1} for s in payload["sticker_ids"]]
        ref = payload.get("message_reference")
        if ref:
            ref_cid = int(ref.get("channel_id") or channel_id)
            ref_mid = int(ref["message_id"])
            target = next((m for m in self.messages.get(ref_cid, []) if int(m["id"]) == ref_mid), None)
            if target is None and ref.get("fail_if_not_exists", True):
                raise DiscordError(400, 50035, "Invalid Form Body", {"message_reference": {"_errors": [{
                    "code": "MESSAGE_REFERENCE_UNKNOWN_MESSAGE", "message": "Unknown message"}]}})
            msg["message_reference"] = {"type": ref.get("type", 0), "message_id": str(ref_mid),
                                        "channel_id": str(ref_cid)}
            if gid is not None:
                msg["message_reference"]["guild_id"] = str(gid)
            if ref.get("type", 0) == 0:
                msg["type"] = 19 if msg_type == 0 else msg_type
                msg["referenced_message"] = self._render_message(target) if target else None
            elif target is not None:  # forward
                msg["message_snapshots"] = [{"message": {k: target[k] for k in (
                    "content", "embeds", "attachments", "timestamp", "edited_timestamp", "flags", "mentions",
                    "mention_roles", "type", "components")}}]
        if extra:
            msg.update(extra)
        return msg

    async def _store_and_dispatch(self, msg: JSON, *, dispatch: bool = True) -> JSON:
        cid = int(msg["channel_id"])
        self.messages.setdefault(cid, []).append(msg)
        self.messages[cid].sort(key=lambda m: int(m["id"]))
        chan = self.channels.get(cid)
        if chan is not None:
            chan["last_message_id"] = max(chan.get("last_message_id") or "0", msg["id"], key=int)
            if chan["type"] in THREAD_TYPES:
                chan["message_count"] += 1
                chan["total_message_sent"] += 1
        if dispatch:
            await self.dispatch("MESSAGE_CREATE", self._gateway_message(msg))
        return msg

    async def _unarchive_for_post(self, cid: int) -> None:
        chan = self._channel(cid)
        if chan["type"] in THREAD_TYPES and chan["thread_metadata"]["archived"]:
            if chan["thread_metadata"]["locked"]:
                raise DiscordError(400, 50083, "Thread is archived")
            chan["thread_metadata"]["archived"] = False
            chan["thread_metadata"]["archive_timestamp"] = _iso()
            await self.dispatch("THREAD_UPDATE", chan)

    # ------------------------------------------------------------------ member activity (test API)

    async def post_message(self, channel_id: int, author_id: int, content: str = "", *,
                           reference: int | JSON | None = None, attachments: list[JSON] | None = None,
                           embeds: list[JSON] | None = None, dispatch: bool = True,
                           message_id: int | None = None, at: dt.datetime | None = None) -> JSON:
        """A member posts a message (MESSAGE_CREATE unless ``dispatch=False``).

        ``reference``: message id (same channel) or a message_reference dict.
        ``attachments``: dicts with at least ``filename`` (``size``, ``content_type``, ``url`` optional).
        ``at``: backdate the message (its id is derived from the time, so history ordering stays right).
        """
        cid = int(channel_id)
        self._channel(cid)
        author = self.users.get(int(author_id)) or self._make_user(int(author_id), f"user{author_id}")
        payload: JSON = {"content": content, "embeds": embeds or []}
        if reference is not None:
            payload["message_reference"] = reference if isinstance(reference, dict) else {"message_id": reference}
        if message_id is None and at is not None:
            message_id = make_snowflake(at.timestamp())
        msg = self._new_message(cid, author, payload, message_id=message_id, validate=False)
        if at is not None:
            msg["timestamp"] = _iso(at)
        for att in attachments or []:
            aid = att.get("id") or make_snowflake()
            url = att.get("url") or f"{self.base_url}/attachments/{aid}/{att['filename']}"
            msg["attachments"].append({"id": str(aid), "filename": att["filename"], "size": att.get("size", 0),
                                       "url": url, "proxy_url": url,
                                       "content_type": att.get("content_type", "application/octet-stream"),
                                       **{k: v for k, v in att.items() if k not in ("id", "url")}})
        return await self._store_and_dispatch(msg, dispatch=dispatch)

    async def edit_message(self, channel_id: int, message_id: int, content: str) -> JSON:
        """A member edits their message (MESSAGE_UPDATE with the full message, as Discord sends today).

        discord.py 2.7 builds a Message from every MESSAGE_UPDATE, so the older
        partial shape (no ``type`` or ``author``) would crash the client's
        gateway reader; real Discord no longer sends it.
        """
        msg = self._message(int(channel_id), int(message_id))
        msg["content"] = content
        msg["edited_timestamp"] = _iso()
        await self.dispatch("MESSAGE_UPDATE", self._gateway_message(msg))
        return msg

    async def delete_message(self, channel_id: int, message_id: int) -> None:
        """A message disappears (MESSAGE_DELETE)."""
        cid, mid = int(channel_id), int(message_id)
        msg = self._message(cid, mid)
        self.messages[cid].remove(msg)
        data: JSON = {"id": str(mid), "channel_id": str(cid)}
        gid = self._channel_guild_id(cid)
        if gid:
            data["guild_id"] = str(gid)
        await self.dispatch("MESSAGE_DELETE", data)

    async def bulk_delete(self, channel_id: int, message_ids: list[int]) -> None:
        """MESSAGE_DELETE_BULK for several messages."""
        cid = int(channel_id)
        ids = {int(m) for m in message_ids}
        self.messages[cid] = [m for m in self.messages.get(cid, []) if int(m["id"]) not in ids]
        data: JSON = {"ids": [str(i) for i in ids], "channel_id": str(cid)}
        gid = self._channel_guild_id(cid)
        if gid:
            data["guild_id"] = str(gid)
        await self.dispatch("MESSAGE_DELETE_BULK", data)

    @staticmethod
    def _emoji_key(emoji: str | JSON) -> tuple[str, JSON]:
        """Normalise "👍", "name:id", "<:name:id>" or an emoji dict to (key, emoji object)."""
        if isinstance(emoji, dict):
            if emoji.get("id"):
                return f"{emoji.get('name')}:{emoji['id']}", {"id": str(emoji["id"]), "name": emoji.get("name"),
                                                                "animated": bool(emoji.get("animated"))}
            return emoji["name"], {"id": None, "name": emoji["name"]}
        m = re.fullmatch(r"<?(a)?:?([\w~]+):(\d+)>?", emoji)
        if m:
            return f"{m.group(2)}:{m.group(3)}", {"id": m.group(3), "name": m.group(2), "animated": bool(m.group(1))}
        return emoji, {"id": None, "name": emoji}

    def _reaction_event(self, cid: int, mid: int, uid: int, emoji: JSON) -> JSON:
        data: JSON = {"user_id": str(uid), "channel_id": str(cid), "message_id": str(mid), "emoji": emoji,
                      "burst": False, "type": 0}
        gid = self._channel_guild_id(cid)
        if gid:
            data["guild_id"] = str(gid)
        return data

    async def add_reaction(self, channel_id: int, message_id: int, user_id: int, emoji: str | JSON) -> None:
        """A member reacts (MESSAGE_REACTION_ADD, with member and message_author_id)."""
        cid, mid, uid = int(channel_id), int(message_id), int(user_id)
        msg = self._message(cid, mid)
        key, data = self._emoji_key(emoji)
        self._emoji_data[key] = data
        users = self._reactions.setdefault((mid, key), [])
        if uid in users:
            return
        users.append(uid)
        event = self._reaction_event(cid, mid, uid, data)
        event["message_author_id"] = msg["author"]["id"]
        gid = self._channel_guild_id(cid)
        if gid and uid in self.members.get(gid, {}):
            event["member"] = self.members[gid][uid]
        await self.dispatch("MESSAGE_REACTION_ADD", event)

    async def remove_reaction(self, channel_id: int, message_id: int, user_id: int, emoji: str | JSON) -> None:
        """A member removes a reaction (MESSAGE_REACTION_REMOVE)."""
        cid, mid, uid = int(channel_id), int(message_id), int(user_id)
        key, data = self._emoji_key(emoji)
        users = self._reactions.get((mid, key), [])
        if uid in users:
            users.remove(uid)
            await self.dispatch("MESSAGE_REACTION_REMOVE", self._reaction_event(cid, mid, uid, data))

    def reactions_on(self, message_id: int) -> dict[str, list[int]]:
        """emoji key -> user ids currently reacting."""
        return {k[1]: list(v) for k, v in self._reactions.items() if k[0] == int(message_id) and v}

    async def poll_vote(self, channel_id: int, message_id: int, user_id: int, answer_id: int, add: bool = True) -> None:
        """A member votes/unvotes (MESSAGE_POLL_VOTE_ADD / _REMOVE)."""
        cid, mid, uid = int(channel_id), int(message_id), int(user_id)
        msg = self._message(cid, mid)
        if "poll" not in msg:
            raise ValueError("message has no poll")
        if msg.get("_poll_finalized"):
            raise ValueError("poll already ended")
        votes = self._poll_votes.setdefault(mid, {})
        bucket = votes.setdefault(int(answer_id), set())
        if add:
            if not msg["poll"]["allow_multiselect"]:
                for other in votes.values():
                    other.discard(uid)
            bucket.add(uid)
        else:
            bucket.discard(uid)
        data: JSON = {"user_id": str(uid), "channel_id": str(cid), "message_id": str(mid),
                      "answer_id": int(answer_id)}
        gid = self._channel_guild_id(cid)
        if gid:
            data["guild_id"] = str(gid)
        await self.dispatch("MESSAGE_POLL_VOTE_ADD" if add else "MESSAGE_POLL_VOTE_REMOVE", data)

    def poll_voters(self, message_id: int, answer_id: int) -> list[int]:
        return sorted(self._poll_votes.get(int(message_id), {}).get(int(answer_id), set()))

    async def end_poll(self, channel_id: int, message_id: int) -> JSON:
        """Finalize a poll: MESSAGE_UPDATE with results.is_finalized = true."""
        msg = self._message(int(channel_id), int(message_id))
        msg["_poll_finalized"] = True
        msg["poll"]["expiry"] = _iso()
        rendered = self._gateway_message(msg)
        await self.dispatch("MESSAGE_UPDATE", rendered)
        return rendered

    # ------------------------------------------------------------------ interactions (test API)

    def _find_command(self, name: str, guild_id: int | None, ctype: int) -> JSON | None:
        pools = ([self.guild_commands.get(guild_id, [])] if guild_id else []) + [self.global_commands]
        for pool in pools:
            for cmd in pool:
                if cmd["name"] == name and cmd.get("type", 1) == ctype:
                    return cmd
        return None

    def _interaction_base(self, itype: int, guild_id: int | None, channel_id: int | None, user_id: int) -> JSON:
        iid = make_snowflake()
        uid = int(user_id)
        user = self.users.get(uid) or self._make_user(uid, f"user{uid}")
        payload: JSON = {
            "id": str(iid),
            "application_id": str(self.application_id),
            "type": itype,
            "token": f"itok_{iid}_{secrets.token_hex(8)}",
            "version": 1,
            "locale": "en-US",
            "entitlements": [],
            "attachment_size_limit": 10 * 1024 * 1024,
        }
        if channel_id is not None:
            chan = self._channel(int(channel_id))
            payload["channel_id"] = chan["id"]
            payload["channel"] = {k: v for k, v in chan.items() if k != "last_pin_timestamp"}
        if guild_id is not None:
            gid = int(guild_id)
            member = self.members[gid].get(uid)
            if member is None:
                member = self._member_payload(gid, user, [])
            payload["guild_id"] = str(gid)
            payload["guild"] = {"id": str(gid), "locale": "en-US", "features": []}
            payload["guild_locale"] = self.guilds[gid]["preferred_locale"]
            payload["member"] = {**copy.deepcopy(member), "permissions": str(self._member_permissions(gid, uid))}
            payload["app_permissions"] = str(self._member_permissions(gid, self.bot_user_id))
            if "channel" in payload:  # Discord adds the invoker's computed permissions to the channel
                payload["channel"]["permissions"] = payload["member"]["permissions"]
            payload["authorizing_integration_owners"] = {"0": str(gid)}
            payload["context"] = 0
        else:
            payload["user"] = copy.deepcopy(user)
            payload["app_permissions"] = str(ALL_PERMISSIONS & ~ADMINISTRATOR)
            payload["authorizing_integration_owners"] = {"0": "0"}
            payload["context"] = 1
            if channel_id is None:
                dm = self._dm_channel_for(uid)
                payload["channel_id"] = dm["id"]
                payload["channel"] = dm
        return payload

    def _resolve_value(self, otype: int, value: Any, resolved: JSON, guild_id: int | None) -> Any:
        """Fill ``resolved`` for user/channel/role/mentionable/attachment options."""
        if otype in (6, 9) and int(value) in self.users:
            uid = int(value)
            resolved.setdefault("users", {})[str(uid)] = self.users[uid]
            if guild_id and uid in self.members.get(guild_id, {}):
                m = self.members[guild_id][uid]
                resolved.setdefault("members", {})[str(uid)] = {
                    **{k: v for k, v in m.items() if k != "user"},
                    "permissions": str(self._member_permissions(guild_id, uid))}
            return str(uid)
        if otype in (8, 9) and guild_id:
            role = next((r for r in self.roles[guild_id] if r["id"] == str(value)), None)
            if role is not None:
                resolved.setdefault("roles", {})[role["id"]] = role
                return role["id"]
        if otype == 7:
            chan = self._channel(int(value))
            entry = {k: chan[k] for k in ("id", "name", "type") if k in chan}
            entry["permissions"] = str(ALL_PERMISSIONS)
            for k in ("parent_id", "thread_metadata", "guild_id"):
                if k in chan:
                    entry[k] = chan[k]
            resolved.setdefault("channels", {})[chan["id"]] = entry
            return chan["id"]
        if otype == 11:
            att = dict(value) if isinstance(value, dict) else {"filename": str(value)}
            aid = str(att.pop("id", None) or make_snowflake())
            url = f"{self.base_url}/attachments/{aid}/{att['filename']}"
            resolved.setdefault("attachments", {})[aid] = {"id": aid, "url": url, "proxy_url": url, "size": 0,
                                                           "content_type": "application/octet-stream", **att}
            return aid
        return str(value) if otype in (6, 7, 8, 9) else value

    @staticmethod
    def _infer_type(value: Any) -> int:
        if isinstance(value, bool):
            return 5
        if isinstance(value, int):
            return 4
        if isinstance(value, float):
            return 10
        return 3

    def _build_options(self, spec_options: list[JSON], values: dict[str, Any] | list[JSON], resolved: JSON,
                       guild_id: int | None, focused: str | None = None) -> list[JSON]:
        if isinstance(values, list):  # raw option dicts, passed through
            return values
        out = []
        for name, value in values.items():
            spec = next((o for o in spec_options if o["name"] == name), None)
            otype = spec["type"] if spec else self._infer_type(value)
            opt: JSON = {"name": name, "type": otype}
            if focused == name:
                opt["value"] = str(value)
                opt["focused"] = True
            else:
                opt["value"] = self._resolve_value(otype, value, resolved, guild_id)
            out.append(opt)
        return out

    def _command_data(self, name: str, guild_id: int | None, options: dict[str, Any] | list[JSON] | None,
                      ctype: int = 1, focused: str | None = None, target_id: int | None = None,
                      command_guild_id: int | None = None) -> JSON:
        parts = name.split() if ctype == 1 else [name]  # context-menu names may contain spaces
        cmd = self._find_command(parts[0], command_guild_id or guild_id, ctype)
        resolved: JSON = {}
        spec_options: list[JSON] = (cmd or {}).get("options", [])
        path_opts: list[JSON] = []
        container = path_opts
        for sub in parts[1:]:
            spec = next((o for o in spec_options if o["name"] == sub), None)
            stype = spec["type"] if spec else (2 if sub != parts[-1] else 1)
            node: JSON = {"name": sub, "type": stype, "options": []}
            container.append(node)
            container = node["options"]
            spec_options = (spec or {}).get("options", [])
        container.extend(self._build_options(spec_options, options or {}, resolved, guild_id, focused))
        data: JSON = {
            "id": (cmd or {}).get("id") or str(make_snowflake()),
            "name": parts[0],
            "type": ctype,
        }
        if path_opts:
            data["options"] = path_opts
        elif container:
            data["options"] = container
        cmd_gid = command_guild_id or (cmd or {}).get("guild_id")
        if cmd_gid:
            data["guild_id"] = str(cmd_gid)
        if target_id is not None:
            data["target_id"] = str(target_id)
            if ctype == 2:
                self._resolve_value(6, target_id, resolved, guild_id)
            else:
                msg = self._find_message(int(target_id))
                if msg is not None:
                    resolved["messages"] = {msg["id"]: self._render_message(msg)}
        if resolved:
            data["resolved"] = resolved
        return data

    async def _send_interaction(self, payload: JSON) -> InteractionRecord:
        record = InteractionRecord(id=int(payload["id"]), token=payload["token"], type=payload["type"],
                                   payload=payload,
                                   channel_id=int(payload["channel_id"]) if payload.get("channel_id") else None,
                                   guild_id=int(payload["guild_id"]) if payload.get("guild_id") else None)
        self.interactions[record.id] = record
        await self.dispatch("INTERACTION_CREATE", payload)
        return record

    async def invoke_command(self, guild_id: int | None, channel_id: int | None, user_id: int, name: str,
                             options: dict[str, Any] | list[JSON] | None = None, *, type: int = 2,
                             command_type: int = 1, target_id: int | None = None,
                             command_guild_id: int | None = None) -> InteractionRecord:
        """A user runs an application command (INTERACTION_CREATE type 2).

        ``name`` may contain subcommands: ``"group sub"``.  ``options`` maps option
        name to value (types come from the synced command; user/channel/role
        values are ids and get ``resolved`` data) or is a raw option list.
        ``command_type`` 2/3 with ``target_id`` invokes a user/message context menu.
        ``guild_id=None`` makes a DM interaction.
        """
        payload = self._interaction_base(type, guild_id, channel_id, user_id)
        payload["data"] = self._command_data(name, int(guild_id) if guild_id else None, options, command_type,
                                             target_id=target_id, command_guild_id=command_guild_id)
        return await self._send_interaction(payload)

    async def invoke_autocomplete(self, guild_id: int | None, channel_id: int | None, user_id: int, name: str,
                                  options: dict[str, Any], focused: str, *,
                                  command_guild_id: int | None = None) -> InteractionRecord:
        """Autocomplete for option ``focused`` (type 4). ``await record.wait_choices()`` for the result."""
        payload = self._interaction_base(4, guild_id, channel_id, user_id)
        payload["data"] = self._command_data(name, int(guild_id) if guild_id else None, options,
                                             focused=focused, command_guild_id=command_guild_id)
        return await self._send_interaction(payload)

    async def autocomplete_choices(self, *args: Any, timeout: float = 5.0, **kwargs: Any) -> list[JSON]:
        """``invoke_autocomplete`` + wait; returns the choices list."""
        record = await self.invoke_autocomplete(*args, **kwargs)
        return await record.wait_choices(timeout)

    @staticmethod
    def _walk_components(components: list[JSON]) -> Iterator[JSON]:
        for comp in components:
            yield comp
            yield from DiscordDouble._walk_components(comp.get("components", []))
            if isinstance(comp.get("accessory"), dict):
                yield comp["accessory"]
            if isinstance(comp.get("component"), dict):
                yield comp["component"]

    async def click_component(self, message: JSON | int, custom_id: str, user_id: int, *,
                              values: list[str] | None = None, channel_id: int | None = None) -> InteractionRecord:
        """A user clicks a button / picks select values on a message (type 3).

        ``message``: the message dict (e.g. from ``messages_in``/a record) or its id.
        """
        msg = message if isinstance(message, dict) else self._find_message(int(message))
        if msg is None:
            raise ValueError(f"unknown message {message}")
        stored = self._find_message(int(msg["id"]))
        rendered = self._render_message(stored) if stored else copy.deepcopy(msg)
        comp = next((c for c in self._walk_components(rendered.get("components", []))
                     if c.get("custom_id") == custom_id), None)
        if comp is None:
            raise ValueError(f"no component with custom_id {custom_id!r} on message {msg['id']}")
        cid = int(channel_id or msg["channel_id"])
        gid = self._channel_guild_id(cid)
        payload = self._interaction_base(3, gid, cid, user_id)
        payload["message"] = rendered
        data: JSON = {"custom_id": custom_id, "component_type": comp["type"]}
        if comp["type"] != 2:
            data["values"] = list(values or [])
            resolved: JSON = {}
            rtype = {5: 6, 6: 8, 7: 9, 8: 7}.get(comp["type"])
            if rtype is not None:
                for v in data["values"]:
                    self._resolve_value(rtype, v, resolved, gid)
                data["resolved"] = resolved
        payload["data"] = data
        return await self._send_interaction(payload)

    async def submit_modal(self, custom_id: str, values: dict[str, Any], user_id: int, *,
                           guild_id: int | None = None, channel_id: int | None = None,
                           modal: JSON | None = None) -> InteractionRecord:
        """A user submits a modal (type 5). ``values`` maps component custom_id to value.

        The structure mirrors the modal the bot sent (looked up by custom_id
        among interaction callbacks, or passed as ``modal``): action rows with
        text inputs, or label components (type 18).  Text inputs get ``value``,
        selects get ``values``.
        """
        source: InteractionRecord | None = None
        for rec in reversed(list(self.interactions.values())):
            if rec.modal and rec.modal.get("custom_id") == custom_id:
                source = rec
                modal = modal or rec.modal
                guild_id = guild_id or rec.guild_id
                channel_id = channel_id or rec.channel_id
                break

        def answer(comp: JSON) -> JSON:
            out: JSON = {"type": comp["type"], "custom_id": comp.get("custom_id")}
            if "id" in comp:
                out["id"] = comp["id"]
            value = values.get(comp.get("custom_id", ""), "")
            if comp["type"] == 4:
                out["value"] = value
            else:
                out["values"] = value if isinstance(value, list) else [value]
            return out

        components: list[JSON] = []
        if modal is not None:
            for top in modal.get("components", []):
                if top["type"] == 1:
                    components.append({"type": 1, "components": [answer(c) for c in top["components"]]})
                elif top["type"] == 18:
                    components.append({"type": 18, "id": top.get("id"), "component": answer(top["component"])})
        else:
            components = [{"type": 1, "components": [{"type": 4, "custom_id": k, "value": v}]}
                          for k, v in values.items()]
        payload = self._interaction_base(5, guild_id, channel_id, user_id)
        payload["data"] = {"custom_id": custom_id, "components": components}
        if source is not None and "message" in source.payload:  # modal opened from a component
            payload["message"] = source.payload["message"]
        return await self._send_interaction(payload)

    # ------------------------------------------------------------------ faults & utilities

    def inject_fault(self, method: str, path_regex: str, status: int, *, times: int | None = 1,
                     retry_after: float | None = None, global_: bool = False, body: Any = None) -> Fault:
        """Make matching REST requests fail with ``status`` (``times=None``: forever).

        429 gets Discord's body (``retry_after``, ``global``) and headers
        (Retry-After, X-RateLimit-*, X-RateLimit-Scope, Via); 502 gets an HTML
        body like Cloudflare; others a ``{"message", "code"}`` JSON body.
        ``method`` may be ``"*"``.  ``path_regex`` is searched in the API path.
        """
        fault = Fault(method.upper(), re.compile(path_regex), status, times,
                      retry_after if retry_after is not None else (0.25 if status == 429 else None), global_, body)
        self.faults.append(fault)
        return fault

    def enforce_global_rate_limit(self, per_second: int | None = 50) -> None:
        """Answer 429 (global) when more than ``per_second`` requests arrive in 1 s; None disables."""
        self.global_rate_limit = per_second
        self._global_window.clear()

    def find_requests(self, method: str | None = None, path_regex: str = "") -> list[RecordedRequest]:
        """Recorded requests matching method (None = any) and regex (searched in path)."""
        rx = re.compile(path_regex)
        return [r for r in self.requests if (method is None or r.method == method.upper()) and rx.search(r.path)]

    def clear_requests(self) -> None:
        self.requests.clear()
        self.unhandled.clear()

    async def wait_for_request(self, method: str | None, path_regex: str, timeout: float = 5.0, *,
                               count: int = 1, completed: bool = True) -> RecordedRequest:
        """Wait until ``count`` matching requests were received (and answered, if ``completed``)."""

        async def loop() -> RecordedRequest:
            while True:
                found = [r for r in self.find_requests(method, path_regex) if r.status or not completed]
                if len(found) >= count:
                    return found[count - 1]
                self._request_event.clear()
                await self._request_event.wait()

        return await asyncio.wait_for(loop(), timeout)

    async def wait_until(self, predicate: Callable[[], Any], timeout: float = 5.0, interval: float = 0.01) -> Any:
        """Poll ``predicate`` until truthy (for gateway state like ``resume_count``)."""

        async def loop() -> Any:
            while True:
                value = predicate()
                if value:
                    return value
                await asyncio.sleep(interval)

        return await asyncio.wait_for(loop(), timeout)

    @property
    def connected(self) -> bool:
        """True when some session has a live, handshaken websocket."""
        return any(s.ws is not None and not s.ws.closed and not s.invalidated for s in self._sessions.values())

    async def start_bot(self, bot: Any, *, token: str = "test-token", timeout: float = 10.0) -> asyncio.Task[None]:
        """Run ``bot.start(token)`` in a task and wait for on_ready. Caller must ``await bot.close()``."""
        task = asyncio.create_task(bot.start(token))
        waiter = asyncio.create_task(bot.wait_until_ready())
        done, _ = await asyncio.wait({task, waiter}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if waiter not in done:
            waiter.cancel()
            if task in done:
                task.result()  # re-raise the login/connect error
            raise TimeoutError("bot did not become ready")
        return task

    # ------------------------------------------------------------------ gateway

    def _intent_for(self, event: str, data: JSON) -> int | None:
        """Intent required for a dispatch (None: always delivered)."""
        guild = bool(data.get("guild_id"))
        if event.startswith("MESSAGE_REACTION"):
            return INTENT_GUILD_MESSAGE_REACTIONS if guild else INTENT_DIRECT_MESSAGE_REACTIONS
        if event.startswith("MESSAGE_POLL_VOTE"):
            return INTENT_GUILD_MESSAGE_POLLS if guild else INTENT_DIRECT_MESSAGE_POLLS
        if event.startswith("MESSAGE_"):
            return INTENT_GUILD_MESSAGES if guild else INTENT_DIRECT_MESSAGES
        if event.startswith("GUILD_MEMBER"):
            return INTENT_GUILD_MEMBERS
        if event.startswith(("GUILD_", "CHANNEL_", "THREAD_")):
            return INTENT_GUILDS
        if event == "TYPING_START":
            return INTENT_GUILD_MESSAGE_TYPING
        return None

    def _redact_for(self, session: _Session, event: str, data: JSON) -> JSON:
        """Tailor a dispatch to the session's intents, like Discord.

        * GUILD_CREATE without GUILD_PRESENCES lists only the bot's own member
          (``member_count`` stays the real count, so discord.py chunks via op 8
          when the members intent is on).
        * MESSAGE_CREATE/UPDATE without MESSAGE_CONTENT have content, embeds,
          attachments, components and poll blanked (except DMs, own messages
          and messages mentioning the bot).
        """
        if event == "GUILD_CREATE" and not session.intents & INTENT_GUILD_PRESENCES:
            data["members"] = [m for m in data.get("members", []) if m["user"]["id"] == str(self.bot_user_id)]
            return data
        if session.intents & INTENT_MESSAGE_CONTENT or event not in ("MESSAGE_CREATE", "MESSAGE_UPDATE"):
            return data
        if not data.get("guild_id") or data.get("author", {}).get("id") == str(self.bot_user_id):
            return data
        if any(u.get("id") == str(self.bot_user_id) for u in data.get("mentions", [])):
            return data
        data = dict(data)
        data.update(content="", embeds=[], attachments=[], components=[])
        data.pop("poll", None)
        return data

    async def dispatch(self, event: str, data: JSON) -> None:
        """Send a DISPATCH to every live session (buffered for disconnected, resumable ones)."""
        await self._flush_guild_creates()
        await self._dispatch_now(event, data)

    async def _dispatch_now(self, event: str, data: JSON) -> None:
        for session in list(self._sessions.values()):
            if session.invalidated:
                continue
            needed = self._intent_for(event, data)
            if needed is not None and not session.intents & needed:
                continue
            await self._send_dispatch(session, event, self._redact_for(session, event, copy.deepcopy(data)))

    async def _send_dispatch(self, session: _Session, event: str, data: JSON) -> None:
        async with session.lock:
            session.seq += 1
            text = json.dumps({"op": OP_DISPATCH, "t": event, "s": session.seq, "d": data})
            session.log.append((session.seq, text))
            if session.ws is not None:
                await self._send_text(session.ws, text)

    @staticmethod
    async def _send(ws: web.WebSocketResponse, frame: JSON) -> None:
        await DiscordDouble._send_text(ws, json.dumps(frame))

    @staticmethod
    async def _send_text(ws: web.WebSocketResponse, text: str) -> None:
        if ws.closed:
            return
        with contextlib.suppress(ConnectionError, RuntimeError):
            await ws.send_str(text)

    def _live_sessions(self) -> list[_Session]:
        return [s for s in self._sessions.values() if s.ws is not None and not s.invalidated]

    async def disconnect(self, code: int = 4000) -> None:
        """Drop the gateway connection with a resumable close code; the client RESUMEs."""
        for session in self._live_sessions():
            async with session.lock:
                ws, session.ws = session.ws, None
            if ws is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(ws.close(code=code), 2.0)

    def hold_connections(self) -> None:
        """Accept new gateway sockets but withhold HELLO until :meth:`release_connections`.

        Makes "event while the bot is disconnected" deterministic: hold, disconnect,
        dispatch (buffered for RESUME), release.
        """
        self._accepting.clear()

    def release_connections(self) -> None:
        self._accepting.set()

    async def invalid_session(self, resumable: bool = False) -> None:
        """Send op 9; with ``resumable=False`` the session is dropped and the client re-IDENTIFYs."""
        for session in self._live_sessions():
            async with session.lock:
                ws = session.ws
                if not resumable:
                    session.invalidated = True
                    session.ws = None
                if ws is not None:
                    await self._send(ws, {"op": OP_INVALID_SESSION, "d": resumable, "s": None, "t": None})

    async def reconnect(self) -> None:
        """Send op 7 RECONNECT; the client closes and RESUMEs."""
        for session in self._live_sessions():
            async with session.lock:
                ws, session.ws = session.ws, None
                if ws is not None:
                    await self._send(ws, {"op": OP_RECONNECT, "d": None, "s": None, "t": None})

    async def _gateway_handler(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True, timeout=2.0, max_msg_size=0)
        await ws.prepare(request)
        self._sockets.add(ws)
        self.connection_count += 1
        await self._accepting.wait()  # hold_connections(): HELLO is delayed until released
        await self._send(ws, {"op": OP_HELLO, "d": {"heartbeat_interval": self.heartbeat_interval_ms},
                              "s": None, "t": None})
        session: _Session | None = None
        try:
            async for msg in ws:
                if msg.type is not WSMsgType.TEXT:
                    if msg.type is WSMsgType.BINARY:
                        await ws.close(code=4002, message=b"Error while decoding payload")
                    continue
                try:
                    frame = json.loads(msg.data)
                except ValueError:
                    await ws.close(code=4002, message=b"Error while decoding payload")
                    break
                self.gateway_received.append(frame)
                op, d = frame.get("op"), frame.get("d")
                if op == OP_HEARTBEAT:
                    self.heartbeat_count += 1
                    await self._send(ws, {"op": OP_HEARTBEAT_ACK, "d": None, "s": None, "t": None})
                elif op == OP_IDENTIFY:
                    session = await self._on_identify(ws, d or {})
                elif op == OP_RESUME:
                    session = await self._on_resume(ws, d or {})
                elif op == OP_REQUEST_MEMBERS and session is not None:
                    await self._on_request_members(session, d or {})
        finally:
            self._sockets.discard(ws)
            if session is not None and session.ws is ws:
                session.ws = None
        return ws

    async def _on_identify(self, ws: web.WebSocketResponse, d: JSON) -> _Session | None:
        self.identify_count += 1
        if self.token is not None and d.get("token") != self.token:
            await ws.close(code=4004, message=b"Authentication failed.")
            return None
        intents = int(d.get("intents", 0))
        if not self.privileged_intents_enabled and intents & PRIVILEGED_INTENTS:
            await ws.close(code=4014, message=b"Disallowed intent(s).")
            return None
        session = _Session(session_id=secrets.token_hex(16), intents=intents, identify=d)
        self._sessions[session.session_id] = session
        ready = {
            "v": 10,
            "user": {**self.bot_user, "verified": True, "mfa_enabled": False, "email": None},
            "guilds": [{"id": str(gid), "unavailable": True} for gid in self.guilds],
            "session_id": session.session_id,
            "session_type": "normal",
            "resume_gateway_url": self.gateway_url,
            "application": {"id": str(self.application_id), "flags": 0},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "user_settings": {},
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": ["us-east"],
            "auth_session_id_hash": secrets.token_hex(8),
            "_trace": ['["gateway-double",{"micros":0}]'],
        }
        if "shard" in d:
            ready["shard"] = d["shard"]
        session.ws = ws
        await self._send_dispatch(session, "READY", ready)
        if intents & INTENT_GUILDS:
            for gid in list(self.guilds):
                await self._send_dispatch(session, "GUILD_CREATE",
                                          self._redact_for(session, "GUILD_CREATE", self.guild_payload(gid)))
        return session

    async def _on_resume(self, ws: web.WebSocketResponse, d: JSON) -> _Session | None:
        self.resume_count += 1
        session = self._sessions.get(str(d.get("session_id")))
        if session is None or session.invalidated or (self.token is not None and d.get("token") != self.token):
            await self._send(ws, {"op": OP_INVALID_SESSION, "d": False, "s": None, "t": None})
            return None
        seq = int(d.get("seq") or 0)
        async with session.lock:
            old, session.ws = session.ws, ws
            if old is not None and old is not ws:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(old.close(code=4000), 1.0)
            for frame_seq, text in session.log:
                if frame_seq > seq:
                    self.replayed_count += 1
                    await self._send_text(ws, text)
        await self._send_dispatch(session, "RESUMED", {"_trace": ['["gateway-double",{"micros":0}]']})
        return session

    async def _on_request_members(self, session: _Session, d: JSON) -> None:
        gid = int(d.get("guild_id", 0))
        members = list(self.members.get(gid, {}).values())
        if d.get("user_ids"):
            wanted = {str(u) for u in (d["user_ids"] if isinstance(d["user_ids"], list) else [d["user_ids"]])}
            members = [m for m in members if m["user"]["id"] in wanted]
        elif d.get("query"):
            members = [m for m in members if m["user"]["username"].startswith(d["query"].lower())]
        if d.get("limit"):
            members = members[: int(d["limit"])]
        chunk: JSON = {"guild_id": str(gid), "members": members, "chunk_index": 0, "chunk_count": 1,
                       "not_found": []}
        if d.get("nonce") is not None:
            chunk["nonce"] = d["nonce"]
        if d.get("presences"):
            chunk["presences"] = []
        await self._send_dispatch(session, "GUILD_MEMBERS_CHUNK", chunk)

    # ------------------------------------------------------------------ REST plumbing

    def _register_routes(self) -> None:
        s = r"(\d+)"
        tok = r"([^/]+)"
        table: list[tuple[str, str, Callable[..., Any]]] = [
            ("GET", "/gateway", self._r_gateway),
            ("GET", "/gateway/bot", self._r_gateway_bot),
            ("GET", "/users/@me", self._r_me),
            ("GET", f"/users/{s}", self._r_user),
            ("POST", "/users/@me/channels", self._r_create_dm),
            ("GET", "/oauth2/applications/@me", self._r_app),
            ("GET", "/applications/@me", self._r_app),
            ("GET", f"/applications/{s}/commands", self._r_get_commands),
            ("PUT", f"/applications/{s}/commands", self._r_put_commands),
            ("POST", f"/applications/{s}/commands", self._r_post_command),
            ("DELETE", f"/applications/{s}/commands/{s}", self._r_delete_command),
            ("GET", f"/applications/{s}/guilds/{s}/commands", self._r_get_commands),
            ("PUT", f"/applications/{s}/guilds/{s}/commands", self._r_put_commands),
            ("POST", f"/applications/{s}/guilds/{s}/commands", self._r_post_command),
            ("DELETE", f"/applications/{s}/guilds/{s}/commands/{s}", self._r_delete_command),
            ("GET", f"/guilds/{s}", self._r_guild),
            ("GET", f"/guilds/{s}/channels", self._r_guild_channels),
            ("GET", f"/guilds/{s}/roles", self._r_guild_roles),
            ("GET", f"/guilds/{s}/members/{s}", self._r_member),
            ("GET", f"/guilds/{s}/threads/active", self._r_active_threads),
            ("GET", f"/channels/{s}", self._r_channel),
            ("PATCH", f"/channels/{s}", self._r_patch_channel),
            ("DELETE", f"/channels/{s}", self._r_delete_channel),
            ("GET", f"/channels/{s}/threads/archived/public", self._r_archived_threads),
            ("GET", f"/channels/{s}/threads/archived/private", self._r_archived_threads),
            ("POST", f"/channels/{s}/typing", self._r_typing),
            ("GET", f"/channels/{s}/messages", self._r_history),
            ("POST", f"/channels/{s}/messages", self._r_post_message),
            ("POST", f"/channels/{s}/messages/bulk-delete", self._r_bulk_delete),
            ("GET", f"/channels/{s}/messages/{s}", self._r_get_message),
            ("PATCH", f"/channels/{s}/messages/{s}", self._r_patch_message),
            ("DELETE", f"/channels/{s}/messages/{s}", self._r_delete_message),
            ("POST", f"/channels/{s}/messages/{s}/threads", self._r_thread_from_message),
            ("POST", f"/channels/{s}/threads", self._r_thread_without_message),
            ("PUT", f"/channels/{s}/thread-members/@me", self._r_no_content),
            ("DELETE", f"/channels/{s}/thread-members/@me", self._r_no_content),
            ("PUT", f"/channels/{s}/messages/{s}/reactions/{tok}/@me", self._r_react),
            ("DELETE", f"/channels/{s}/messages/{s}/reactions/{tok}/@me", self._r_unreact_me),
            ("DELETE", f"/channels/{s}/messages/{s}/reactions/{tok}/{s}", self._r_unreact_user),
            ("GET", f"/channels/{s}/messages/{s}/reactions/{tok}", self._r_reaction_users),
            ("DELETE", f"/channels/{s}/messages/{s}/reactions/{tok}", self._r_clear_emoji),
            ("DELETE", f"/channels/{s}/messages/{s}/reactions", self._r_clear_reactions),
            ("POST", f"/channels/{s}/polls/{s}/expire", self._r_expire_poll),
            ("GET", f"/channels/{s}/polls/{s}/answers/{s}", self._r_poll_answer_voters),
            ("POST", f"/interactions/{s}/{tok}/callback", self._r_interaction_callback),
            ("GET", f"/webhooks/{s}/{tok}/messages/@original", self._r_get_original),
            ("PATCH", f"/webhooks/{s}/{tok}/messages/@original", self._r_patch_original),
            ("DELETE", f"/webhooks/{s}/{tok}/messages/@original", self._r_delete_original),
            ("POST", f"/webhooks/{s}/{tok}", self._r_followup),
            ("GET", f"/webhooks/{s}/{tok}/messages/{s}", self._r_get_followup),
            ("PATCH", f"/webhooks/{s}/{tok}/messages/{s}", self._r_patch_followup),
            ("DELETE", f"/webhooks/{s}/{tok}/messages/{s}", self._r_delete_followup),
        ]
        for method, pattern, handler in table:
            template = re.sub(r"\(.*?\)", "{id}", pattern)
            self._routes.append(_Route(method, re.compile(pattern), handler, f"{method} {template}"))

    async def _parse_body(self, request: web.Request) -> tuple[Any, list[RecordedFile], bytes]:
        ctype = request.headers.get("Content-Type", "")
        if ctype.startswith("multipart/"):
            payload: Any = None
            files: list[RecordedFile] = []
            reader = await request.multipart()
            async for part in reader:
                if part is None or not hasattr(part, "read"):
                    continue
                data = await part.read(decode=True)  # type: ignore[union-attr]
                name = part.name or ""  # type: ignore[union-attr]
                if name == "payload_json":
                    payload = json.loads(data)
                else:
                    files.append(RecordedFile(name, part.filename,  # type: ignore[union-attr]
                                              part.headers.get("Content-Type"), bytes(data)))
            return payload, files, b""
        body = await request.read()
        if body and "json" in ctype:
            return json.loads(body), [], body
        return None, [], body

    def _ratelimit_headers(self, template: str, major: str) -> dict[str, str]:
        bucket = hashlib.md5(template.encode()).hexdigest()
        window = self._buckets.setdefault(f"{bucket}:{major}", deque())
        now = time.monotonic()
        while window and now - window[0] >= self.bucket_window:
            window.popleft()
        window.append(now)
        reset_after = self.bucket_window - (now - window[0])
        return {
            "X-RateLimit-Limit": str(self.bucket_limit),
            "X-RateLimit-Remaining": str(max(self.bucket_limit - len(window), 0)),
            "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
            "X-RateLimit-Bucket": bucket,
        }

    def _bucket_overflow(self, template: str, major: str) -> bool:
        bucket = hashlib.md5(template.encode()).hexdigest()
        window = self._buckets[f"{bucket}:{major}"]
        if len(window) > self.bucket_limit:
            window.pop()  # the rejected request does not consume the bucket
            return True
        return False

    def _rate_limited(self, retry_after: float, *, global_: bool, bucket: str,
                      scope: str | None = None) -> web.Response:
        self.rate_limited_count += 1
        body = {"message": "You are being rate limited.", "retry_after": retry_after, "global": global_,
                "code": 0}
        headers = {
            "Retry-After": str(max(1, math.ceil(retry_after))) if global_ else f"{retry_after:.3f}",
            "X-RateLimit-Scope": scope or ("global" if global_ else "user"),
            "Via": "1.1 google",
        }
        if global_:
            headers["X-RateLimit-Global"] = "true"
        else:
            headers.update({
                "X-RateLimit-Limit": str(self.bucket_limit),
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": f"{time.time() + retry_after:.3f}",
                "X-RateLimit-Reset-After": f"{retry_after:.3f}",
                "X-RateLimit-Bucket": bucket,
            })
        return _json_response(body, 429, headers)

    def _fault_response(self, fault: Fault, bucket: str) -> web.Response:
        fault.hits += 1
        if fault.status == 429:
            if fault.body is not None:
                self.rate_limited_count += 1
                return _json_response(fault.body, 429, {"Via": "1.1 google"})
            return self._rate_limited(fault.retry_after or 0.25, global_=fault.global_, bucket=bucket,
                                      scope="global" if fault.global_ else "user")
        if fault.status in (502, 504, 524) and fault.body is None:
            html = f"<html><head><title>{fault.status} Bad Gateway</title></head><body><center><h1>" \
                   f"{fault.status} Bad Gateway</h1></center><hr><center>cloudflare</center></body></html>"
            return web.Response(text=html, status=fault.status, content_type="text/html")
        body = fault.body if fault.body is not None else {"message": f"{fault.status}: Injected fault", "code": 0}
        if isinstance(body, str):
            return web.Response(text=body, status=fault.status, content_type="text/plain")
        return _json_response(body, fault.status)

    def _check_global_limit(self, path: str) -> float | None:
        if self.global_rate_limit is None or path.startswith("/interactions/"):
            return None
        now = time.monotonic()
        window = self._global_window
        while window and now - window[0] >= 1.0:
            window.popleft()
        if len(window) >= self.global_rate_limit:
            return max(1.0 - (now - window[0]), 0.01)
        window.append(now)
        return None

    async def _rest_handler(self, request: web.Request) -> web.StreamResponse:
        path = "/" + request.match_info["tail"]
        try:
            payload, files, body = await self._parse_body(request)
        except ValueError:
            payload, files, body = None, [], b""
        rec = RecordedRequest(method=request.method, path=path, raw_path=request.raw_path,
                              query=dict(request.query), headers=dict(request.headers), json=payload,
                              files=files, body=body, timestamp=time.time())
        self.requests.append(rec)
        try:
            response = await self._route(request, rec, path, payload, files)
        except Exception as exc:
            rec.response = {"message": f"double crashed: {exc!r}", "code": 0}
            response = _json_response(rec.response, 500)
            import traceback

            traceback.print_exc()
        rec.status = response.status
        self._request_event.set()
        return response

    async def _route(self, request: web.Request, rec: RecordedRequest, path: str, payload: Any,
                     files: list[RecordedFile]) -> web.Response:
        route, match = None, None
        for candidate in self._routes:
            if candidate.method == request.method:
                match = candidate.pattern.fullmatch(path)
                if match:
                    route = candidate
                    break
        template = route.template if route else f"{request.method} {path}"
        rec.route = route.template if route else None
        major = match.group(1) if match and match.groups() else ""
        bucket = hashlib.md5(template.encode()).hexdigest()

        if self.token is not None and not path.startswith(("/interactions/", "/webhooks/")) and \
                request.headers.get("Authorization") != f"Bot {self.token}":
            rec.response = {"message": "401: Unauthorized", "code": 0}
            return _json_response(rec.response, 401)
        for fault in self.faults:
            if fault.matches(request.method, path):
                return self._fault_response(fault, bucket)
        wait = self._check_global_limit(path)
        if wait is not None:
            rec.response = {"retry_after": wait, "global": True}
            return self._rate_limited(wait, global_=True, bucket=bucket)

        if route is None or match is None:
            self.unhandled.append(rec)
            rec.response = {"message": f"Unknown route (not supported by DiscordDouble): {request.method} {path}",
                            "code": 10003}
            return _json_response(rec.response, 404)

        headers = self._ratelimit_headers(template, major)
        if self.enforce_bucket_limits and int(headers["X-RateLimit-Remaining"]) == 0 and \
                self._bucket_overflow(template, major):
            return self._rate_limited(float(headers["X-RateLimit-Reset-After"]), global_=False,
                                      bucket=headers["X-RateLimit-Bucket"])
        try:
            result = await route.handler(rec, payload or {}, files, *match.groups())
        except DiscordError as err:
            rec.response = err.body()
            return _json_response(rec.response, err.status, headers)
        rec.response = result
        if result is None:
            return web.Response(status=204, headers=headers)
        return _json_response(result, 200, headers)

    async def _attachment_handler(self, request: web.Request) -> web.Response:
        data = self._attachments.get(int(request.match_info["attachment_id"]))
        if data is None:
            return web.Response(status=404)
        return web.Response(body=data, content_type="application/octet-stream")

    # ------------------------------------------------------------------ REST handlers
    # Signature: (record, json_body, files, *path_groups) -> JSON | None (None = 204)

    async def _r_gateway(self, rec: RecordedRequest, body: JSON, files: Files) -> JSON:
        return {"url": self.gateway_url}

    async def _r_gateway_bot(self, rec: RecordedRequest, body: JSON, files: Files) -> JSON:
        return {"url": self.gateway_url, "shards": 1, "session_start_limit": {
            "total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1}}

    async def _r_me(self, rec: RecordedRequest, body: JSON, files: Files) -> JSON:
        return {**self.bot_user, "verified": True, "mfa_enabled": False, "locale": "en-US", "email": None}

    async def _r_user(self, rec: RecordedRequest, body: JSON, files: Files, uid: str) -> JSON:
        try:
            return self.users[int(uid)]
        except KeyError:
            raise _unknown("User", 10013) from None

    def _dm_channel_for(self, uid: int) -> JSON:
        cid = self._dm_channels.get(uid)
        if cid is None:
            user = self.users.get(uid) or self._make_user(uid, f"user{uid}")
            chan = {"id": str(make_snowflake()), "type": DM, "last_message_id": None, "flags": 0,
                    "recipients": [user], "recipient_ids": [user["id"]]}
            cid = int(chan["id"])
            self.channels[cid] = chan
            self.messages[cid] = []
            self._dm_channels[uid] = cid
        return self.channels[cid]

    async def _r_create_dm(self, rec: RecordedRequest, body: JSON, files: Files) -> JSON:
        uid = int(body["recipient_id"])
        if uid not in self.users:
            raise _unknown("User", 10013)
        return self._dm_channel_for(uid)

    async def _r_app(self, rec: RecordedRequest, body: JSON, files: Files) -> JSON:
        owner_id = next(iter(self.guilds.values()))["owner_id"] if self.guilds else None
        owner = self.users[int(owner_id)] if owner_id else self._make_user(None, "App Owner")
        return {
            "id": str(self.application_id),
            "name": self.bot_user["username"],
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
            "flags": 0,
            "bot": self.bot_user,
            "rpc_origins": [],
            "tags": [],
            "redirect_uris": [],
            "interactions_endpoint_url": None,
            "role_connections_verification_url": None,
            "approximate_guild_count": len(self.guilds),
            "integration_types_config": {"0": {}},
            "install_params": None,
            "custom_install_url": None,
        }

    # --- application commands

    def _command_pool(self, app: str, gid: str | None) -> list[JSON]:
        if int(app) != self.application_id:
            raise DiscordError(403, 50001, "Missing Access")
        if gid is None:
            return self.global_commands
        self._guild(int(gid))
        return self.guild_commands.setdefault(int(gid), [])

    def _make_command(self, spec: JSON, existing: list[JSON], gid: str | None) -> JSON:
        ctype = spec.get("type", 1)
        prev = next((c for c in existing if c["name"] == spec["name"] and c.get("type", 1) == ctype), None)
        cmd = {
            "id": prev["id"] if prev else str(make_snowflake()),
            "application_id": str(self.application_id),
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
            raise _unknown("application command", 10063)
        pool[:] = [c for c in pool if c["id"] != cmd_id]

    # --- guilds / channels

    async def _r_guild(self, rec: RecordedRequest, body: JSON, files: Files, gid: str) -> JSON:
        return self.guild_payload(int(gid), full=False)

    async def _r_guild_channels(self, rec: RecordedRequest, body: JSON, files: Files, gid: str) -> list[JSON]:
        self._guild(int(gid))
        return [c for c in self.channels.values() if c.get("guild_id") == gid and c["type"] not in THREAD_TYPES]

    async def _r_guild_roles(self, rec: RecordedRequest, body: JSON, files: Files, gid: str) -> list[JSON]:
        self._guild(int(gid))
        return self.roles[int(gid)]

    async def _r_member(self, rec: RecordedRequest, body: JSON, files: Files, gid: str, uid: str) -> JSON:
        self._guild(int(gid))
        try:
            return self.members[int(gid)][int(uid)]
        except KeyError:
            raise _unknown("Member", 10007) from None

    async def _r_active_threads(self, rec: RecordedRequest, body: JSON, files: Files, gid: str) -> JSON:
        self._guild(int(gid))
        threads = [c for c in self.channels.values() if c.get("guild_id") == gid and c["type"] in THREAD_TYPES
                   and not c["thread_metadata"]["archived"]]
        return {"threads": threads, "members": []}

    async def _r_archived_threads(self, rec: RecordedRequest, body: JSON, files: Files, cid: str) -> JSON:
        self._channel(int(cid))
        private = rec.path.endswith("/private")
        threads = [c for c in self.channels.values() if c.get("parent_id") == cid and c["type"] in THREAD_TYPES
                   and c["thread_metadata"]["archived"] and (c["type"] == PRIVATE_THREAD) == private]
        threads.sort(key=lambda c: c["thread_metadata"]["archive_timestamp"], reverse=True)
        before = rec.query.get("before")
        if before:
            threads = [t for t in threads if t["thread_metadata"]["archive_timestamp"] < before]
        limit = int(rec.query.get("limit", 50))
        return {"threads": threads[:limit], "members": [], "has_more": len(threads) > limit}

    async def _r_channel(self, rec: RecordedRequest, body: JSON, files: Files, cid: str) -> JSON:
        return self._channel(int(cid))

    async def _r_patch_channel(self, rec: RecordedRequest, body: JSON, files: Files, cid: str) -> JSON:
        chan = self._channel(int(cid))
        is_thread = chan["type"] in THREAD_TYPES
        for key in ("name", "topic", "nsfw", "rate_limit_per_user", "position", "parent_id", "flags",
                    "default_auto_archive_duration", "permission_overwrites", "applied_tags", "available_tags"):
            if key in body:
                chan[key] = body[key]
        if "available_tags" in body:
            for tag in chan["available_tags"]:
                tag.setdefault("id", str(make_snowflake()))
                tag["id"] = str(tag["id"])
        if is_thread:
            meta = chan["thread_metadata"]
            for key in ("archived", "locked", "auto_archive_duration", "invitable"):
                if key in body:
                    if key == "archived" and meta["archived"] != body[key]:
                        meta["archive_timestamp"] = _iso()
                    meta[key] = body[key]
            await self.dispatch("THREAD_UPDATE", chan)
        else:
            await self.dispatch("CHANNEL_UPDATE", chan)
        return chan

    async def _r_delete_channel(self, rec: RecordedRequest, body: JSON, files: Files, cid: str) -> JSON:
        return await self.delete_channel(int(cid))

    async def delete_channel(self, channel_id: int) -> JSON:
        """Delete a channel or thread, as staff would (CHANNEL_DELETE / THREAD_DELETE when connected)."""
        chan = self.channels.pop(int(self._channel(int(channel_id))["id"]))
        self.messages.pop(int(channel_id), None)
        if chan["type"] in THREAD_TYPES:
            await self.dispatch("THREAD_DELETE", {k: chan[k] for k in ("id", "guild_id", "parent_id", "type")})
        else:
            await self.dispatch("CHANNEL_DELETE", chan)
        return chan

    async def _r_typing(self, rec: RecordedRequest, body: JSON, files: Files, cid: str) -> None:
        self._channel(int(cid))
        return None

    async def _r_no_content(self, rec: RecordedRequest, body: JSON, files: Files, cid: str) -> None:
        self._channel(int(cid))
        return None

    # --- messages

    async def _r_history(self, rec: RecordedRequest, body: JSON, files: Files, cid: str) -> list[JSON]:
        self._channel(int(cid))
        msgs = self.messages.get(int(cid), [])  # oldest first
        q = rec.query
        limit = max(1, min(int(q.get("limit", 50)), 100))
        if "around" in q:
            pivot = int(q["around"])
            older = [m for m in msgs if int(m["id"]) <= pivot]
            newer = [m for m in msgs if int(m["id"]) > pivot]
            half = limit // 2
            if limit > 1:
                selected = older[-(limit - half):] + newer[:half]
            else:
                selected = [m for m in msgs if int(m["id"]) == pivot]
        elif "after" in q:
            selected = [m for m in msgs if int(m["id"]) > int(q["after"])][:limit]
        elif "before" in q:
            selected = [m for m in msgs if int(m["id"]) < int(q["before"])][-limit:]
        else:
            selected = msgs[-limit:]
        return [self._render_message(m) for m in reversed(selected)]

    async def _r_get_message(self, rec: RecordedRequest, body: JSON, files: Files, cid: str, mid: str) -> JSON:
        self._channel(int(cid))
        return self._render_message(self._message(int(cid), int(mid)))

    async def _r_post_message(self, rec: RecordedRequest, body: JSON, files: Files, cid: str) -> JSON:
        chan = self._channel(int(cid))
        if chan["type"] in (GUILD_FORUM, GUILD_CATEGORY):
            raise DiscordError(400, 50008, "Cannot send messages in a non-text channel")
        nonce = body.get("nonce")
        if nonce is not None and body.get("enforce_nonce"):
            for existing in self.messages.get(int(cid), []):
                if existing.get("nonce") == nonce and existing["author"]["id"] == str(self.bot_user_id):
                    return self._render_message(existing)
        msg = self._new_message(int(cid), self.bot_user, body, files=files)
        await self._unarchive_for_post(int(cid))
        await self._store_and_dispatch(msg)
        return self._render_message(msg)

    def _apply_edit(self, msg: JSON, body: JSON, files: list[RecordedFile]) -> None:
        if "content" in body:
            content = body["content"] or ""
            if len(content) > 2000:
                raise DiscordError(400, 50035, "Invalid Form Body", {"content": {"_errors": [{
                    "code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 2000 or fewer in length."}]}})
            msg["content"] = content
            gid = self._channel_guild_id(int(msg["channel_id"]))
            msg["mentions"], msg["mention_roles"], msg["mention_everyone"] = self._parse_mentions(
                content, gid, body.get("allowed_mentions"), int(msg["author"]["id"]))
        if "embeds" in body:
            msg["embeds"] = [{"type": "rich", **e} for e in body["embeds"] or []]
        if "components" in body:
            msg["components"] = body["components"] or []
        if "flags" in body and body["flags"] is not None:
            keep = msg.get("flags", 0) & (FLAG_EPHEMERAL | FLAG_HAS_THREAD)
            msg["flags"] = int(body["flags"]) | keep
        if "attachments" in body or files:
            specs = body.get("attachments") or []
            kept_ids = {str(a["id"]) for a in specs if "filename" not in a or (str(a["id"]).isdigit() and
                        int(a["id"]) > 10_000)}
            kept = [a for a in msg["attachments"] if a["id"] in kept_ids]
            msg["attachments"] = kept + self._store_attachments(specs, files)
        if body.get("poll"):
            raise DiscordError(400, 50035, "Invalid Form Body", {"poll": {"_errors": [{
                "code": "CANNOT_EDIT_POLL", "message": "Polls cannot be edited"}]}})
        msg["edited_timestamp"] = _iso()

    async def _r_patch_message(self, rec: RecordedRequest, body: JSON, files: Files, cid: str, mid: str) -> JSON:
        self._channel(int(cid))
        msg = self._message(int(cid), int(mid))
        if msg["author"]["id"] != str(self.bot_user_id) and set(body) - {"flags"}:
            raise DiscordError(403, 50005, "Cannot edit a message authored by another user")
        self._apply_edit(msg, body, files)
        await self.dispatch("MESSAGE_UPDATE", self._gateway_message(msg))
        return self._render_message(msg)

    async def _r_delete_message(self, rec: RecordedRequest, body: JSON, files: Files, cid: str, mid: str) -> None:
        self._channel(int(cid))
        await self.delete_message(int(cid), int(mid))

    async def _r_bulk_delete(self, rec: RecordedRequest, body: JSON, files: Files, cid: str) -> None:
        ids = [int(m) for m in body.get("messages", [])]
        if not 2 <= len(ids) <= 100:
            raise DiscordError(400, 50016, "You must provide at least 2 and fewer than 100 messages to delete.")
        await self.bulk_delete(int(cid), ids)

    # --- threads

    async def _r_thread_from_message(self, rec: RecordedRequest, body: JSON, files: Files, cid: str,
                                     mid: str) -> JSON:
        parent = self._channel(int(cid))
        if parent["type"] not in (GUILD_TEXT, GUILD_NEWS):
            raise DiscordError(400, 50024, "Cannot execute action on this channel type")
        msg = self._message(int(cid), int(mid))
        if msg.get("thread"):
            raise DiscordError(400, 160004, "A thread has already been created for this message")
        ctype = NEWS_THREAD if parent["type"] == GUILD_NEWS else PUBLIC_THREAD
        thread = self._thread_payload(parent, body.get("name", ""), self.bot_user_id, thread_id=int(mid), ctype=ctype,
                                      auto_archive_duration=int(body.get("auto_archive_duration") or 1440))
        if body.get("rate_limit_per_user"):
            thread["rate_limit_per_user"] = body["rate_limit_per_user"]
        thread["member"] = self._thread_member(thread)
        self.channels[int(thread["id"])] = thread
        self.messages.setdefault(int(thread["id"]), [])
        self._mark_message_thread(int(cid), int(mid), thread)
        await self.dispatch("THREAD_CREATE", {**thread, "newly_created": True})
        return thread

    def _thread_member(self, thread: JSON) -> JSON:
        return {"id": thread["id"], "user_id": str(self.bot_user_id), "join_timestamp": _iso(), "flags": 1}

    async def _r_thread_without_message(self, rec: RecordedRequest, body: JSON, files: Files,
                                        cid: str) -> JSON:
        parent = self._channel(int(cid))
        if parent["type"] == GUILD_FORUM:
            starter = body.get("message")
            if not starter:
                raise DiscordError(400, 50035, "Invalid Form Body", {"message": {"_errors": [{
                    "code": "BASE_TYPE_REQUIRED", "message": "This field is required"}]}})
            tags = [str(t) for t in body.get("applied_tags") or []]
            known = {t["id"] for t in parent.get("available_tags", [])}
            if any(t not in known for t in tags):
                raise DiscordError(400, 50035, "Invalid Form Body", {"applied_tags": {"_errors": [{
                    "code": "INVALID_TAG", "message": "Unknown tag"}]}})
            if parent.get("flags", 0) & 16 and not tags:
                raise DiscordError(400, 40067, "A tag is required to create a forum post in this channel")
            thread = self._thread_payload(parent, body.get("name", ""), self.bot_user_id,
                                          auto_archive_duration=int(body.get("auto_archive_duration") or 4320),
                                          applied_tags=tags)
            tid = int(thread["id"])
            msg = self._new_message(tid, self.bot_user, starter, files=files, message_id=tid)
            thread["member"] = self._thread_member(thread)
            self.channels[tid] = thread
            self.messages[tid] = []
            await self.dispatch("THREAD_CREATE", {**thread, "newly_created": True})
            await self._store_and_dispatch(msg)
            parent["last_message_id"] = str(tid)
            return {**thread, "message": self._render_message(msg)}
        if parent["type"] not in (GUILD_TEXT, GUILD_NEWS):
            raise DiscordError(400, 50024, "Cannot execute action on this channel type")
        ctype = int(body.get("type") or PRIVATE_THREAD)
        thread = self._thread_payload(parent, body.get("name", ""), self.bot_user_id, ctype=ctype,
                                      auto_archive_duration=int(body.get("auto_archive_duration") or 1440),
                                      invitable=body.get("invitable", True))
        if body.get("rate_limit_per_user"):
            thread["rate_limit_per_user"] = body["rate_limit_per_user"]
        thread["member"] = self._thread_member(thread)
        self.channels[int(thread["id"])] = thread
        self.messages[int(thread["id"])] = []
        await self.dispatch("THREAD_CREATE", {**thread, "newly_created": True})
        return thread

    # --- reactions

    async def _r_react(self, rec: RecordedRequest, body: JSON, files: Files, cid: str, mid: str,
                       emoji: str) -> None:
        self._channel(int(cid))
        self._message(int(cid), int(mid))
        if re.fullmatch(r"[\w~]+", emoji) and not re.fullmatch(r"[\w~]+:\d+", emoji) and emoji.isascii():
            raise DiscordError(400, 10014, "Unknown Emoji")
        await self.add_reaction(int(cid), int(mid), self.bot_user_id, emoji)

    async def _r_unreact_me(self, rec: RecordedRequest, body: JSON, files: Files, cid: str, mid: str,
                            emoji: str) -> None:
        self._message(int(cid), int(mid))
        await self.remove_reaction(int(cid), int(mid), self.bot_user_id, emoji)

    async def _r_unreact_user(self, rec: RecordedRequest, body: JSON, files: Files, cid: str, mid: str,
                              emoji: str, uid: str) -> None:
        self._message(int(cid), int(mid))
        await self.remove_reaction(int(cid), int(mid), int(uid), emoji)

    async def _r_reaction_users(self, rec: RecordedRequest, body: JSON, files: Files, cid: str, mid: str,
                                emoji: str) -> list[JSON]:
        self._message(int(cid), int(mid))
        key, _ = self._emoji_key(emoji)
        ids = sorted(self._reactions.get((int(mid), key), []))
        if "after" in rec.query:
            ids = [i for i in ids if i > int(rec.query["after"])]
        return [self.users[i] for i in ids[: int(rec.query.get("limit", 25))] if i in self.users]

    async def _r_clear_emoji(self, rec: RecordedRequest, body: JSON, files: Files, cid: str, mid: str,
                             emoji: str) -> None:
        self._message(int(cid), int(mid))
        key, data = self._emoji_key(emoji)
        self._reactions.pop((int(mid), key), None)
        event = {"channel_id": cid, "message_id": mid, "emoji": data}
        gid = self._channel_guild_id(int(cid))
        if gid:
            event["guild_id"] = str(gid)
        await self.dispatch("MESSAGE_REACTION_REMOVE_EMOJI", event)

    async def _r_clear_reactions(self, rec: RecordedRequest, body: JSON, files: Files, cid: str,
                                 mid: str) -> None:
        self._message(int(cid), int(mid))
        for key in [k for k in self._reactions if k[0] == int(mid)]:
            del self._reactions[key]
        event = {"channel_id": cid, "message_id": mid}
        gid = self._channel_guild_id(int(cid))
        if gid:
            event["guild_id"] = str(gid)
        await self.dispatch("MESSAGE_REACTION_REMOVE_ALL", event)

    # --- polls

    async def _r_expire_poll(self, rec: RecordedRequest, body: JSON, files: Files, cid: str,
                             mid: str) -> JSON:
        msg = self._message(int(cid), int(mid))
        if "poll" not in msg:
            raise DiscordError(400, 50035, "Invalid Form Body")
        if msg["author"]["id"] != str(self.bot_user_id):
            raise DiscordError(403, 50005, "Cannot expire a poll authored by another user")
        if msg.get("_poll_finalized"):
            raise DiscordError(400, 520001, "This poll has already expired")
        return await self.end_poll(int(cid), int(mid))

    async def _r_poll_answer_voters(self, rec: RecordedRequest, body: JSON, files: Files, cid: str,
                                    mid: str, aid: str) -> JSON:
        self._message(int(cid), int(mid))
        ids = self.poll_voters(int(mid), int(aid))
        if "after" in rec.query:
            ids = [i for i in ids if i > int(rec.query["after"])]
        return {"users": [self.users[i] for i in ids[: int(rec.query.get("limit", 25))] if i in self.users]}

    # --- interactions

    def _record_for_token(self, app: str, token: str) -> InteractionRecord:
        if int(app) != self.application_id:
            raise _unknown("Webhook", 10015)
        for rec in self.interactions.values():
            if rec.token == token:
                return rec
        raise _unknown("Webhook", 10015)

    def _interaction_message(self, record: InteractionRecord, data: JSON, files: list[RecordedFile], *,
                             msg_type: int, flags: int = 0) -> JSON:
        cid = record.channel_id or int(record.payload["channel"]["id"])
        payload = {**data, "flags": int(data.get("flags") or 0) | flags}
        user = record.payload.get("member", {}).get("user") or record.payload.get("user")
        meta: JSON = {"id": str(record.id), "type": record.type, "user": user,
                      "authorizing_integration_owners": record.payload.get("authorizing_integration_owners", {})}
        if record.type == 2:
            meta["name"] = record.payload["data"]["name"]
            meta["command_type"] = record.payload["data"].get("type", 1)
        extra: JSON = {"interaction_metadata": meta, "application_id": str(self.application_id)}
        if record.type == 2:
            extra["interaction"] = {"id": str(record.id), "type": 2, "name": record.payload["data"]["name"],
                                    "user": user}
        validate = not (flags & FLAG_LOADING)
        return self._new_message(cid, self.bot_user, payload, files=files, msg_type=msg_type,
                                 webhook_id=self.application_id, extra=extra, validate=validate)

    async def _publish(self, msg: JSON) -> None:
        """Store + MESSAGE_CREATE unless ephemeral (ephemeral messages are invisible to bots)."""
        if msg["flags"] & FLAG_EPHEMERAL:
            return
        await self._store_and_dispatch(msg)

    async def _update_published(self, msg: JSON) -> None:
        if msg["flags"] & FLAG_EPHEMERAL:
            return
        await self.dispatch("MESSAGE_UPDATE", self._gateway_message(msg))

    async def _r_interaction_callback(self, rec: RecordedRequest, body: JSON, files: Files, iid: str,
                                      token: str) -> JSON | None:
        record = self.interactions.get(int(iid))
        if record is None or record.token != token:
            raise _unknown("interaction", 10062)
        if record.callbacks:
            raise DiscordError(400, 40060, "Interaction has already been acknowledged.")
        ctype = int(body.get("type", 0))
        data = body.get("data") or {}
        allowed = {2: {4, 5, 9}, 3: {4, 5, 6, 7, 9}, 4: {8}, 5: {4, 5, 6, 7}}.get(record.type, {1})
        if ctype not in allowed:
            raise DiscordError(400, 50035, "Invalid Form Body", {"type": {"_errors": [{
                "code": "INTERACTION_RESPONSE_TYPE_INVALID", "message": "Invalid interaction response type"}]}})
        flags = int(data.get("flags") or 0)
        ephemeral = bool(flags & FLAG_EPHEMERAL)
        msg_type = {2: 20 if record.payload["data"].get("type", 1) == 1 else 23}.get(record.type, 0)
        message: JSON | None = None
        if ctype == 4:
            message = self._interaction_message(record, data, files, msg_type=msg_type)
            record.original = message
            await self._publish(message)
        elif ctype == 5:
            message = self._interaction_message(record, {"content": ""}, [], msg_type=msg_type,
                                                flags=FLAG_LOADING | (flags & FLAG_EPHEMERAL))
            record.original = message
            await self._publish(message)
        elif ctype in (6, 7):
            target = record.payload.get("message")
            stored = self._find_message(int(target["id"])) if target else None
            if stored is not None:
                record.original = stored
                if ctype == 7:
                    self._apply_edit(stored, data, files)
                    await self._update_published(stored)
                    message = stored
        record.callbacks.append(body)
        record.responded_at = time.monotonic()
        record._notify()
        result: JSON = {"interaction": {"id": str(record.id), "type": record.type,
                                        "response_message_loading": ctype == 5,
                                        "response_message_ephemeral": ephemeral}}
        if message is not None:
            result["interaction"]["response_message_id"] = message["id"]
        resource: JSON = {"type": ctype}
        if message is not None:
            resource["message"] = self._render_message(message)
        result["resource"] = resource
        if rec.query.get("with_response") in ("1", "true", "True"):
            return result
        return None

    async def _r_get_original(self, rec: RecordedRequest, body: JSON, files: Files, app: str,
                              token: str) -> JSON:
        record = self._record_for_token(app, token)
        if record.original is None or record.original_deleted:
            raise _unknown("Message", 10008)
        return self._render_message(record.original)

    async def _r_patch_original(self, rec: RecordedRequest, body: JSON, files: Files, app: str,
                                token: str) -> JSON:
        record = self._record_for_token(app, token)
        if record.original is None or record.original_deleted:
            raise _unknown("Message", 10008)
        msg = record.original
        was_loading = bool(msg["flags"] & FLAG_LOADING)
        msg["flags"] &= ~FLAG_LOADING
        self._apply_edit(msg, body, files)
        if was_loading and not (msg["content"] or msg["embeds"] or msg["attachments"] or msg["components"]):
            raise DiscordError(400, 50006, "Cannot send an empty message")
        record.original_edits.append(body)
        record._notify()
        await self._update_published(msg)
        return self._render_message(msg)

    async def _r_delete_original(self, rec: RecordedRequest, body: JSON, files: Files, app: str,
                                 token: str) -> None:
        record = self._record_for_token(app, token)
        if record.original is None or record.original_deleted:
            raise _unknown("Message", 10008)
        record.original_deleted = True
        record._notify()
        msg = record.original
        if not msg["flags"] & FLAG_EPHEMERAL:
            with contextlib.suppress(DiscordError):
                await self.delete_message(int(msg["channel_id"]), int(msg["id"]))

    async def _r_followup(self, rec: RecordedRequest, body: JSON, files: Files, app: str,
                          token: str) -> JSON | None:
        record = self._record_for_token(app, token)
        if not record.callbacks:
            raise _unknown("Webhook", 10015)
        orig = record.original
        if orig is not None and orig["flags"] & FLAG_LOADING and not record.original_deleted:
            # Discord: the first follow-up after a deferred (type 5) response replaces the "thinking" message.
            msg = orig
            msg["flags"] &= ~FLAG_LOADING
            self._apply_edit(msg, body, files)
            record.followups.append(msg)
            record._notify()
            await self._update_published(msg)
        else:
            msg = self._interaction_message(record, body, files, msg_type=0)
            record.followups.append(msg)
            record._notify()
            await self._publish(msg)
        if rec.query.get("wait") in ("1", "true", "True"):
            return self._render_message(msg)
        return None

    def _followup(self, record: InteractionRecord, mid: str) -> JSON:
        for msg in record.followups:
            if msg["id"] == mid:
                return msg
        if record.original is not None and record.original["id"] == mid:
            return record.original
        raise _unknown("Message", 10008)

    async def _r_get_followup(self, rec: RecordedRequest, body: JSON, files: Files, app: str, token: str,
                              mid: str) -> JSON:
        return self._render_message(self._followup(self._record_for_token(app, token), mid))

    async def _r_patch_followup(self, rec: RecordedRequest, body: JSON, files: Files, app: str,
                                token: str, mid: str) -> JSON:
        record = self._record_for_token(app, token)
        msg = self._followup(record, mid)
        self._apply_edit(msg, body, files)
        record.followup_edits.append(body)
        record._notify()
        await self._update_published(msg)
        return self._render_message(msg)

    async def _r_delete_followup(self, rec: RecordedRequest, body: JSON, files: Files, app: str,
                                 token: str, mid: str) -> None:
        record = self._record_for_token(app, token)
        msg = self._followup(record, mid)
        record.followups = [m for m in record.followups if m is not msg]
        record._notify()
        if not msg["flags"] & FLAG_EPHEMERAL:
            with contextlib.suppress(DiscordError):
                await self.delete_message(int(msg["channel_id"]), int(msg["id"]))

