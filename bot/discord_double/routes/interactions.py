"""The bot's answers to interactions: the callback, then ``@original`` and follow-ups by token.

Why this exists: an interaction is answered once (a second callback is 40060), with a type
the interaction allows; a deferred answer shows a "thinking" message that the first edit or
follow-up replaces; ephemeral messages are never stored or dispatched (other clients, bots
included, cannot see them). Every answer is kept on the :class:`InteractionRecord`, which
wakes the tests waiting on it.

Fidelity note: interaction callbacks are called with ``?with_response=1`` and must answer with
an ``InteractionCallbackResponse`` body.
"""

from __future__ import annotations

import contextlib
import time

from bot.discord_double.interactions import APPLICATION_COMMAND, InteractionRecord, Interactions
from bot.discord_double.protocol import FLAG_EPHEMERAL, FLAG_LOADING, JSON
from bot.discord_double.recording import Files, RecordedFile, RecordedRequest
from bot.discord_double.responses import DiscordError, invalid_form, unknown
from bot.discord_double.rest import ID, TOKEN, RouteSpec
from bot.discord_double.routes.base import Resource
from bot.discord_double.world import World

# Callback types
MESSAGE, DEFERRED_MESSAGE, DEFERRED_UPDATE, UPDATE_MESSAGE, AUTOCOMPLETE_RESULT, MODAL = 4, 5, 6, 7, 8, 9
# Which callback types each interaction type allows (ping: pong).
ALLOWED_CALLBACKS = {2: {4, 5, 9}, 3: {4, 5, 6, 7, 9}, 4: {8}, 5: {4, 5, 6, 7}}
# Message types of a response to a slash command (20) and to a context menu (23).
CHAT_INPUT_COMMAND_MESSAGE, CONTEXT_MENU_COMMAND_MESSAGE = 20, 23


def _truthy(value: str | None) -> bool:
    return value in ("1", "true", "True")


class InteractionRoutes(Resource):
    def __init__(self, world: World, interactions: Interactions) -> None:
        super().__init__(world)
        self.interactions = interactions

    def routes(self) -> list[RouteSpec]:
        webhook = f"/webhooks/{ID}/{TOKEN}"
        return [
            ("POST", f"/interactions/{ID}/{TOKEN}/callback", self._r_interaction_callback),
            ("GET", f"{webhook}/messages/@original", self._r_get_original),
            ("PATCH", f"{webhook}/messages/@original", self._r_patch_original),
            ("DELETE", f"{webhook}/messages/@original", self._r_delete_original),
            ("POST", webhook, self._r_followup),
            ("GET", f"{webhook}/messages/{ID}", self._r_get_followup),
            ("PATCH", f"{webhook}/messages/{ID}", self._r_patch_followup),
            ("DELETE", f"{webhook}/messages/{ID}", self._r_delete_followup),
        ]

    # ------------------------------------------------------------------ helpers

    def _record_for_token(self, app: str, token: str) -> InteractionRecord:
        if int(app) != self.state.application_id:
            raise unknown("Webhook", 10015)
        for rec in self.interactions.records.values():
            if rec.token == token:
                return rec
        raise unknown("Webhook", 10015)

    def _interaction_message(self, record: InteractionRecord, data: JSON, files: list[RecordedFile], *,
                             msg_type: int, flags: int = 0) -> JSON:
        """A message sent in answer to an interaction: by the application's webhook, with its metadata."""
        cid = record.channel_id or int(record.payload["channel"]["id"])
        payload = {**data, "flags": int(data.get("flags") or 0) | flags}
        user = record.payload.get("member", {}).get("user") or record.payload.get("user")
        meta: JSON = {"id": str(record.id), "type": record.type, "user": user,
                      "authorizing_integration_owners": record.payload.get("authorizing_integration_owners", {})}
        if record.type == APPLICATION_COMMAND:
            meta["name"] = record.payload["data"]["name"]
            meta["command_type"] = record.payload["data"].get("type", 1)
        extra: JSON = {"interaction_metadata": meta, "application_id": str(self.state.application_id)}
        if record.type == APPLICATION_COMMAND:
            extra["interaction"] = {"id": str(record.id), "type": 2, "name": record.payload["data"]["name"],
                                    "user": user}
        validate = not (flags & FLAG_LOADING)
        return self.composer.compose(cid, self.state.bot_user, payload, files=files, msg_type=msg_type,
                                     webhook_id=self.state.application_id, extra=extra, validate=validate)

    async def _publish(self, msg: JSON) -> None:
        """Store + MESSAGE_CREATE unless ephemeral (ephemeral messages are invisible to bots)."""
        if msg["flags"] & FLAG_EPHEMERAL:
            return
        await self.world.store_and_dispatch(msg)

    async def _update_published(self, msg: JSON) -> None:
        if msg["flags"] & FLAG_EPHEMERAL:
            return
        await self.gateway.dispatch("MESSAGE_UPDATE", self.state.gateway_message(msg))

    async def _delete_published(self, msg: JSON) -> None:
        if not msg["flags"] & FLAG_EPHEMERAL:
            with contextlib.suppress(DiscordError):
                await self.world.delete_message(int(msg["channel_id"]), int(msg["id"]))

    # ------------------------------------------------------------------ the callback

    async def _r_interaction_callback(self, rec: RecordedRequest, body: JSON, files: Files, iid: str,
                                      token: str) -> JSON | None:
        record = self.interactions.records.get(int(iid))
        if record is None or record.token != token:
            raise unknown("interaction", 10062)
        if record.callbacks:
            raise DiscordError(400, 40060, "Interaction has already been acknowledged.")
        ctype = int(body.get("type", 0))
        data = body.get("data") or {}
        if ctype not in ALLOWED_CALLBACKS.get(record.type, {1}):
            raise invalid_form("type", "INTERACTION_RESPONSE_TYPE_INVALID", "Invalid interaction response type")
        flags = int(data.get("flags") or 0)
        ephemeral = bool(flags & FLAG_EPHEMERAL)
        msg_type = 0
        if record.type == APPLICATION_COMMAND:
            chat_input = record.payload["data"].get("type", 1) == 1
            msg_type = CHAT_INPUT_COMMAND_MESSAGE if chat_input else CONTEXT_MENU_COMMAND_MESSAGE
        message: JSON | None = None
        if ctype == MESSAGE:
            message = self._interaction_message(record, data, files, msg_type=msg_type)
            record.original = message
            await self._publish(message)
        elif ctype == DEFERRED_MESSAGE:
            message = self._interaction_message(record, {"content": ""}, [], msg_type=msg_type,
                                                flags=FLAG_LOADING | (flags & FLAG_EPHEMERAL))
            record.original = message
            await self._publish(message)
        elif ctype in (DEFERRED_UPDATE, UPDATE_MESSAGE):
            # The clicked message: in its channel, or (ephemeral) on the record of the interaction it answered.
            target = record.payload.get("message")
            stored = None
            if target:
                stored = self.state.find_message(int(target["id"])) or self.interactions.find_ephemeral(
                    int(target["id"]))
            if stored is not None:
                record.original = stored
                if ctype == UPDATE_MESSAGE:
                    self.composer.apply_edit(stored, data, files)
                    await self._update_published(stored)
                    message = stored
        record.callbacks.append(body)
        record.responded_at = time.monotonic()
        record._notify()
        result: JSON = {"interaction": {"id": str(record.id), "type": record.type,
                                        "response_message_loading": ctype == DEFERRED_MESSAGE,
                                        "response_message_ephemeral": ephemeral}}
        if message is not None:
            result["interaction"]["response_message_id"] = message["id"]
        resource: JSON = {"type": ctype}
        if message is not None:
            resource["message"] = self.state.render_message(message)
        result["resource"] = resource
        if _truthy(rec.query.get("with_response")):
            return result
        return None

    # ------------------------------------------------------------------ @original

    def _original(self, app: str, token: str) -> tuple[InteractionRecord, JSON]:
        record = self._record_for_token(app, token)
        if record.original is None or record.original_deleted:
            raise unknown("Message", 10008)
        return record, record.original

    async def _r_get_original(self, rec: RecordedRequest, body: JSON, files: Files, app: str,
                              token: str) -> JSON:
        _, msg = self._original(app, token)
        return self.state.render_message(msg)

    async def _r_patch_original(self, rec: RecordedRequest, body: JSON, files: Files, app: str,
                                token: str) -> JSON:
        record, msg = self._original(app, token)
        was_loading = bool(msg["flags"] & FLAG_LOADING)
        msg["flags"] &= ~FLAG_LOADING
        self.composer.apply_edit(msg, body, files)
        if was_loading and not (msg["content"] or msg["embeds"] or msg["attachments"] or msg["components"]):
            raise DiscordError(400, 50006, "Cannot send an empty message")
        record.original_edits.append(body)
        record._notify()
        await self._update_published(msg)
        return self.state.render_message(msg)

    async def _r_delete_original(self, rec: RecordedRequest, body: JSON, files: Files, app: str,
                                 token: str) -> None:
        record, msg = self._original(app, token)
        record.original_deleted = True
        record._notify()
        await self._delete_published(msg)

    # ------------------------------------------------------------------ follow-ups

    async def _r_followup(self, rec: RecordedRequest, body: JSON, files: Files, app: str,
                          token: str) -> JSON | None:
        record = self._record_for_token(app, token)
        if not record.callbacks:
            raise unknown("Webhook", 10015)
        orig = record.original
        if orig is not None and orig["flags"] & FLAG_LOADING and not record.original_deleted:
            # Discord: the first follow-up after a deferred (type 5) response replaces the "thinking" message.
            msg = orig
            msg["flags"] &= ~FLAG_LOADING
            self.composer.apply_edit(msg, body, files)
            record.followups.append(msg)
            record._notify()
            await self._update_published(msg)
        else:
            msg = self._interaction_message(record, body, files, msg_type=0)
            record.followups.append(msg)
            record._notify()
            await self._publish(msg)
        if _truthy(rec.query.get("wait")):
            return self.state.render_message(msg)
        return None

    def _followup(self, record: InteractionRecord, mid: str) -> JSON:
        for msg in record.followups:
            if msg["id"] == mid:
                return msg
        if record.original is not None and record.original["id"] == mid:
            return record.original
        raise unknown("Message", 10008)

    async def _r_get_followup(self, rec: RecordedRequest, body: JSON, files: Files, app: str, token: str,
                              mid: str) -> JSON:
        return self.state.render_message(self._followup(self._record_for_token(app, token), mid))

    async def _r_patch_followup(self, rec: RecordedRequest, body: JSON, files: Files, app: str,
                                token: str, mid: str) -> JSON:
        record = self._record_for_token(app, token)
        msg = self._followup(record, mid)
        self.composer.apply_edit(msg, body, files)
        record.followup_edits.append(body)
        record._notify()
        await self._update_published(msg)
        return self.state.render_message(msg)

    async def _r_delete_followup(self, rec: RecordedRequest, body: JSON, files: Files, app: str,
                                 token: str, mid: str) -> None:
        record = self._record_for_token(app, token)
        msg = self._followup(record, mid)
        record.followups = [m for m in record.followups if m is not msg]
        record._notify()
        await self._delete_published(msg)
