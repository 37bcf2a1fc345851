"""Interactions: a member runs a slash command, autocompletes, clicks a button or submits a modal.

Why this exists: Matinee's commands are where members meet it, and an interaction has rules
real Discord enforces (one callback, within 3 s, follow-ups by token). The double builds each
INTERACTION_CREATE from the commands the bot synced, with ``resolved`` users, roles, channels
and attachments like Discord's, and keeps an :class:`InteractionRecord` of everything the bot
answered, so a test can wait for the answer instead of sleeping. The callback and webhook
routes that fill the record are in :mod:`bot.discord_double.routes.interactions`.
"""

from __future__ import annotations

import asyncio
import copy
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from bot.discord_double.changes import ChangeFeed
from bot.discord_double.command_options import CHANNEL, MENTIONABLE, ROLE, USER, command_data, resolve_value
from bot.discord_double.gateway import Gateway
from bot.discord_double.protocol import ADMINISTRATOR, ALL_PERMISSIONS, FLAG_EPHEMERAL, FLAG_LOADING, JSON
from bot.discord_double.snowflakes import make_snowflake
from bot.discord_double.state import State

# Interaction types
APPLICATION_COMMAND, MESSAGE_COMPONENT, AUTOCOMPLETE, MODAL_SUBMIT = 2, 3, 4, 5
# Component types
BUTTON, TEXT_INPUT, LABEL = 2, 4, 18
# The option type whose ``resolved`` data a select of users/roles/mentionables/channels carries.
SELECT_RESOLVES = {5: USER, 6: ROLE, 7: MENTIONABLE, 8: CHANNEL}


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
    _observer: Callable[[InteractionRecord], None] | None = field(default=None, repr=False)

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

    @property
    def user_id(self) -> int:
        """Who ran the command or clicked (a member in a guild, a user in a DM)."""
        user = (self.payload.get("member") or {}).get("user") or self.payload["user"]
        return int(user["id"])

    def messages(self) -> list[JSON]:
        """The messages this interaction answered with: ``@original`` (unless deleted), then follow-ups."""
        out = [self.original] if self.original is not None and not self.original_deleted else []
        return out + [m for m in self.followups if m is not self.original]

    def _notify(self) -> None:
        self._changed.set()
        if self._observer is not None:
            self._observer(self)

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


def walk_components(components: list[JSON]) -> Iterator[JSON]:
    """Every component in a message or modal, nested ones included."""
    for comp in components:
        yield comp
        yield from walk_components(comp.get("components", []))
        if isinstance(comp.get("accessory"), dict):
            yield comp["accessory"]
        if isinstance(comp.get("component"), dict):
            yield comp["component"]


class Interactions:
    """Sends interactions to the bot as a member and keeps their records (``records``, by id)."""

    def __init__(self, state: State, gateway: Gateway, changes: ChangeFeed | None = None) -> None:
        self.state = state
        self.gateway = gateway
        self.changes = changes or gateway.changes
        self.records: dict[int, InteractionRecord] = {}

    def find_ephemeral(self, message_id: int) -> JSON | None:
        """An ephemeral answer by id: it lives only on its interaction's record, never in a channel."""
        for record in reversed(list(self.records.values())):
            for msg in record.messages():
                if int(msg["id"]) == int(message_id) and msg.get("flags", 0) & FLAG_EPHEMERAL:
                    return msg
        return None

    # ------------------------------------------------------------------ the test API

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
        payload = self._base(type, guild_id, channel_id, user_id)
        payload["data"] = command_data(self.state, name, int(guild_id) if guild_id else None, options, command_type,
                                       target_id=target_id, command_guild_id=command_guild_id)
        return await self._send(payload)

    async def invoke_autocomplete(self, guild_id: int | None, channel_id: int | None, user_id: int, name: str,
                                  options: dict[str, Any], focused: str, *,
                                  command_guild_id: int | None = None) -> InteractionRecord:
        """Autocomplete for option ``focused`` (type 4). ``await record.wait_choices()`` for the result."""
        payload = self._base(AUTOCOMPLETE, guild_id, channel_id, user_id)
        payload["data"] = command_data(self.state, name, int(guild_id) if guild_id else None, options,
                                       focused=focused, command_guild_id=command_guild_id)
        return await self._send(payload)

    async def autocomplete_choices(self, *args: Any, timeout: float = 5.0, **kwargs: Any) -> list[JSON]:
        """``invoke_autocomplete`` + wait; returns the choices list."""
        record = await self.invoke_autocomplete(*args, **kwargs)
        return await record.wait_choices(timeout)

    async def click_component(self, message: JSON | int, custom_id: str, user_id: int, *,
                              values: list[str] | None = None, channel_id: int | None = None) -> InteractionRecord:
        """A user clicks a button / picks select values on a message (type 3).

        ``message``: the message dict (e.g. from ``messages_in``/a record) or its id.
        """
        msg = message if isinstance(message, dict) else (
            self.state.find_message(int(message)) or self.find_ephemeral(int(message)))
        if msg is None:
            raise ValueError(f"unknown message {message}")
        stored = self.state.find_message(int(msg["id"]))
        rendered = self.state.render_message(stored) if stored else copy.deepcopy(msg)
        comp = next((c for c in walk_components(rendered.get("components", []))
                     if c.get("custom_id") == custom_id), None)
        if comp is None:
            raise ValueError(f"no component with custom_id {custom_id!r} on message {msg['id']}")
        cid = int(channel_id or msg["channel_id"])
        gid = self.state.channel_guild_id(cid)
        payload = self._base(MESSAGE_COMPONENT, gid, cid, user_id)
        payload["message"] = rendered
        data: JSON = {"custom_id": custom_id, "component_type": comp["type"]}
        if comp["type"] != BUTTON:
            data["values"] = list(values or [])
            resolved: JSON = {}
            rtype = SELECT_RESOLVES.get(comp["type"])
            if rtype is not None:
                for v in data["values"]:
                    resolve_value(self.state, rtype, v, resolved, gid)
                data["resolved"] = resolved
        payload["data"] = data
        return await self._send(payload)

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
        for rec in reversed(list(self.records.values())):
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
            if comp["type"] == TEXT_INPUT:
                out["value"] = value
            else:
                out["values"] = value if isinstance(value, list) else [value]
            return out

        components: list[JSON] = []
        if modal is not None:
            for top in modal.get("components", []):
                if top["type"] == 1:
                    components.append({"type": 1, "components": [answer(c) for c in top["components"]]})
                elif top["type"] == LABEL:
                    components.append({"type": LABEL, "id": top.get("id"), "component": answer(top["component"])})
        else:
            components = [{"type": 1, "components": [{"type": TEXT_INPUT, "custom_id": k, "value": v}]}
                          for k, v in values.items()]
        payload = self._base(MODAL_SUBMIT, guild_id, channel_id, user_id)
        payload["data"] = {"custom_id": custom_id, "components": components}
        if source is not None and "message" in source.payload:  # modal opened from a component
            payload["message"] = source.payload["message"]
        return await self._send(payload)

    # ------------------------------------------------------------------ building the payload

    async def _send(self, payload: JSON) -> InteractionRecord:
        record = InteractionRecord(id=int(payload["id"]), token=payload["token"], type=payload["type"],
                                   payload=payload,
                                   channel_id=int(payload["channel_id"]) if payload.get("channel_id") else None,
                                   guild_id=int(payload["guild_id"]) if payload.get("guild_id") else None)
        record._observer = self.changes.interaction_changed
        self.records[record.id] = record
        await self.gateway.dispatch("INTERACTION_CREATE", payload)
        return record

    def _base(self, itype: int, guild_id: int | None, channel_id: int | None, user_id: int) -> JSON:
        """The interaction's envelope: who, where, with which permissions (guild) or as a DM."""
        state = self.state
        iid = make_snowflake()
        uid = int(user_id)
        user = state.user(uid)
        payload: JSON = {
            "id": str(iid),
            "application_id": str(state.application_id),
            "type": itype,
            "token": f"itok_{iid}_{secrets.token_hex(8)}",
            "version": 1,
            "locale": "en-US",
            "entitlements": [],
            "attachment_size_limit": 10 * 1024 * 1024,
        }
        if channel_id is not None:
            chan = state.channel(int(channel_id))
            payload["channel_id"] = chan["id"]
            payload["channel"] = {k: v for k, v in chan.items() if k != "last_pin_timestamp"}
        if guild_id is not None:
            gid = int(guild_id)
            member = state.members[gid].get(uid)
            if member is None:
                member = state.add_member(gid, user, [])
            payload["guild_id"] = str(gid)
            payload["guild"] = {"id": str(gid), "locale": "en-US", "features": []}
            payload["guild_locale"] = state.guilds[gid]["preferred_locale"]
            payload["member"] = {**copy.deepcopy(member), "permissions": str(state.member_permissions(gid, uid))}
            payload["app_permissions"] = str(state.member_permissions(gid, state.bot_user_id))
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
                dm = state.dm_channel(uid)
                payload["channel_id"] = dm["id"]
                payload["channel"] = dm
        return payload
