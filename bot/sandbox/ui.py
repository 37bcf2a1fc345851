"""The sandbox's web page: a Discord-like client for the double, and the sample blog beside it.

Why this exists: people trying Matinee should see it the way members will, in a Discord
client, without creating a Discord application. This aiohttp server serves that page (plain
HTML, CSS and JavaScript from ``static/``, no build step), a small JSON API through which the
page acts as a member of the double's world (post, reply, edit, delete, react, vote, run
commands with autocomplete, click buttons, submit modals), Server-Sent Events with every
change (:mod:`bot.sandbox.live`) and the sample blog (:mod:`bot.sandbox.blog`).

It listens on ``127.0.0.1`` only. Requests must name this server in ``Host`` (so a rebound DNS
name cannot reach it) and changes must come from its own page (``Origin``, and a JSON body,
which a form on another site cannot send without a CORS preflight this server never grants).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from bot.discord_double import DiscordDouble, DiscordError, InteractionRecord
from bot.discord_double.protocol import GUILD_FORUM, JSON
from bot.text import MESSAGE_LIMIT

from .blog import SampleBlog
from .live import LiveHub
from .view import WorldView

__all__ = ["SandboxUi"]

log = logging.getLogger(__name__)

STATIC = Path(__file__).with_name("static")
ANSWER_TIMEOUT = 3.5  # Discord gives a bot 3 s to answer an interaction; the page waits a little longer
HEARTBEAT_SECONDS = 15.0
MANAGE_MESSAGES = 1 << 13
STRING, INTEGER, BOOLEAN, USER, CHANNEL, ROLE, MENTIONABLE, NUMBER = 3, 4, 5, 6, 7, 8, 9, 10
MAX_EMOJI = 64

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class BadRequest(Exception):
    """A request the page should not have sent; answered 400 (or ``status``) with the message."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class SandboxUi:
    """The page's HTTP server on ``127.0.0.1:port`` (0 picks a free port)."""

    def __init__(self, double: DiscordDouble, view: WorldView, hub: LiveHub, blog: SampleBlog, *,
                 port: int = 0, widget_url: str | None = None) -> None:  # fmt: skip
        self.double = double
        self.view = view
        self.hub = hub
        self.blog = blog
        self.port = port
        self.widget_url = widget_url
        self._runner: web.AppRunner | None = None
        self._allowed_hosts: set[str] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- lifecycle

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._guard], client_max_size=64 * 1024)
        app.router.add_get("/", self._index)
        app.router.add_static("/static/", STATIC, show_index=False, follow_symlinks=False)
        app.router.add_get("/api/state", self._state)
        app.router.add_get("/api/events", self._events)
        app.router.add_get("/api/channels/{cid:\\d+}/messages", self._history)
        app.router.add_post("/api/channels/{cid:\\d+}/messages", self._send)
        app.router.add_patch("/api/channels/{cid:\\d+}/messages/{mid:\\d+}", self._edit)
        app.router.add_delete("/api/channels/{cid:\\d+}/messages/{mid:\\d+}", self._delete)
        app.router.add_post("/api/channels/{cid:\\d+}/messages/{mid:\\d+}/reactions", self._react)
        app.router.add_post("/api/channels/{cid:\\d+}/messages/{mid:\\d+}/votes", self._vote)
        app.router.add_post("/api/commands", self._command)
        app.router.add_post("/api/autocomplete", self._autocomplete)
        app.router.add_post("/api/components", self._component)
        app.router.add_post("/api/modals", self._modal)
        app.router.add_post("/api/apps", self._app_command)
        self.blog.add_routes(app)
        return app

    async def start(self) -> str:
        """Listen on loopback; returns the page's URL."""
        self._runner = web.AppRunner(self.app(), handle_signals=False, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        try:
            await site.start()
        except BaseException:
            await self._runner.cleanup()
            self._runner = None
            raise
        self.port = int(self._runner.addresses[0][1])
        self._allowed_hosts = {f"127.0.0.1:{self.port}", f"localhost:{self.port}"}
        return self.url

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- guards

    @web.middleware
    async def _guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.host not in self._allowed_hosts:
            return web.json_response({"error": "This page answers only at its own address."}, status=421)
        if request.method not in ("GET", "HEAD"):
            origin = request.headers.get("Origin")
            if origin is not None and origin.removeprefix("http://") not in self._allowed_hosts:
                return web.json_response({"error": "Requests must come from the sandbox's own page."}, status=403)
            if request.content_type != "application/json":
                return web.json_response({"error": "Send JSON."}, status=415)
        try:
            response = await handler(request)
        except BadRequest as exc:
            return web.json_response({"error": exc.message}, status=exc.status)
        if not request.path.startswith("/blog/"):
            response.headers.setdefault("X-Content-Type-Options", "nosniff")
            response.headers.setdefault("Referrer-Policy", "no-referrer")
        return response

    def _csp(self) -> str:
        return (
            "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; "
            f"script-src 'self'; style-src 'self'; connect-src 'self'; frame-src 'self'; "
            f"img-src 'self' data: {self.double.base_url}"
        )

    async def _body(self, request: web.Request) -> JSON:
        try:
            body = await request.json()
        except (ValueError, UnicodeDecodeError):
            raise BadRequest("The body is not JSON.") from None
        if not isinstance(body, dict):
            raise BadRequest("The body must be a JSON object.")
        return body

    async def _acting(self, request: web.Request) -> tuple[JSON, int]:
        """The request's JSON body and the person it acts as (``as``), checked."""
        body = await self._body(request)
        return body, self._person(body.get("as"))

    def _target(self, request: web.Request) -> tuple[int, JSON]:
        """The channel and the message the URL names (``{cid}``, ``{mid}``), checked."""
        channel_id = self._channel(request.match_info["cid"])
        return channel_id, self._message(channel_id, int(request.match_info["mid"]))

    def _person(self, value: Any) -> int:
        try:
            user_id = int(value)
        except (TypeError, ValueError):
            raise BadRequest("Say who you are acting as ('as').") from None
        if user_id not in self.view.world.people:
            raise BadRequest("You can act only as the sandbox's owner or its two members.", 403)
        return user_id

    def _channel(self, value: Any) -> int:
        try:
            channel_id = int(value)
        except (TypeError, ValueError):
            raise BadRequest("Which channel?") from None
        if not self.view.is_guild_channel(channel_id):
            raise BadRequest("No such channel in Film Club.", 404)
        return channel_id

    def _message(self, channel_id: int, message_id: int) -> JSON:
        try:
            return self.double.get_message(channel_id, message_id)
        except DiscordError:
            raise BadRequest("That message is gone.", 404) from None

    @staticmethod
    def _content(body: JSON) -> str:
        content = body.get("content")
        if not isinstance(content, str) or not content.strip():
            raise BadRequest("Type a message first.")
        if len(content) > MESSAGE_LIMIT:
            raise BadRequest(f"Messages are limited to {MESSAGE_LIMIT} characters ({len(content)} typed).")
        return content.strip()

    # -- the page and what it reads

    async def _index(self, request: web.Request) -> web.Response:
        return web.FileResponse(STATIC / "index.html", headers={  # type: ignore[return-value]
            "Content-Security-Policy": self._csp(), "Cache-Control": "no-store"})

    async def _state(self, request: web.Request) -> web.Response:
        snapshot = self.view.snapshot()
        snapshot["blog"] = self.blog.status()
        snapshot["widget"] = bool(self.widget_url)
        return web.json_response(snapshot, headers={"Cache-Control": "no-store"})

    async def _history(self, request: web.Request) -> web.Response:
        channel_id = self._channel(request.match_info["cid"])
        viewer = self._person(request.query.get("as"))
        messages = self.view.messages(channel_id, for_user=viewer)
        return web.json_response(messages, headers={"Cache-Control": "no-store"})

    async def _events(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={
            "Content-Type": "text/event-stream", "Cache-Control": "no-store", "X-Accel-Buffering": "no"})
        await response.prepare(request)
        client = self.hub.connect()
        try:
            await response.write(b"retry: 1000\nevent: hello\ndata: {}\n\n")
            while True:
                try:
                    event = await asyncio.wait_for(client.queue.get(), HEARTBEAT_SECONDS)
                except TimeoutError:
                    await response.write(b": ping\n\n")
                    continue
                if event is None:
                    break
                await response.write(event.encode())
        except (ConnectionError, RuntimeError):
            pass  # the page went away
        finally:
            self.hub.disconnect(client)
        with contextlib.suppress(ConnectionError, RuntimeError):
            await response.write_eof()
        return response

    # -- what a member does

    async def _send(self, request: web.Request) -> web.Response:
        body, author = await self._acting(request)
        channel_id = self._channel(request.match_info["cid"])
        if self.double.channels[channel_id]["type"] == GUILD_FORUM:
            raise BadRequest("Post in one of the forum's threads.")
        content = self._content(body)
        reference = None
        if body.get("reply_to"):
            reference = int(self._message(channel_id, int(body["reply_to"]))["id"])
        message = await self.double.post_message(channel_id, author, content, reference=reference)
        return web.json_response({"id": message["id"]}, status=201)

    async def _edit(self, request: web.Request) -> web.Response:
        body, author = await self._acting(request)
        channel_id, message = self._target(request)
        if int(message["author"]["id"]) != author:
            raise BadRequest("You can edit only your own messages.", 403)
        await self.double.edit_message(channel_id, int(message["id"]), self._content(body))
        return web.json_response({"id": message["id"]})

    async def _delete(self, request: web.Request) -> web.Response:
        _body, person = await self._acting(request)
        channel_id, message = self._target(request)
        own = int(message["author"]["id"]) == person
        if not own and not self.double.member_permissions(self.view.world.guild_id, person) & MANAGE_MESSAGES:
            raise BadRequest("You can delete only your own messages.", 403)
        await self.double.delete_message(channel_id, int(message["id"]))
        return web.json_response({"id": message["id"]})

    async def _react(self, request: web.Request) -> web.Response:
        body, person = await self._acting(request)
        channel_id, message = self._target(request)
        emoji = body.get("emoji")
        if not isinstance(emoji, str) or not emoji or len(emoji) > MAX_EMOJI or "<" in emoji:
            raise BadRequest("Pick an emoji.")
        if body.get("add", True):
            await self.double.add_reaction(channel_id, int(message["id"]), person, emoji)
        else:
            await self.double.remove_reaction(channel_id, int(message["id"]), person, emoji)
        return web.json_response({"id": message["id"]})

    async def _vote(self, request: web.Request) -> web.Response:
        body, person = await self._acting(request)
        channel_id, message = self._target(request)
        poll = message.get("poll")
        if poll is None:
            raise BadRequest("That message has no poll.")
        answers = {a["answer_id"] for a in poll["answers"]}
        try:
            answer_id = int(body.get("answer_id"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise BadRequest("Pick an answer.") from None
        if answer_id not in answers:
            raise BadRequest("The poll has no such answer.")
        if (poll.get("results") or {}).get("is_finalized"):
            raise BadRequest("The poll has ended.")
        await self.double.poll_vote(channel_id, int(message["id"]), person, answer_id, bool(body.get("add", True)))
        return web.json_response({"id": message["id"]})

    # -- interactions

    def _entry(self, name: Any, ctype: int = 1) -> JSON:
        entry = next((e for e in self.view.commands() if e["name"] == name and e["type"] == ctype), None)
        if entry is None:
            raise BadRequest(f"Matinee has no command named {name!r}.", 404)
        return entry

    def _allowed(self, entry: JSON, person: int) -> None:
        """Discord hides a command from members lacking its default permissions; the page does too."""
        needed = int(entry.get("default_member_permissions") or 0)
        if needed and self.double.member_permissions(self.view.world.guild_id, person) & needed != needed:
            raise BadRequest(f"Only staff can use /{entry['name']}.", 403)

    def _options(self, entry: JSON, values: Any, *, focused: str | None = None) -> dict[str, Any]:
        """The values the page sent, typed as the synced command declares them (Discord's client does this)."""
        if not isinstance(values, dict):
            raise BadRequest("Options must be an object.")
        specs = {o["name"]: o for o in entry["options"]}
        typed: dict[str, Any] = {}
        for name, value in values.items():
            spec = specs.get(name)
            if spec is None:
                raise BadRequest(f"/{entry['name']} has no option {name!r}.")
            if value in (None, "") and name != focused:
                continue
            typed[name] = value if name == focused else _typed(spec, value)
        if focused is None:
            missing = [o["name"] for o in entry["options"] if o.get("required") and o["name"] not in typed]
            if missing:
                raise BadRequest(f"Fill in {', '.join(missing)}.")
        return typed

    async def _answered(self, record: InteractionRecord) -> web.Response:
        """Wait for the bot's first answer; a modal is returned for the page to show."""
        try:
            response = await record.wait_response(ANSWER_TIMEOUT)
        except TimeoutError:
            return web.json_response({"interaction_id": str(record.id), "answered": False,
                                      "error": "Matinee did not respond in time."})  # fmt: skip
        modal = record.modal
        return web.json_response({"interaction_id": str(record.id), "answered": True, "type": response["type"],
                                  "modal": modal})  # fmt: skip

    async def _command(self, request: web.Request) -> web.Response:
        body, person = await self._acting(request)
        channel_id = self._channel(body.get("channel_id"))
        entry = self._entry(body.get("name"))
        self._allowed(entry, person)
        options = self._options(entry, body.get("options") or {})
        record = await self.double.invoke_command(self.view.world.guild_id, channel_id, person, entry["name"], options)
        return await self._answered(record)

    async def _autocomplete(self, request: web.Request) -> web.Response:
        body, person = await self._acting(request)
        channel_id = self._channel(body.get("channel_id"))
        entry = self._entry(body.get("name"))
        self._allowed(entry, person)
        focused = body.get("focused")
        spec = next((o for o in entry["options"] if o["name"] == focused), None)
        if spec is None or not spec.get("autocomplete"):
            raise BadRequest("That option has no autocomplete.")
        values = dict(body.get("options") or {})
        values[focused] = str(values.get(focused) or "")
        options = self._options(entry, values, focused=focused)
        record = await self.double.invoke_autocomplete(self.view.world.guild_id, channel_id, person, entry["name"],
                                                       options, focused)  # fmt: skip
        try:
            choices = await record.wait_choices(ANSWER_TIMEOUT)
        except TimeoutError:
            return web.json_response({"choices": [], "error": "Loading options failed"})
        return web.json_response({"choices": choices})

    async def _component(self, request: web.Request) -> web.Response:
        body, person = await self._acting(request)
        channel_id = self._channel(body.get("channel_id"))
        try:
            message_id = int(body.get("message_id"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise BadRequest("Which message?") from None
        found = self.view.find(message_id)
        if found is None or found["channel_id"] != str(channel_id):
            raise BadRequest("That message is gone.", 404)
        only_for = found["sandbox"].get("only_for")
        if only_for is not None and int(only_for) != person:
            raise BadRequest("That message is for someone else.", 403)
        values = body.get("values")
        if values is not None and (not isinstance(values, list) or not all(isinstance(v, str) for v in values)):
            raise BadRequest("Values must be a list of strings.")
        try:
            record = await self.double.click_component(message_id, str(body.get("custom_id")), person,
                                                       values=values, channel_id=channel_id)  # fmt: skip
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
        return await self._answered(record)

    async def _modal(self, request: web.Request) -> web.Response:
        body, person = await self._acting(request)
        try:
            source = self.double.interactions[int(body.get("interaction_id"))]  # type: ignore[arg-type]
        except (TypeError, ValueError, KeyError):
            raise BadRequest("Which form?") from None
        modal = source.modal
        if modal is None or source.user_id != person:
            raise BadRequest("That form is not yours to submit.", 403)
        values = body.get("values")
        if not isinstance(values, dict) or not all(isinstance(v, str | list) for v in values.values()):
            raise BadRequest("Values must be an object.")
        record = await self.double.submit_modal(modal["custom_id"], values, person, guild_id=source.guild_id,
                                                channel_id=source.channel_id, modal=modal)  # fmt: skip
        return await self._answered(record)

    async def _app_command(self, request: web.Request) -> web.Response:
        body, person = await self._acting(request)
        channel_id = self._channel(body.get("channel_id"))
        entry = self._entry(body.get("name"), ctype=3)
        self._allowed(entry, person)
        target = self._message(channel_id, int(body.get("message_id") or 0))
        record = await self.double.invoke_command(self.view.world.guild_id, channel_id, person, entry["name"],
                                                  command_type=3, target_id=int(target["id"]))  # fmt: skip
        return await self._answered(record)


def _typed(spec: JSON, value: Any) -> Any:
    """One option value as its declared type; choices must be one of the offered values."""
    otype = spec["type"]
    try:
        if otype == INTEGER:
            typed: Any = int(value)
        elif otype == NUMBER:
            typed = float(value)
        elif otype == BOOLEAN:
            typed = value if isinstance(value, bool) else str(value).lower() in ("true", "1", "yes")
        elif otype in (USER, CHANNEL, ROLE, MENTIONABLE):
            typed = str(int(value))
        else:
            typed = str(value)
    except (TypeError, ValueError):
        raise BadRequest(f"{spec['name']} must be a {'whole number' if otype == INTEGER else 'number'}.") from None
    choices = spec.get("choices")
    if choices and typed not in [c["value"] for c in choices]:
        raise BadRequest(f"Pick one of the choices for {spec['name']}.")
    if otype == STRING and isinstance(typed, str):
        if spec.get("min_length") and len(typed) < spec["min_length"]:
            raise BadRequest(f"{spec['name']} needs at least {spec['min_length']} characters.")
        if spec.get("max_length") and len(typed) > spec["max_length"]:
            raise BadRequest(f"{spec['name']} takes at most {spec['max_length']} characters.")
    return typed
