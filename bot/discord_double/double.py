"""``DiscordDouble``: the one object tests, benchmarks and the sandbox hold.

Why this exists: the double's parts (state, world, gateway, interactions, REST, faults, rate
limits) each do one job; a test wants one handle with one vocabulary. This facade builds the
parts, wires them together, serves them over HTTP on ``127.0.0.1``, and forwards each public
method and attribute to the part that owns it. It holds no logic of its own beyond the
server's lifecycle, so to change how something behaves, follow the forward.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

from aiohttp import web

from bot.discord_double.changes import Change, ChangeFeed
from bot.discord_double.faults import Fault, Faults
from bot.discord_double.gateway import Gateway, Session
from bot.discord_double.interactions import InteractionRecord, Interactions
from bot.discord_double.messages import Composer
from bot.discord_double.protocol import JSON
from bot.discord_double.ratelimits import RateLimits
from bot.discord_double.recording import RecordedRequest, RequestLog
from bot.discord_double.rest import RestApi, Route
from bot.discord_double.routes import route_table
from bot.discord_double.snowflakes import make_snowflake
from bot.discord_double.state import State
from bot.discord_double.world import World


def _forward(part: str, name: str, *, writable: bool = False) -> Any:
    """A facade attribute kept on one of the parts: ``double.users`` is ``double._state.users``."""

    def get(self: DiscordDouble) -> Any:
        return getattr(getattr(self, part), name)

    def set_(self: DiscordDouble, value: Any) -> None:
        setattr(getattr(self, part), name, value)

    return property(get, set_ if writable else None, doc=f"``{part[1:]}.{name}``")


class DiscordDouble:
    """In-process fake of Discord (REST v10 + Gateway) for discord.py integration tests.

    State is kept in plain dicts shaped like Discord's JSON; builders return
    those dicts so tests can reference ids.  Everything is single-event-loop.
    """

    # Who the bot is (State).
    application_id: int = _forward("_state", "application_id")
    bot_user_id: int = _forward("_state", "bot_user_id")
    bot_user: JSON = _forward("_state", "bot_user")
    token: str | None = _forward("_state", "token", writable=True)
    application_flags: int | None = _forward("_state", "application_flags", writable=True)
    # The world (State), keyed by integer id.
    users: dict[int, JSON] = _forward("_state", "users")
    guilds: dict[int, JSON] = _forward("_state", "guilds")
    roles: dict[int, list[JSON]] = _forward("_state", "roles")
    members: dict[int, dict[int, JSON]] = _forward("_state", "members")
    channels: dict[int, JSON] = _forward("_state", "channels")
    messages: dict[int, list[JSON]] = _forward("_state", "messages")
    webhooks: dict[int, JSON] = _forward("_state", "webhooks")
    global_commands: list[JSON] = _forward("_state", "global_commands")
    guild_commands: dict[int, list[JSON]] = _forward("_state", "guild_commands")
    # What the bot did (request log, interaction records, gateway counters).
    requests: list[RecordedRequest] = _forward("_log", "requests")
    unhandled: list[RecordedRequest] = _forward("_log", "unhandled")
    interactions: dict[int, InteractionRecord] = _forward("_interactions", "records")
    gateway_received: list[JSON] = _forward("_gateway", "received")
    identify_count: int = _forward("_gateway", "identify_count")
    resume_count: int = _forward("_gateway", "resume_count")
    heartbeat_count: int = _forward("_gateway", "heartbeat_count")
    connection_count: int = _forward("_gateway", "connection_count")
    replayed_count: int = _forward("_gateway", "replayed_count")
    heartbeat_interval_ms: int = _forward("_gateway", "heartbeat_interval_ms", writable=True)
    privileged_intents_enabled: bool = _forward("_gateway", "privileged_intents_enabled", writable=True)
    # Failures and limits.
    faults: list[Fault] = _forward("_faults", "faults")
    rate_limited_count: int = _forward("_limits", "rate_limited_count")
    global_rate_limit: int | None = _forward("_limits", "global_rate_limit", writable=True)
    bucket_limit: int = _forward("_limits", "bucket_limit", writable=True)
    bucket_window: float = _forward("_limits", "bucket_window", writable=True)
    enforce_bucket_limits: bool = _forward("_limits", "enforce_bucket_limits", writable=True)

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
        application_flags: int | None = None,
    ) -> None:
        """Create the double (not started).

        ``token``: if given, REST/IDENTIFY with another token fail like Discord (401 / close 4004).
        ``privileged_intents_enabled``: False makes IDENTIFY with privileged intents close with 4014.
        ``bucket_limit``/``bucket_window``: per-route X-RateLimit-* values we advertise.
        ``enforce_bucket_limits``: answer 429 (scope "user") when a client ignores them.
        ``application_flags``: the ``flags`` of ``GET /applications/@me`` (protocol's ``APP_FLAG_*``); None
        follows ``privileged_intents_enabled`` (the _LIMITED intent flags when enabled, else 0).
        """
        application_id = application_id or make_snowflake()
        self._changes = ChangeFeed()
        self._state = State(application_id=application_id, bot_user_id=bot_user_id or application_id,
                            bot_name=bot_name, token=token, base_url=lambda: self.base_url)
        self._state.application_flags = application_flags
        self._gateway = Gateway(self._state, url=lambda: self.gateway_url, heartbeat_interval_ms=heartbeat_interval_ms,
                                privileged_intents_enabled=privileged_intents_enabled, changes=self._changes)
        self._world = World(self._state, Composer(self._state), self._gateway)
        self._interactions = Interactions(self._state, self._gateway, self._changes)
        self._log = RequestLog()
        self._limits = RateLimits(bucket_limit=bucket_limit, bucket_window=bucket_window,
                                  enforce_bucket_limits=enforce_bucket_limits)
        self._faults = Faults(self._limits)
        self._rest = RestApi(self._state, route_table(self._world, self._interactions, lambda: self.gateway_url),
                             log=self._log, faults=self._faults, limits=self._limits)
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._port: int | None = None

    # ------------------------------------------------------------------ lifecycle

    async def start(self, port: int = 0) -> DiscordDouble:
        """Bind to 127.0.0.1 on ``port`` (0: an ephemeral one) and start serving.

        A fixed port lets a test start Discord where a client already expects it (a bot
        that was started while "the network was down").
        """
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/gateway", self._gateway.handle)
        app.router.add_get("/attachments/{attachment_id}/{filename}", self._attachment_handler)
        app.router.add_route("*", "/api/v10/{tail:.*}", self._rest.handle)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        self._site = web.TCPSite(self._runner, "127.0.0.1", port)
        await self._site.start()
        server = self._site._server
        assert server is not None and server.sockets  # type: ignore[attr-defined]
        self._port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        return self

    async def stop(self) -> None:
        """Close all websockets and the HTTP server."""
        await self._gateway.close_all()
        if self._runner is not None:
            await self._runner.cleanup()
        self._runner = None
        self._site = None

    async def __aenter__(self) -> DiscordDouble:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _attachment_handler(self, request: web.Request) -> web.Response:
        """The CDN: uploaded attachments are downloadable at their ``url``."""
        data = self._state.attachments.get(int(request.match_info["attachment_id"]))
        if data is None:
            return web.Response(status=404)
        return web.Response(body=data, content_type="application/octet-stream")

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

    async def wait_until(self, predicate: Callable[[], Any], timeout: float = 5.0, interval: float = 0.01) -> Any:
        """Poll ``predicate`` until truthy (for gateway state like ``resume_count``)."""

        async def loop() -> Any:
            while True:
                value = predicate()
                if value:
                    return value
                await asyncio.sleep(interval)

        return await asyncio.wait_for(loop(), timeout)

    # ------------------------------------------------------------------ building the world (World, State)

    def add_user(self, name: str = "user", *, user_id: int | None = None, bot: bool = False) -> JSON:
        """A user in no guild yet (e.g. for DMs); see :meth:`World.add_user`."""
        return self._world.add_user(name, user_id=user_id, bot=bot)

    def add_guild(self, name: str = "Test Guild", *, guild_id: int | None = None, owner_id: int | None = None) -> JSON:
        """A guild with its owner and the bot; see :meth:`World.add_guild`."""
        return self._world.add_guild(name, guild_id=guild_id, owner_id=owner_id)

    async def announce_guild(self, guild_id: int) -> None:
        """(Re-)dispatch GUILD_CREATE with the current full guild state."""
        await self._world.announce_guild(guild_id)

    def guild_payload(self, guild_id: int, *, full: bool = True) -> JSON:
        """The guild as in GUILD_CREATE (``full``) or as REST GET /guilds/{id}."""
        return self._state.guild_payload(guild_id, full=full)

    async def remove_bot_from_guild(self, guild_id: int, *, unavailable: bool = False) -> None:
        """GUILD_DELETE: the bot removed, or the guild in an outage; see :meth:`World.remove_bot_from_guild`."""
        await self._world.remove_bot_from_guild(guild_id, unavailable=unavailable)

    async def return_bot_to_guild(self, guild_id: int) -> None:
        """GUILD_CREATE: the bot added back, or the outage over; see :meth:`World.return_bot_to_guild`."""
        await self._world.return_bot_to_guild(guild_id)

    async def add_role(self, guild_id: int, name: str, permissions: int = 0, *, color: int = 0,
                       mentionable: bool = False, hoist: bool = False) -> JSON:
        """Add a role (GUILD_ROLE_CREATE)."""
        return await self._world.add_role(guild_id, name, permissions, color=color, mentionable=mentionable,
                                          hoist=hoist)

    async def add_member(self, guild_id: int, user_id: int | None = None, name: str = "member", *,
                         roles: list[int] | None = None, permissions: int | None = None, bot: bool = False,
                         nick: str | None = None) -> JSON:
        """Add a member (GUILD_MEMBER_ADD); see :meth:`World.add_member`."""
        return await self._world.add_member(guild_id, user_id, name, roles=roles, permissions=permissions, bot=bot,
                                            nick=nick)

    async def add_text_channel(self, guild_id: int, name: str, *, topic: str | None = None,
                               parent_id: int | None = None, news: bool = False,
                               permission_overwrites: list[JSON] | None = None) -> JSON:
        """Add a text (or announcement) channel (CHANNEL_CREATE)."""
        return await self._world.add_text_channel(guild_id, name, topic=topic, parent_id=parent_id, news=news,
                                                  permission_overwrites=permission_overwrites)

    async def add_category(self, guild_id: int, name: str) -> JSON:
        return await self._world.add_category(guild_id, name)

    async def add_forum_channel(self, guild_id: int, name: str, tags: list[str | JSON] | None = None, *,
                                parent_id: int | None = None, require_tag: bool = False) -> JSON:
        """Add a forum channel with tags (names or dicts)."""
        return await self._world.add_forum_channel(guild_id, name, tags, parent_id=parent_id, require_tag=require_tag)

    async def delete_channel(self, channel_id: int) -> JSON:
        """Staff delete a channel or thread (CHANNEL_DELETE / THREAD_DELETE)."""
        return await self._world.delete_channel(channel_id)

    async def add_thread(self, channel_id: int, name: str, *, owner_id: int | None = None,
                         message_id: int | None = None, private: bool = False, archived: bool = False,
                         locked: bool = False, applied_tags: list[Any] | None = None,
                         starter_content: str | None = None) -> JSON:
        """A member opens a thread (THREAD_CREATE); see :meth:`World.add_thread`."""
        return await self._world.add_thread(channel_id, name, owner_id=owner_id, message_id=message_id,
                                            private=private, archived=archived, locked=locked,
                                            applied_tags=applied_tags, starter_content=starter_content)

    def member_permissions(self, guild_id: int, user_id: int) -> int:
        """A member's guild-level permission bits (the owner and administrators have all)."""
        return self._state.member_permissions(int(guild_id), int(user_id))

    def dm_channel(self, user_id: int) -> JSON:
        """The DM channel between the bot and a user, opened on first use."""
        return self._state.dm_channel(int(user_id))

    # ------------------------------------------------------------------ watching the world (ChangeFeed)

    def subscribe(self, observer: Callable[[Change], None]) -> Callable[[], None]:
        """Tell ``observer`` about every change (dispatches and interaction answers); returns the unsubscriber.

        For pages that show the world (the sandbox); see :mod:`bot.discord_double.changes`.
        """
        return self._changes.subscribe(observer)

    def find_message(self, message_id: int) -> JSON | None:
        """A message by id, rendered as over REST: from any channel, or an ephemeral answer; None if unknown."""
        stored = self._state.find_message(int(message_id))
        if stored is not None:
            return self._state.render_message(stored)
        ephemeral = self._interactions.find_ephemeral(int(message_id))
        return self._state.render_message(ephemeral) if ephemeral is not None else None

    # ------------------------------------------------------------------ what members do (World)

    def messages_in(self, channel_id: int) -> list[JSON]:
        """Stored history of a channel, oldest first (ephemeral messages are not stored)."""
        return self._state.messages_in(channel_id)

    def get_message(self, channel_id: int, message_id: int) -> JSON:
        return self._state.get_message(channel_id, message_id)

    async def post_message(self, channel_id: int, author_id: int, content: str = "", *,
                           reference: int | JSON | None = None, attachments: list[JSON] | None = None,
                           embeds: list[JSON] | None = None, dispatch: bool = True,
                           message_id: int | None = None, at: dt.datetime | None = None,
                           webhook_id: int | None = None) -> JSON:
        """A member posts (MESSAGE_CREATE); see :meth:`World.post_message` for the options."""
        return await self._world.post_message(channel_id, author_id, content, reference=reference,
                                              attachments=attachments, embeds=embeds, dispatch=dispatch,
                                              message_id=message_id, at=at, webhook_id=webhook_id)

    async def edit_message(self, channel_id: int, message_id: int, content: str) -> JSON:
        """A member edits their message (MESSAGE_UPDATE)."""
        return await self._world.edit_message(channel_id, message_id, content)

    async def delete_message(self, channel_id: int, message_id: int) -> None:
        """A message disappears (MESSAGE_DELETE)."""
        await self._world.delete_message(channel_id, message_id)

    async def bulk_delete(self, channel_id: int, message_ids: list[int]) -> None:
        """MESSAGE_DELETE_BULK for several messages."""
        await self._world.bulk_delete(channel_id, message_ids)

    def webhooks_in(self, channel_id: int) -> list[JSON]:
        """The webhooks of a channel (with their tokens), oldest first."""
        return [dict(h) for h in self._state.webhooks.values() if h["channel_id"] == str(channel_id)]

    def delete_webhook(self, webhook_id: int) -> None:
        """Staff delete a webhook: executing it, or managing its messages, answers 404 Unknown Webhook from now on."""
        self._state.webhooks.pop(int(webhook_id), None)

    async def add_reaction(self, channel_id: int, message_id: int, user_id: int, emoji: str | JSON) -> None:
        """A member reacts (MESSAGE_REACTION_ADD)."""
        await self._world.add_reaction(channel_id, message_id, user_id, emoji)

    async def remove_reaction(self, channel_id: int, message_id: int, user_id: int, emoji: str | JSON) -> None:
        """A member removes a reaction (MESSAGE_REACTION_REMOVE)."""
        await self._world.remove_reaction(channel_id, message_id, user_id, emoji)

    def reactions_on(self, message_id: int) -> dict[str, list[int]]:
        """emoji key -> user ids currently reacting."""
        return self._world.reactions_on(message_id)

    async def poll_vote(self, channel_id: int, message_id: int, user_id: int, answer_id: int, add: bool = True) -> None:
        """A member votes/unvotes (MESSAGE_POLL_VOTE_ADD / _REMOVE)."""
        await self._world.poll_vote(channel_id, message_id, user_id, answer_id, add)

    def poll_voters(self, message_id: int, answer_id: int) -> list[int]:
        return self._world.poll_voters(message_id, answer_id)

    async def end_poll(self, channel_id: int, message_id: int) -> JSON:
        """Finalize a poll (MESSAGE_UPDATE with results.is_finalized = true)."""
        return await self._world.end_poll(channel_id, message_id)

    # ------------------------------------------------------------------ interactions (Interactions)

    async def invoke_command(self, guild_id: int | None, channel_id: int | None, user_id: int, name: str,
                             options: dict[str, Any] | list[JSON] | None = None, *, type: int = 2,
                             command_type: int = 1, target_id: int | None = None,
                             command_guild_id: int | None = None) -> InteractionRecord:
        """A user runs an application command; see :meth:`Interactions.invoke_command`."""
        return await self._interactions.invoke_command(guild_id, channel_id, user_id, name, options, type=type,
                                                       command_type=command_type, target_id=target_id,
                                                       command_guild_id=command_guild_id)

    async def invoke_autocomplete(self, guild_id: int | None, channel_id: int | None, user_id: int, name: str,
                                  options: dict[str, Any], focused: str, *,
                                  command_guild_id: int | None = None) -> InteractionRecord:
        """Autocomplete for option ``focused``. ``await record.wait_choices()`` for the result."""
        return await self._interactions.invoke_autocomplete(guild_id, channel_id, user_id, name, options, focused,
                                                            command_guild_id=command_guild_id)

    async def autocomplete_choices(self, *args: Any, timeout: float = 5.0, **kwargs: Any) -> list[JSON]:
        """``invoke_autocomplete`` + wait; returns the choices list."""
        return await self._interactions.autocomplete_choices(*args, timeout=timeout, **kwargs)

    async def click_component(self, message: JSON | int, custom_id: str, user_id: int, *,
                              values: list[str] | None = None, channel_id: int | None = None) -> InteractionRecord:
        """A user clicks a button / picks select values on a message (or a message id)."""
        return await self._interactions.click_component(message, custom_id, user_id, values=values,
                                                        channel_id=channel_id)

    async def submit_modal(self, custom_id: str, values: dict[str, Any], user_id: int, *,
                           guild_id: int | None = None, channel_id: int | None = None,
                           modal: JSON | None = None) -> InteractionRecord:
        """A user submits a modal; see :meth:`Interactions.submit_modal`."""
        return await self._interactions.submit_modal(custom_id, values, user_id, guild_id=guild_id,
                                                     channel_id=channel_id, modal=modal)

    # ------------------------------------------------------------------ the gateway (Gateway)

    async def dispatch(self, event: str, data: JSON) -> None:
        """Send a DISPATCH to every live session (buffered for disconnected, resumable ones)."""
        await self._gateway.dispatch(event, data)

    @property
    def connected(self) -> bool:
        """True when some session has a live, handshaken websocket."""
        return self._gateway.connected

    async def disconnect(self, code: int = 4000) -> None:
        """Drop the gateway connection with a resumable close code; the client RESUMEs."""
        await self._gateway.disconnect(code)

    def hold_connections(self) -> None:
        """Withhold HELLO from new sockets until :meth:`release_connections`; see :meth:`Gateway.hold_connections`."""
        self._gateway.hold_connections()

    def release_connections(self) -> None:
        self._gateway.release_connections()

    async def invalid_session(self, resumable: bool = False) -> None:
        """Send op 9; with ``resumable=False`` the session is dropped and the client re-IDENTIFYs."""
        await self._gateway.invalid_session(resumable)

    async def reconnect(self) -> None:
        """Send op 7 RECONNECT; the client closes and RESUMEs."""
        await self._gateway.reconnect()

    # ------------------------------------------------------------------ requests, faults, limits

    def find_requests(self, method: str | None = None, path_regex: str = "") -> list[RecordedRequest]:
        """Recorded requests matching method (None = any) and regex (searched in path)."""
        return self._log.find_requests(method, path_regex)

    def clear_requests(self) -> None:
        self._log.clear_requests()

    async def wait_for_request(self, method: str | None, path_regex: str, timeout: float = 5.0, *,
                               count: int = 1, completed: bool = True) -> RecordedRequest:
        """Wait until ``count`` matching requests were received (and answered, if ``completed``)."""
        return await self._log.wait_for_request(method, path_regex, timeout, count=count, completed=completed)

    def inject_fault(self, method: str, path_regex: str, status: int, *, times: int | None = 1,
                     retry_after: float | None = None, global_: bool = False, body: Any = None) -> Fault:
        """Make matching REST requests fail with ``status``; see :meth:`Faults.inject_fault`."""
        return self._faults.inject_fault(method, path_regex, status, times=times, retry_after=retry_after,
                                         global_=global_, body=body)

    def lose_response(self, method: str, path_regex: str, status: int = 502, *, times: int | None = 1) -> Fault:
        """Do the work of matching requests, then answer ``status``; see :meth:`Faults.lose_response`."""
        return self._faults.lose_response(method, path_regex, status, times=times)

    def enforce_global_rate_limit(self, per_second: int | None = 50) -> None:
        """Answer 429 (global) when more than ``per_second`` requests arrive in 1 s; None disables."""
        self._limits.enforce_global_rate_limit(per_second)

    # ------------------------------------------------------------------ reached into by tests and bench/
    # Callers that patch or bypass a part on purpose (wrap a REST handler, write frames directly).

    @property
    def _routes(self) -> list[Route]:
        return self._rest.routes

    def _dm_channel_for(self, user_id: int) -> JSON:
        return self._state.dm_channel(user_id)

    def _gateway_message(self, msg: JSON) -> JSON:
        return self._state.gateway_message(msg)

    def _live_sessions(self) -> list[Session]:
        return self._gateway.live_sessions()

    async def _send_dispatch(self, session: Session, event: str, data: JSON) -> None:
        await self._gateway.send_dispatch(session, event, data)
