"""Threads the bot opens: from a message, on its own (private), or as a forum post; archived lists.

Why this exists: every review Matinee announces gets a "What did you think?" thread, in a
text channel from the announcement or as a forum post with tags. Discord's rules are kept:
one thread per message, a forum post needs a starter message and known tags (a required tag
when the forum says so), and the thread's id is the starting message's id.
"""

from __future__ import annotations

from bot.discord_double import payloads
from bot.discord_double.protocol import (
    FLAG_REQUIRE_TAG,
    GUILD_FORUM,
    GUILD_NEWS,
    GUILD_TEXT,
    JSON,
    NEWS_THREAD,
    PRIVATE_THREAD,
    PUBLIC_THREAD,
    THREAD_TYPES,
)
from bot.discord_double.recording import Files, RecordedRequest
from bot.discord_double.responses import DiscordError, invalid_form
from bot.discord_double.rest import ID, RouteSpec
from bot.discord_double.routes.base import Resource


class ThreadRoutes(Resource):
    def routes(self) -> list[RouteSpec]:
        return [
            ("GET", f"/channels/{ID}/threads/archived/public", self._r_archived_threads),
            ("GET", f"/channels/{ID}/threads/archived/private", self._r_archived_threads),
            ("POST", f"/channels/{ID}/messages/{ID}/threads", self._r_thread_from_message),
            ("POST", f"/channels/{ID}/threads", self._r_thread_without_message),
            ("PUT", f"/channels/{ID}/thread-members/@me", self._r_no_content),
            ("DELETE", f"/channels/{ID}/thread-members/@me", self._r_no_content),
        ]

    def _open(self, thread: JSON) -> JSON:
        """Keep a thread the bot created, the bot as its member."""
        thread["member"] = payloads.thread_member_payload(thread, self.state.bot_user_id)
        return self.state.store_channel(thread)

    async def _r_thread_from_message(self, rec: RecordedRequest, body: JSON, files: Files, cid: str,
                                     mid: str) -> JSON:
        parent = self.state.channel(int(cid))
        if parent["type"] not in (GUILD_TEXT, GUILD_NEWS):
            raise DiscordError(400, 50024, "Cannot execute action on this channel type")
        msg = self.state.message(int(cid), int(mid))
        if msg.get("thread"):
            raise DiscordError(400, 160004, "A thread has already been created for this message")
        ctype = NEWS_THREAD if parent["type"] == GUILD_NEWS else PUBLIC_THREAD
        thread = payloads.thread_payload(parent, body.get("name", ""), self.state.bot_user_id, thread_id=int(mid),
                                         ctype=ctype,
                                         auto_archive_duration=int(body.get("auto_archive_duration") or 1440))
        if body.get("rate_limit_per_user"):
            thread["rate_limit_per_user"] = body["rate_limit_per_user"]
        self._open(thread)
        self.world.mark_message_thread(int(cid), int(mid), thread)
        await self.gateway.dispatch("THREAD_CREATE", {**thread, "newly_created": True})
        return thread

    async def _r_thread_without_message(self, rec: RecordedRequest, body: JSON, files: Files,
                                        cid: str) -> JSON:
        parent = self.state.channel(int(cid))
        if parent["type"] == GUILD_FORUM:
            return await self._forum_post(parent, body, files)
        if parent["type"] not in (GUILD_TEXT, GUILD_NEWS):
            raise DiscordError(400, 50024, "Cannot execute action on this channel type")
        ctype = int(body.get("type") or PRIVATE_THREAD)
        thread = payloads.thread_payload(parent, body.get("name", ""), self.state.bot_user_id, ctype=ctype,
                                         auto_archive_duration=int(body.get("auto_archive_duration") or 1440),
                                         invitable=body.get("invitable", True))
        if body.get("rate_limit_per_user"):
            thread["rate_limit_per_user"] = body["rate_limit_per_user"]
        self._open(thread)
        await self.gateway.dispatch("THREAD_CREATE", {**thread, "newly_created": True})
        return thread

    async def _forum_post(self, forum: JSON, body: JSON, files: Files) -> JSON:
        """A forum post: the thread and its starter message (same id), answered together."""
        starter = body.get("message")
        if not starter:
            raise invalid_form("message", "BASE_TYPE_REQUIRED", "This field is required")
        tags = [str(t) for t in body.get("applied_tags") or []]
        known = {t["id"] for t in forum.get("available_tags", [])}
        if any(t not in known for t in tags):
            raise invalid_form("applied_tags", "INVALID_TAG", "Unknown tag")
        if forum.get("flags", 0) & FLAG_REQUIRE_TAG and not tags:
            raise DiscordError(400, 40067, "A tag is required to create a forum post in this channel")
        thread = payloads.thread_payload(forum, body.get("name", ""), self.state.bot_user_id,
                                         auto_archive_duration=int(body.get("auto_archive_duration") or 4320),
                                         applied_tags=tags)
        tid = int(thread["id"])
        msg = self.composer.compose(tid, self.state.bot_user, starter, files=files, message_id=tid)
        self._open(thread)
        await self.gateway.dispatch("THREAD_CREATE", {**thread, "newly_created": True})
        await self.world.store_and_dispatch(msg)
        forum["last_message_id"] = str(tid)
        return {**thread, "message": self.state.render_message(msg)}

    async def _r_archived_threads(self, rec: RecordedRequest, body: JSON, files: Files, cid: str) -> JSON:
        self.state.channel(int(cid))
        private = rec.path.endswith("/private")
        threads = [c for c in self.state.channels.values() if c.get("parent_id") == cid and c["type"] in THREAD_TYPES
                   and c["thread_metadata"]["archived"] and (c["type"] == PRIVATE_THREAD) == private]
        threads.sort(key=lambda c: c["thread_metadata"]["archive_timestamp"], reverse=True)
        before = rec.query.get("before")
        if before:
            threads = [t for t in threads if t["thread_metadata"]["archive_timestamp"] < before]
        limit = int(rec.query.get("limit", 50))
        return {"threads": threads[:limit], "members": [], "has_more": len(threads) > limit}

    async def _r_no_content(self, rec: RecordedRequest, body: JSON, files: Files, cid: str) -> None:
        self.state.channel(int(cid))
        return None
