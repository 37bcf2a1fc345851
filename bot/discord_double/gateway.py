"""The gateway: the websocket over which Discord pushes events to the bot.

Why this exists: discord.py learns almost everything from gateway dispatches, and the
hardest bugs live in its connection life: RESUME after a drop, a session invalidated,
events sent while the bot was away. This module speaks the gateway protocol closely enough
for the unmodified client, and lets a test cause each of those moments on purpose.

Fidelity notes:

* Dispatches are sent as plain TEXT frames (discord.py asks for ``compress=zlib-stream``
  but handles text frames), each with a sequence number, and are kept per session so
  RESUME can replay them.
* Dispatches are filtered by the intents sent in IDENTIFY, and ``content``/``embeds``/...
  are blanked without the MESSAGE_CONTENT intent (see :mod:`bot.discord_double.intents`).
* IDENTIFY with a wrong token closes with 4004, with a privileged intent that is not
  enabled with 4014; a bad frame closes with 4002.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import WSMsgType, web

from bot.discord_double.changes import ChangeFeed
from bot.discord_double.intents import intent_for, redact_for
from bot.discord_double.protocol import (
    INTENT_GUILDS,
    JSON,
    OP_DISPATCH,
    OP_HEARTBEAT,
    OP_HEARTBEAT_ACK,
    OP_HELLO,
    OP_IDENTIFY,
    OP_INVALID_SESSION,
    OP_RECONNECT,
    OP_REQUEST_MEMBERS,
    OP_RESUME,
    PRIVILEGED_INTENTS,
)
from bot.discord_double.state import State

_TRACE = ['["gateway-double",{"micros":0}]']


@dataclass
class Session:
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


async def send_frame(ws: web.WebSocketResponse, frame: JSON) -> None:
    await send_text(ws, json.dumps(frame))


async def send_text(ws: web.WebSocketResponse, text: str) -> None:
    """Write one frame; a socket that closed meanwhile is not an error (the session buffers)."""
    if ws.closed:
        return
    with contextlib.suppress(ConnectionError, RuntimeError):
        await ws.send_str(text)


class Gateway:
    """Sessions, dispatch and the websocket handler; counters tell tests what the client did."""

    def __init__(self, state: State, *, url: Callable[[], str], heartbeat_interval_ms: int = 41250,
                 privileged_intents_enabled: bool = True, changes: ChangeFeed | None = None) -> None:
        """``url`` gives the running gateway's ws:// URL (sent as ``resume_gateway_url``);
        ``changes`` hears every dispatch before intents filter it."""
        self.state = state
        self.changes = changes or ChangeFeed()
        self._url = url
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.privileged_intents_enabled = privileged_intents_enabled

        self.received: list[JSON] = []  # every frame the client sent (parsed)
        self.identify_count = 0
        self.resume_count = 0
        self.heartbeat_count = 0
        self.connection_count = 0
        self.replayed_count = 0  # dispatches re-sent because of RESUME
        self.sessions: dict[str, Session] = {}
        self._pending_guild_creates: list[int] = []
        self._accepting = asyncio.Event()
        self._accepting.set()
        self._sockets: set[web.WebSocketResponse] = set()

    # ------------------------------------------------------------------ dispatch

    def guild_joined(self, guild_id: int) -> None:
        """The bot was added to a guild: when connected, GUILD_CREATE goes out before any later dispatch."""
        if any(not s.invalidated for s in self.sessions.values()):
            self._pending_guild_creates.append(guild_id)
            asyncio.get_running_loop().create_task(self._flush_guild_creates())

    async def _flush_guild_creates(self) -> None:
        while self._pending_guild_creates:
            gid = self._pending_guild_creates.pop(0)
            payload = self.state.guild_payload(gid)
            del payload["unavailable"]  # no "unavailable" key = bot joined (on_guild_join), not available again
            await self._dispatch_now("GUILD_CREATE", payload)

    async def dispatch(self, event: str, data: JSON) -> None:
        """Send a DISPATCH to every live session (buffered for disconnected, resumable ones)."""
        await self._flush_guild_creates()
        await self._dispatch_now(event, data)

    async def _dispatch_now(self, event: str, data: JSON) -> None:
        self.changes.dispatched(event, data)  # observers see every change, even where the bot is away
        if self.state.is_away(data.get("guild_id")):
            return  # the bot is out of that guild (or it is unavailable): Discord sends nothing of it
        for session in list(self.sessions.values()):
            if session.invalidated:
                continue
            needed = intent_for(event, data)
            if needed is not None and not session.intents & needed:
                continue
            await self.send_dispatch(session, event, self._redact(session, event, copy.deepcopy(data)))

    def _redact(self, session: Session, event: str, data: JSON) -> JSON:
        return redact_for(session.intents, self.state.bot_user_id, event, data)

    async def send_dispatch(self, session: Session, event: str, data: JSON) -> None:
        """Number, log and send one dispatch to one session (no copy, no intent check)."""
        async with session.lock:
            session.seq += 1
            text = json.dumps({"op": OP_DISPATCH, "t": event, "s": session.seq, "d": data})
            session.log.append((session.seq, text))
            if session.ws is not None:
                await send_text(session.ws, text)

    # ------------------------------------------------------------------ connection life (test API)

    @property
    def connected(self) -> bool:
        """True when some session has a live, handshaken websocket."""
        return any(s.ws is not None and not s.ws.closed and not s.invalidated for s in self.sessions.values())

    def live_sessions(self) -> list[Session]:
        return [s for s in self.sessions.values() if s.ws is not None and not s.invalidated]

    async def disconnect(self, code: int = 4000) -> None:
        """Drop the gateway connection with a resumable close code; the client RESUMEs."""
        for session in self.live_sessions():
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
        for session in self.live_sessions():
            async with session.lock:
                ws = session.ws
                if not resumable:
                    session.invalidated = True
                    session.ws = None
                if ws is not None:
                    await send_frame(ws, {"op": OP_INVALID_SESSION, "d": resumable, "s": None, "t": None})

    async def reconnect(self) -> None:
        """Send op 7 RECONNECT; the client closes and RESUMEs."""
        for session in self.live_sessions():
            async with session.lock:
                ws, session.ws = session.ws, None
                if ws is not None:
                    await send_frame(ws, {"op": OP_RECONNECT, "d": None, "s": None, "t": None})

    async def close_all(self) -> None:
        """Close every socket (server shutdown); held connections are released first."""
        self._accepting.set()
        for ws in list(self._sockets):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(code=1001), 1.0)

    # ------------------------------------------------------------------ the websocket

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        """aiohttp handler for ``GET /gateway``: HELLO, then the client's opcodes until it leaves."""
        ws = web.WebSocketResponse(autoping=True, timeout=2.0, max_msg_size=0)
        await ws.prepare(request)
        self._sockets.add(ws)
        self.connection_count += 1
        await self._accepting.wait()  # hold_connections(): HELLO is delayed until released
        await send_frame(ws, {"op": OP_HELLO, "d": {"heartbeat_interval": self.heartbeat_interval_ms},
                              "s": None, "t": None})
        session: Session | None = None
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
                self.received.append(frame)
                op, d = frame.get("op"), frame.get("d")
                if op == OP_HEARTBEAT:
                    self.heartbeat_count += 1
                    await send_frame(ws, {"op": OP_HEARTBEAT_ACK, "d": None, "s": None, "t": None})
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

    async def _on_identify(self, ws: web.WebSocketResponse, d: JSON) -> Session | None:
        self.identify_count += 1
        state = self.state
        if state.token is not None and d.get("token") != state.token:
            await ws.close(code=4004, message=b"Authentication failed.")
            return None
        intents = int(d.get("intents", 0))
        if not self.privileged_intents_enabled and intents & PRIVILEGED_INTENTS:
            await ws.close(code=4014, message=b"Disallowed intent(s).")
            return None
        session = Session(session_id=secrets.token_hex(16), intents=intents, identify=d)
        self.sessions[session.session_id] = session
        ready = {
            "v": 10,
            "user": {**state.bot_user, "verified": True, "mfa_enabled": False, "email": None},
            # A guild the bot was removed from is not listed; one in an outage is, and sends no GUILD_CREATE.
            "guilds": [{"id": str(gid), "unavailable": True} for gid in state.guilds
                       if state.away_guilds.get(gid, True)],
            "session_id": session.session_id,
            "session_type": "normal",
            "resume_gateway_url": self._url(),
            "application": {"id": str(state.application_id), "flags": 0},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "user_settings": {},
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": ["us-east"],
            "auth_session_id_hash": secrets.token_hex(8),
            "_trace": _TRACE,
        }
        if "shard" in d:
            ready["shard"] = d["shard"]
        session.ws = ws
        await self.send_dispatch(session, "READY", ready)
        if intents & INTENT_GUILDS:
            for gid in [g for g in state.guilds if not state.is_away(g)]:
                await self.send_dispatch(session, "GUILD_CREATE",
                                         self._redact(session, "GUILD_CREATE", state.guild_payload(gid)))
        return session

    async def _on_resume(self, ws: web.WebSocketResponse, d: JSON) -> Session | None:
        self.resume_count += 1
        token = self.state.token
        session = self.sessions.get(str(d.get("session_id")))
        if session is None or session.invalidated or (token is not None and d.get("token") != token):
            await send_frame(ws, {"op": OP_INVALID_SESSION, "d": False, "s": None, "t": None})
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
                    await send_text(ws, text)
        await self.send_dispatch(session, "RESUMED", {"_trace": _TRACE})
        return session

    async def _on_request_members(self, session: Session, d: JSON) -> None:
        """Op 8: answer with one GUILD_MEMBERS_CHUNK (by ids, by name prefix, or everyone)."""
        gid = int(d.get("guild_id", 0))
        members = list(self.state.members.get(gid, {}).values())
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
        await self.send_dispatch(session, "GUILD_MEMBERS_CHUNK", chunk)
