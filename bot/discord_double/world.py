"""Changes to the world that clients hear about: building a server, and what its members do.

Why this exists: a test (or the sandbox) sets up a guild, its channels and members, then acts
as those members: posts, edits, reacts, votes. Each change updates :class:`State` and sends
the gateway event Discord would send, in the shape discord.py expects. The REST handlers use
the same methods when the bot's own requests change the world (a reaction, a deletion), so a
change is told to clients one way only.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from bot.discord_double import payloads
from bot.discord_double.gateway import Gateway
from bot.discord_double.messages import Composer, attachment_from_test, emoji_key
from bot.discord_double.protocol import (
    FLAG_HAS_THREAD,
    FLAG_REQUIRE_TAG,
    GUILD_CATEGORY,
    GUILD_FORUM,
    GUILD_NEWS,
    GUILD_TEXT,
    JSON,
    NEWS_THREAD,
    PRIVATE_THREAD,
    PUBLIC_THREAD,
    THREAD_TYPES,
)
from bot.discord_double.responses import DiscordError
from bot.discord_double.snowflakes import iso, make_snowflake
from bot.discord_double.state import State


class World:
    """The test API for building a server and acting as its members; every change is dispatched."""

    def __init__(self, state: State, composer: Composer, gateway: Gateway) -> None:
        self.state = state
        self.composer = composer
        self.gateway = gateway

    def _with_guild_id(self, channel_id: int, data: JSON) -> JSON:
        """Add ``guild_id`` to an event about a guild channel (DM events have none)."""
        gid = self.state.channel_guild_id(channel_id)
        if gid:
            data["guild_id"] = str(gid)
        return data

    # ------------------------------------------------------------------ building the server

    def add_user(self, name: str = "user", *, user_id: int | None = None, bot: bool = False) -> JSON:
        """Create a user that is not (yet) in any guild (e.g. for DMs)."""
        return self.state.make_user(user_id, name, bot=bot)

    def add_guild(self, name: str = "Test Guild", *, guild_id: int | None = None, owner_id: int | None = None) -> JSON:
        """Create a guild with an @everyone role, an owner member and the bot as member.

        Returns the guild dict (no channels/members inside; see ``guild_payload``).
        Before the bot connects it is listed in READY (unavailable) and sent as
        GUILD_CREATE after READY.  When called while connected, GUILD_CREATE is
        dispatched (bot joins) ahead of any later dispatch.
        """
        guild = self.state.create_guild(name, guild_id, owner_id)
        self.gateway.guild_joined(int(guild["id"]))
        return guild

    async def announce_guild(self, guild_id: int) -> None:
        """(Re-)dispatch GUILD_CREATE with the current full guild state."""
        await self.gateway.dispatch("GUILD_CREATE", self.state.guild_payload(int(guild_id)))

    async def remove_bot_from_guild(self, guild_id: int, *, unavailable: bool = False) -> None:
        """The bot is removed from the guild (GUILD_DELETE), or the guild has an outage (``unavailable``).

        Until :meth:`return_bot_to_guild`, nothing of the guild reaches the bot: no events,
        no GUILD_CREATE on IDENTIFY (READY lists it unavailable during an outage, not at
        all once removed), and REST calls on its channels answer 403 Missing Access.
        """
        gid = int(guild_id)
        self.state.guild(gid)
        await self.gateway.dispatch("GUILD_DELETE", {"id": str(gid), **({"unavailable": True} if unavailable else {})})
        self.state.away_guilds[gid] = unavailable

    async def return_bot_to_guild(self, guild_id: int) -> None:
        """The bot is added back (GUILD_CREATE: ``guild_join``) or the outage ends (``guild_available``)."""
        gid = int(guild_id)
        unavailable = self.state.away_guilds.pop(gid)
        payload = self.state.guild_payload(gid)
        if not unavailable:
            del payload["unavailable"]  # no "unavailable" key = the bot joined
            payload["joined_at"] = self.state.guilds[gid]["joined_at"] = iso()
        await self.gateway.dispatch("GUILD_CREATE", payload)

    async def add_role(self, guild_id: int, name: str, permissions: int = 0, *, color: int = 0,
                       mentionable: bool = False, hoist: bool = False) -> JSON:
        """Add a role (dispatches GUILD_ROLE_CREATE when connected)."""
        gid = int(guild_id)
        role = payloads.role_payload(name, permissions, position=len(self.state.roles[gid]), color=color,
                                     mentionable=mentionable, hoist=hoist)
        self.state.roles[gid].append(role)
        await self.gateway.dispatch("GUILD_ROLE_CREATE", {"guild_id": str(gid), "role": role})
        return role

    async def add_member(self, guild_id: int, user_id: int | None = None, name: str = "member", *,
                         roles: list[int] | None = None, permissions: int | None = None, bot: bool = False,
                         nick: str | None = None) -> JSON:
        """Add a member; returns the member dict (``member["user"]["id"]`` is the id).

        ``permissions`` creates a dedicated role with those permission bits.
        Dispatches GUILD_MEMBER_ADD when connected (needs the members intent).
        """
        gid = int(guild_id)
        user = self.state.users.get(int(user_id)) if user_id else None
        if user is None:
            user = self.state.make_user(user_id, name, bot=bot)
        role_ids = [int(r) for r in roles or []]
        if permissions is not None:
            role = await self.add_role(gid, f"{name}-perms", permissions)
            role_ids.append(int(role["id"]))
        member = self.state.add_member(gid, user, role_ids, nick)
        await self.gateway.dispatch("GUILD_MEMBER_ADD", {**member, "guild_id": str(gid)})
        return member

    async def add_text_channel(self, guild_id: int, name: str, *, topic: str | None = None,
                               parent_id: int | None = None, news: bool = False,
                               permission_overwrites: list[JSON] | None = None) -> JSON:
        """Add a text (or announcement) channel; CHANNEL_CREATE when connected."""
        chan = self.state.new_channel(int(guild_id), name, GUILD_NEWS if news else GUILD_TEXT, parent_id)
        chan["topic"] = topic
        chan["permission_overwrites"] = permission_overwrites or []
        return await self._add_channel(chan)

    async def add_category(self, guild_id: int, name: str) -> JSON:
        return await self._add_channel(self.state.new_channel(int(guild_id), name, GUILD_CATEGORY))

    async def add_forum_channel(self, guild_id: int, name: str, tags: list[str | JSON] | None = None, *,
                                parent_id: int | None = None, require_tag: bool = False) -> JSON:
        """Add a forum channel; ``tags`` are names or tag dicts. Tag ids are generated."""
        chan = self.state.new_channel(int(guild_id), name, GUILD_FORUM, parent_id)
        chan.update({
            "available_tags": [payloads.forum_tag_payload(tag) for tag in tags or []],
            "default_reaction_emoji": None,
            "default_sort_order": None,
            "default_forum_layout": 0,
            "flags": FLAG_REQUIRE_TAG if require_tag else 0,
        })
        return await self._add_channel(chan)

    async def _add_channel(self, chan: JSON) -> JSON:
        self.state.store_channel(chan)
        await self.gateway.dispatch("CHANNEL_CREATE", chan)
        return chan

    async def delete_channel(self, channel_id: int) -> JSON:
        """Staff delete a channel or thread (CHANNEL_DELETE / THREAD_DELETE); its messages go with it."""
        chan = self.state.channels.pop(int(self.state.channel(int(channel_id))["id"]))
        self.state.messages.pop(int(channel_id), None)
        if chan["type"] in THREAD_TYPES:
            await self.gateway.dispatch("THREAD_DELETE", {k: chan[k] for k in ("id", "guild_id", "parent_id", "type")})
        else:
            await self.gateway.dispatch("CHANNEL_DELETE", chan)
        return chan

    async def add_thread(self, channel_id: int, name: str, *, owner_id: int | None = None,
                         message_id: int | None = None, private: bool = False, archived: bool = False,
                         locked: bool = False, applied_tags: list[Any] | None = None,
                         starter_content: str | None = None) -> JSON:
        """Add a thread under a text/forum channel, created by a member (THREAD_CREATE when connected).

        For forum channels a starter message (``starter_content``, default the
        name) is stored with the thread's id, like Discord does.
        """
        parent = self.state.channel(int(channel_id))
        owner = int(owner_id or (parent and self.state.guilds[int(parent["guild_id"])]["owner_id"]))
        ctype = PRIVATE_THREAD if private else (NEWS_THREAD if parent["type"] == GUILD_NEWS else PUBLIC_THREAD)
        thread = payloads.thread_payload(parent, name, owner, thread_id=message_id, ctype=ctype,
                                         applied_tags=applied_tags)
        thread["thread_metadata"]["archived"] = archived
        thread["thread_metadata"]["locked"] = locked
        tid = int(thread["id"])
        self.state.store_channel(thread)
        if message_id is not None:
            self.mark_message_thread(int(channel_id), message_id, thread)
        await self.gateway.dispatch("THREAD_CREATE", {**thread, "newly_created": True})
        if parent["type"] == GUILD_FORUM:
            await self.post_message(tid, owner, starter_content or name, message_id=tid)
        return thread

    def mark_message_thread(self, channel_id: int, message_id: int, thread: JSON) -> None:
        """The message a thread was started from shows the thread (and the HAS_THREAD flag)."""
        try:
            msg = self.state.message(channel_id, message_id)
        except DiscordError:
            return
        msg["thread"] = thread
        msg["flags"] = msg.get("flags", 0) | FLAG_HAS_THREAD

    # ------------------------------------------------------------------ messages

    async def store_and_dispatch(self, msg: JSON, *, dispatch: bool = True) -> JSON:
        """Keep a new message in its channel's history (in id order) and send MESSAGE_CREATE."""
        state = self.state
        cid = int(msg["channel_id"])
        state.messages.setdefault(cid, []).append(msg)
        state.messages[cid].sort(key=lambda m: int(m["id"]))
        chan = state.channels.get(cid)
        if chan is not None:
            chan["last_message_id"] = max(chan.get("last_message_id") or "0", msg["id"], key=int)
            if chan["type"] in THREAD_TYPES:
                chan["message_count"] += 1
                chan["total_message_sent"] += 1
        if dispatch:
            await self.gateway.dispatch("MESSAGE_CREATE", state.gateway_message(msg))
        return msg

    async def unarchive_for_post(self, channel_id: int) -> None:
        """Posting in an archived thread unarchives it, unless it is locked (then Discord refuses)."""
        chan = self.state.channel(channel_id)
        if chan["type"] in THREAD_TYPES and chan["thread_metadata"]["archived"]:
            if chan["thread_metadata"]["locked"]:
                raise DiscordError(400, 50083, "Thread is archived")
            chan["thread_metadata"]["archived"] = False
            chan["thread_metadata"]["archive_timestamp"] = iso()
            await self.gateway.dispatch("THREAD_UPDATE", chan)

    async def post_message(self, channel_id: int, author_id: int, content: str = "", *,
                           reference: int | JSON | None = None, attachments: list[JSON] | None = None,
                           embeds: list[JSON] | None = None, dispatch: bool = True,
                           message_id: int | None = None, at: dt.datetime | None = None,
                           webhook_id: int | None = None) -> JSON:
        """A member posts a message (MESSAGE_CREATE unless ``dispatch=False``).

        ``reference``: message id (same channel) or a message_reference dict.
        ``attachments``: dicts with at least ``filename`` (``size``, ``content_type``, ``url`` optional).
        ``at``: backdate the message (its id is derived from the time, so history ordering stays right).
        ``webhook_id``: the message comes through a webhook (another integration's, or a blog mirror).
        """
        cid = int(channel_id)
        self.state.channel(cid)
        author = self.state.user(int(author_id))
        payload: JSON = {"content": content, "embeds": embeds or []}
        if reference is not None:
            payload["message_reference"] = reference if isinstance(reference, dict) else {"message_id": reference}
        if message_id is None and at is not None:
            message_id = make_snowflake(at.timestamp())
        msg = self.composer.compose(cid, author, payload, message_id=message_id, webhook_id=webhook_id, validate=False)
        if at is not None:
            msg["timestamp"] = iso(at)
        for att in attachments or []:
            msg["attachments"].append(attachment_from_test(self.state, att))
        return await self.store_and_dispatch(msg, dispatch=dispatch)

    async def edit_message(self, channel_id: int, message_id: int, content: str) -> JSON:
        """A member edits their message (MESSAGE_UPDATE with the full message, as Discord sends today).

        discord.py 2.7 builds a Message from every MESSAGE_UPDATE, so the older
        partial shape (no ``type`` or ``author``) would crash the client's
        gateway reader; real Discord no longer sends it.
        """
        msg = self.state.message(int(channel_id), int(message_id))
        msg["content"] = content
        msg["edited_timestamp"] = iso()
        await self.gateway.dispatch("MESSAGE_UPDATE", self.state.gateway_message(msg))
        return msg

    async def delete_message(self, channel_id: int, message_id: int) -> None:
        """A message disappears (MESSAGE_DELETE)."""
        cid, mid = int(channel_id), int(message_id)
        msg = self.state.message(cid, mid)
        self.state.messages[cid].remove(msg)
        data: JSON = {"id": str(mid), "channel_id": str(cid)}
        await self.gateway.dispatch("MESSAGE_DELETE", self._with_guild_id(cid, data))

    async def bulk_delete(self, channel_id: int, message_ids: list[int]) -> None:
        """MESSAGE_DELETE_BULK for several messages."""
        cid = int(channel_id)
        ids = {int(m) for m in message_ids}
        self.state.messages[cid] = [m for m in self.state.messages.get(cid, []) if int(m["id"]) not in ids]
        data: JSON = {"ids": [str(i) for i in ids], "channel_id": str(cid)}
        await self.gateway.dispatch("MESSAGE_DELETE_BULK", self._with_guild_id(cid, data))

    # ------------------------------------------------------------------ reactions

    def _reaction_event(self, cid: int, mid: int, uid: int, emoji: JSON) -> JSON:
        data: JSON = {"user_id": str(uid), "channel_id": str(cid), "message_id": str(mid), "emoji": emoji,
                      "burst": False, "type": 0}
        return self._with_guild_id(cid, data)

    async def add_reaction(self, channel_id: int, message_id: int, user_id: int, emoji: str | JSON) -> None:
        """A member reacts (MESSAGE_REACTION_ADD, with member and message_author_id)."""
        cid, mid, uid = int(channel_id), int(message_id), int(user_id)
        msg = self.state.message(cid, mid)
        key, data = emoji_key(emoji)
        self.state.emoji_data[key] = data
        users = self.state.reactions.setdefault((mid, key), [])
        if uid in users:
            return
        users.append(uid)
        event = self._reaction_event(cid, mid, uid, data)
        event["message_author_id"] = msg["author"]["id"]
        gid = self.state.channel_guild_id(cid)
        if gid and uid in self.state.members.get(gid, {}):
            event["member"] = self.state.members[gid][uid]
        await self.gateway.dispatch("MESSAGE_REACTION_ADD", event)

    async def remove_reaction(self, channel_id: int, message_id: int, user_id: int, emoji: str | JSON) -> None:
        """A member removes a reaction (MESSAGE_REACTION_REMOVE)."""
        cid, mid, uid = int(channel_id), int(message_id), int(user_id)
        key, data = emoji_key(emoji)
        users = self.state.reactions.get((mid, key), [])
        if uid in users:
            users.remove(uid)
            await self.gateway.dispatch("MESSAGE_REACTION_REMOVE", self._reaction_event(cid, mid, uid, data))

    async def clear_reactions(self, channel_id: int, message_id: int, emoji: str | JSON | None = None) -> None:
        """Remove every reaction (MESSAGE_REACTION_REMOVE_ALL), or one emoji's (..._REMOVE_EMOJI)."""
        cid, mid = int(channel_id), int(message_id)
        event: JSON = {"channel_id": str(cid), "message_id": str(mid)}
        if emoji is None:
            for key in [k for k in self.state.reactions if k[0] == mid]:
                del self.state.reactions[key]
            await self.gateway.dispatch("MESSAGE_REACTION_REMOVE_ALL", self._with_guild_id(cid, event))
            return
        key, data = emoji_key(emoji)
        self.state.reactions.pop((mid, key), None)
        event["emoji"] = data
        await self.gateway.dispatch("MESSAGE_REACTION_REMOVE_EMOJI", self._with_guild_id(cid, event))

    def reactions_on(self, message_id: int) -> dict[str, list[int]]:
        """emoji key -> user ids currently reacting."""
        return {k[1]: list(v) for k, v in self.state.reactions.items() if k[0] == int(message_id) and v}

    # ------------------------------------------------------------------ polls

    async def poll_vote(self, channel_id: int, message_id: int, user_id: int, answer_id: int, add: bool = True) -> None:
        """A member votes/unvotes (MESSAGE_POLL_VOTE_ADD / _REMOVE)."""
        cid, mid, uid = int(channel_id), int(message_id), int(user_id)
        msg = self.state.message(cid, mid)
        if "poll" not in msg:
            raise ValueError("message has no poll")
        if msg.get("_poll_finalized"):
            raise ValueError("poll already ended")
        votes = self.state.poll_votes.setdefault(mid, {})
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
        await self.gateway.dispatch("MESSAGE_POLL_VOTE_ADD" if add else "MESSAGE_POLL_VOTE_REMOVE",
                                    self._with_guild_id(cid, data))

    def poll_voters(self, message_id: int, answer_id: int) -> list[int]:
        return sorted(self.state.poll_votes.get(int(message_id), {}).get(int(answer_id), set()))

    async def end_poll(self, channel_id: int, message_id: int) -> JSON:
        """Finalize a poll: MESSAGE_UPDATE with results.is_finalized = true."""
        msg = self.state.message(int(channel_id), int(message_id))
        msg["_poll_finalized"] = True
        msg["poll"]["expiry"] = iso()
        rendered = self.state.gateway_message(msg)
        await self.gateway.dispatch("MESSAGE_UPDATE", rendered)
        return rendered
