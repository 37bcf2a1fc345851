"""Channels and threads as objects: fetch, edit (archive, lock, rename, tags), delete, typing.

Why this exists: Matinee renames, archives and tags the threads it opens and checks channels
before posting; an edit here dispatches THREAD_UPDATE or CHANNEL_UPDATE like Discord, so the
bot's cache sees its own changes.
"""

from __future__ import annotations

from bot.discord_double.protocol import JSON, THREAD_TYPES
from bot.discord_double.recording import Files, RecordedRequest
from bot.discord_double.rest import ID, RouteSpec
from bot.discord_double.routes.base import Resource
from bot.discord_double.snowflakes import iso, make_snowflake

EDITABLE = ("name", "topic", "nsfw", "rate_limit_per_user", "position", "parent_id", "flags",
            "default_auto_archive_duration", "permission_overwrites", "applied_tags", "available_tags")
EDITABLE_THREAD_METADATA = ("archived", "locked", "auto_archive_duration", "invitable")


class ChannelRoutes(Resource):
    def routes(self) -> list[RouteSpec]:
        return [
            ("GET", f"/channels/{ID}", self._r_channel),
            ("PATCH", f"/channels/{ID}", self._r_patch_channel),
            ("DELETE", f"/channels/{ID}", self._r_delete_channel),
            ("POST", f"/channels/{ID}/typing", self._r_typing),
        ]

    async def _r_channel(self, rec: RecordedRequest, body: JSON, files: Files, cid: str) -> JSON:
        return self.state.channel(int(cid))

    async def _r_patch_channel(self, rec: RecordedRequest, body: JSON, files: Files, cid: str) -> JSON:
        chan = self.state.channel(int(cid))
        is_thread = chan["type"] in THREAD_TYPES
        for key in EDITABLE:
            if key in body:
                chan[key] = body[key]
        if "available_tags" in body:
            for tag in chan["available_tags"]:
                tag.setdefault("id", str(make_snowflake()))
                tag["id"] = str(tag["id"])
        if is_thread:
            meta = chan["thread_metadata"]
            for key in EDITABLE_THREAD_METADATA:
                if key in body:
                    if key == "archived" and meta["archived"] != body[key]:
                        meta["archive_timestamp"] = iso()
                    meta[key] = body[key]
            await self.gateway.dispatch("THREAD_UPDATE", chan)
        else:
            await self.gateway.dispatch("CHANNEL_UPDATE", chan)
        return chan

    async def _r_delete_channel(self, rec: RecordedRequest, body: JSON, files: Files, cid: str) -> JSON:
        return await self.world.delete_channel(int(cid))

    async def _r_typing(self, rec: RecordedRequest, body: JSON, files: Files, cid: str) -> None:
        self.state.channel(int(cid))
        return None
