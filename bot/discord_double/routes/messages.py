"""The bot's messages over REST: history, send, fetch, edit, delete and bulk delete.

Why this exists: sending is what Matinee does most, and its exactly-once delivery rests on
details Discord gets right: ``enforce_nonce`` returns the message already sent with the same
nonce instead of a second copy, history pages by ``before``/``after``/``around`` newest first,
and only the author may edit a message (anyone may suppress its embeds through ``flags``).
"""

from __future__ import annotations

from bot.discord_double.protocol import GUILD_CATEGORY, GUILD_FORUM, JSON
from bot.discord_double.recording import Files, RecordedRequest
from bot.discord_double.responses import DiscordError
from bot.discord_double.rest import ID, RouteSpec
from bot.discord_double.routes.base import Resource


class MessageRoutes(Resource):
    def routes(self) -> list[RouteSpec]:
        return [
            ("GET", f"/channels/{ID}/messages", self._r_history),
            ("POST", f"/channels/{ID}/messages", self._r_post_message),
            ("POST", f"/channels/{ID}/messages/bulk-delete", self._r_bulk_delete),
            ("GET", f"/channels/{ID}/messages/{ID}", self._r_get_message),
            ("PATCH", f"/channels/{ID}/messages/{ID}", self._r_patch_message),
            ("DELETE", f"/channels/{ID}/messages/{ID}", self._r_delete_message),
        ]

    async def _r_history(self, rec: RecordedRequest, body: JSON, files: Files, cid: str) -> list[JSON]:
        self.state.channel(int(cid))
        msgs = self.state.messages.get(int(cid), [])  # oldest first
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
        return [self.state.render_message(m) for m in reversed(selected)]

    async def _r_get_message(self, rec: RecordedRequest, body: JSON, files: Files, cid: str, mid: str) -> JSON:
        self.state.channel(int(cid))
        return self.state.render_message(self.state.message(int(cid), int(mid)))

    async def _r_post_message(self, rec: RecordedRequest, body: JSON, files: Files, cid: str) -> JSON:
        chan = self.state.channel(int(cid))
        if chan["type"] in (GUILD_FORUM, GUILD_CATEGORY):
            raise DiscordError(400, 50008, "Cannot send messages in a non-text channel")
        nonce = body.get("nonce")
        if nonce is not None and body.get("enforce_nonce"):
            for existing in self.state.messages.get(int(cid), []):
                if existing.get("nonce") == nonce and existing["author"]["id"] == str(self.state.bot_user_id):
                    return self.state.render_message(existing)
        msg = self.composer.compose(int(cid), self.state.bot_user, body, files=files)
        await self.world.unarchive_for_post(int(cid))
        await self.world.store_and_dispatch(msg)
        return self.state.render_message(msg)

    async def _r_patch_message(self, rec: RecordedRequest, body: JSON, files: Files, cid: str, mid: str) -> JSON:
        self.state.channel(int(cid))
        msg = self.state.message(int(cid), int(mid))
        if msg["author"]["id"] != str(self.state.bot_user_id) and set(body) - {"flags"}:
            raise DiscordError(403, 50005, "Cannot edit a message authored by another user")
        self.composer.apply_edit(msg, body, files)
        await self.gateway.dispatch("MESSAGE_UPDATE", self.state.gateway_message(msg))
        return self.state.render_message(msg)

    async def _r_delete_message(self, rec: RecordedRequest, body: JSON, files: Files, cid: str, mid: str) -> None:
        self.state.channel(int(cid))
        await self.world.delete_message(int(cid), int(mid))

    async def _r_bulk_delete(self, rec: RecordedRequest, body: JSON, files: Files, cid: str) -> None:
        ids = [int(m) for m in body.get("messages", [])]
        if not 2 <= len(ids) <= 100:
            raise DiscordError(400, 50016, "You must provide at least 2 and fewer than 100 messages to delete.")
        await self.world.bulk_delete(int(cid), ids)
