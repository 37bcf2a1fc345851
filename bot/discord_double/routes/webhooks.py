"""Channel webhooks: list and create them, execute one (into a thread), and fetch, edit or delete its messages.

Why this exists: Matinee mirrors blog comments into review threads through the parent
channel's webhook, under the commenter's name, and must find its own message again after
a crash, although a webhook message takes no nonce. What Discord does here, and so the
double does:

* managing webhooks (list, create) needs Manage Webhooks in the channel (the bot's
  guild permissions with the channel's overwrites for @everyone and the bot applied);
  a channel holds at most :data:`MAX_WEBHOOKS`; names containing "clyde" or "discord"
  are refused, for the webhook and for a message's ``username``;
* executing needs the webhook's token only; ``thread_id`` posts into a thread of the
  webhook's channel (and unarchives it), ``wait=true`` answers with the message, else 204;
  a forum channel's webhook must name a thread;
* the message's author is the webhook (its id, the ``username`` given or the webhook's
  name) and the message carries ``webhook_id``. Its author has **no** ``bot`` flag here,
  so discord.py reads ``author.bot`` as False: a bot must tell webhook messages by
  ``webhook_id``, which is what Matinee does;
* a webhook's messages are fetched, edited and deleted through the webhook (with the
  same ``thread_id``), and only its own.

The ``/webhooks/{id}/{token}`` paths are shared with interaction follow-ups; a path
whose id is the application's is handed to :class:`InteractionRoutes`.
"""

from __future__ import annotations

import re
import secrets

from bot.discord_double.protocol import ADMINISTRATOR, ALL_PERMISSIONS, GUILD_FORUM, JSON, THREAD_TYPES
from bot.discord_double.recording import Files, RecordedRequest
from bot.discord_double.responses import DiscordError, invalid_form, unknown
from bot.discord_double.rest import ID, TOKEN, RouteSpec
from bot.discord_double.routes.base import Resource
from bot.discord_double.routes.interactions import InteractionRoutes
from bot.discord_double.snowflakes import make_snowflake
from bot.discord_double.world import World

MANAGE_WEBHOOKS = 1 << 29
MAX_WEBHOOKS = 15
_RESERVED = re.compile(r"clyde|discord", re.IGNORECASE)


def _truthy(value: str | None) -> bool:
    return value in ("1", "true", "True")


class WebhookRoutes(Resource):
    def __init__(self, world: World, interactions: InteractionRoutes) -> None:
        super().__init__(world)
        self.interactions = interactions

    def routes(self) -> list[RouteSpec]:
        hook = f"/webhooks/{ID}/{TOKEN}"
        return [
            ("GET", f"/channels/{ID}/webhooks", self._r_channel_webhooks),
            ("POST", f"/channels/{ID}/webhooks", self._r_create_webhook),
            ("GET", f"/webhooks/{ID}", self._r_get_webhook),
            ("DELETE", f"/webhooks/{ID}", self._r_delete_webhook),
            ("POST", hook, self._r_execute_webhook),
            ("GET", f"{hook}/messages/{ID}", self._r_get_webhook_message),
            ("PATCH", f"{hook}/messages/{ID}", self._r_edit_webhook_message),
            ("DELETE", f"{hook}/messages/{ID}", self._r_delete_webhook_message),
        ]

    # ------------------------------------------------------------------ helpers

    def _is_application(self, wid: str) -> bool:
        return int(wid) == self.state.application_id

    def bot_channel_permissions(self, channel_id: int) -> int:
        """The bot's permissions in a channel: its guild permissions with the channel's overwrites applied."""
        chan = self.state.channel(channel_id)
        if chan["type"] in THREAD_TYPES and chan.get("parent_id"):
            chan = self.state.channel(int(chan["parent_id"]))
        gid = self.state.channel_guild_id(int(chan["id"]))
        if gid is None:
            return 0
        perms = self.state.member_permissions(gid, self.state.bot_user_id)
        if perms & ADMINISTRATOR:
            return ALL_PERMISSIONS
        member = self.state.members.get(gid, {}).get(self.state.bot_user_id) or {"roles": []}
        overwrites = chan.get("permission_overwrites") or []
        everyone = [o for o in overwrites if o["id"] == str(gid)]
        roles = [o for o in overwrites if o.get("type") == 0 and o["id"] in member["roles"]]
        mine = [o for o in overwrites if o.get("type") == 1 and o["id"] == str(self.state.bot_user_id)]
        for group in (everyone, roles, mine):
            deny = allow = 0
            for overwrite in group:
                deny |= int(overwrite.get("deny") or 0)
                allow |= int(overwrite.get("allow") or 0)
            perms = (perms & ~deny) | allow
        return perms

    def _require_manage(self, channel_id: int) -> None:
        if not self.bot_channel_permissions(channel_id) & MANAGE_WEBHOOKS:
            raise DiscordError(403, 50013, "Missing Permissions")

    def _webhook(self, wid: str, token: str | None = None) -> JSON:
        hook = self.state.webhooks.get(int(wid))
        if hook is None:
            raise unknown("Webhook", 10015)
        if token is not None and token != hook["token"]:
            raise DiscordError(401, 50027, "Invalid Webhook Token")
        return hook

    @staticmethod
    def _check_name(field: str, name: str) -> None:
        if not 1 <= len(name) <= 80:
            raise invalid_form(field, "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 80 in length.")
        if _RESERVED.search(name):
            raise invalid_form(field, "USERNAME_INVALID_CONTAINS", "Username cannot contain \"clyde\" or \"discord\"")

    def _target(self, hook: JSON, rec: RecordedRequest) -> int:
        """The channel a webhook request acts in: the ``thread_id`` thread of the webhook's channel, or the channel."""
        thread = rec.query.get("thread_id")
        if thread is None:
            return int(hook["channel_id"])
        chan = self.state.channel(int(thread))
        if chan["type"] not in THREAD_TYPES or chan.get("parent_id") != hook["channel_id"]:
            raise invalid_form("thread_id", "THREAD_NOT_IN_CHANNEL", "The thread is not in the webhook's channel")
        return int(thread)

    def _own_message(self, hook: JSON, channel_id: int, mid: str) -> JSON:
        msg = self.state.message(channel_id, int(mid))
        if msg.get("webhook_id") != hook["id"]:
            raise unknown("Message", 10008)
        return msg

    # ------------------------------------------------------------------ managing webhooks

    async def _r_channel_webhooks(self, rec: RecordedRequest, body: JSON, files: Files, cid: str) -> list[JSON]:
        self.state.channel(int(cid))
        self._require_manage(int(cid))
        return [dict(h) for h in self.state.webhooks.values() if h["channel_id"] == cid]

    async def _r_create_webhook(self, rec: RecordedRequest, body: JSON, files: Files, cid: str) -> JSON:
        chan = self.state.channel(int(cid))
        if chan["type"] in THREAD_TYPES:
            raise DiscordError(400, 50024, "Cannot execute action on this channel type")
        self._require_manage(int(cid))
        name = str(body.get("name") or "")
        self._check_name("name", name)
        if sum(1 for h in self.state.webhooks.values() if h["channel_id"] == cid) >= MAX_WEBHOOKS:
            raise DiscordError(400, 30007, "Maximum number of webhooks reached (15)")
        wid = make_snowflake()
        hook: JSON = {
            "id": str(wid), "type": 1, "guild_id": chan.get("guild_id"), "channel_id": cid, "name": name,
            "avatar": None, "token": secrets.token_urlsafe(32), "application_id": str(self.state.application_id),
            "user": dict(self.state.bot_user),
        }  # fmt: skip
        self.state.webhooks[wid] = hook
        return dict(hook)

    async def _r_get_webhook(self, rec: RecordedRequest, body: JSON, files: Files, wid: str) -> JSON:
        return dict(self._webhook(wid))

    async def _r_delete_webhook(self, rec: RecordedRequest, body: JSON, files: Files, wid: str) -> None:
        hook = self._webhook(wid)
        self._require_manage(int(hook["channel_id"]))
        del self.state.webhooks[int(wid)]

    # ------------------------------------------------------------------ executing, and its messages

    async def _r_execute_webhook(self, rec: RecordedRequest, body: JSON, files: Files, wid: str, token: str):
        if self._is_application(wid):
            return await self.interactions._r_followup(rec, body, files, wid, token)
        hook = self._webhook(wid, token)
        if rec.query.get("thread_id") is None and self.state.channel(int(hook["channel_id"]))["type"] == GUILD_FORUM:
            raise DiscordError(400, 220001, "Webhooks posted to forum channels must have a thread_name or thread_id")
        target = self._target(hook, rec)
        username = body.get("username")
        if username is not None:
            self._check_name("username", str(username))
        author = {"id": hook["id"], "username": username or hook["name"], "avatar": None, "discriminator": "0000",
                  "global_name": None}  # fmt: skip  (no "bot" flag: see the module's docstring)
        msg = self.composer.compose(target, author, body, files=files, webhook_id=int(hook["id"]),
                                    extra={"application_id": hook.get("application_id")})  # fmt: skip
        if body.get("avatar_url"):
            msg["_avatar_url"] = body["avatar_url"]  # kept for tests; not rendered (Discord shows it on the author)
        await self.world.unarchive_for_post(target)
        await self.world.store_and_dispatch(msg)
        return self.state.render_message(msg) if _truthy(rec.query.get("wait")) else None

    async def _r_get_webhook_message(self, rec: RecordedRequest, body: JSON, files: Files, wid: str, token: str,
                                     mid: str) -> JSON:  # fmt: skip
        if self._is_application(wid):
            return await self.interactions._r_get_followup(rec, body, files, wid, token, mid)
        hook = self._webhook(wid, token)
        return self.state.render_message(self._own_message(hook, self._target(hook, rec), mid))

    async def _r_edit_webhook_message(self, rec: RecordedRequest, body: JSON, files: Files, wid: str, token: str,
                                      mid: str) -> JSON:  # fmt: skip
        if self._is_application(wid):
            return await self.interactions._r_patch_followup(rec, body, files, wid, token, mid)
        hook = self._webhook(wid, token)
        msg = self._own_message(hook, self._target(hook, rec), mid)
        self.composer.apply_edit(msg, body, files)
        await self.gateway.dispatch("MESSAGE_UPDATE", self.state.gateway_message(msg))
        return self.state.render_message(msg)

    async def _r_delete_webhook_message(self, rec: RecordedRequest, body: JSON, files: Files, wid: str, token: str,
                                        mid: str) -> None:  # fmt: skip
        if self._is_application(wid):
            return await self.interactions._r_delete_followup(rec, body, files, wid, token, mid)
        hook = self._webhook(wid, token)
        target = self._target(hook, rec)
        self._own_message(hook, target, mid)
        await self.world.delete_message(target, int(mid))
        return None
