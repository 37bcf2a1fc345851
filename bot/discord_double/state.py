"""The world the double remembers: users, guilds, roles, members, channels, messages and commands.

Why this exists: one place holds everything Discord would know, as the plain dicts of its
JSON, so REST handlers, the gateway and tests all read and change the same objects. State
changes nothing on its own and sends nothing: :class:`~bot.discord_double.world.World`
changes it and tells the gateway, REST handlers answer from it.

It also renders what it holds the way Discord returns it: a stored message gains its
reaction counts and poll results over REST, and its ``guild_id`` and author ``member`` in
gateway events.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

from bot.discord_double import payloads
from bot.discord_double.protocol import (
    ADMINISTRATOR,
    ALL_PERMISSIONS,
    DEFAULT_EVERYONE_PERMISSIONS,
    DM,
    JSON,
    THREAD_TYPES,
)
from bot.discord_double.responses import unknown
from bot.discord_double.snowflakes import make_snowflake


class State:
    """Discord's objects, keyed by integer id, shaped like Discord's JSON."""

    def __init__(self, *, application_id: int, bot_user_id: int, bot_name: str, token: str | None,
                 base_url: Callable[[], str]) -> None:
        """``token``: the bot's token (None accepts any); ``base_url`` gives the server's URL, for attachment links."""
        self.application_id = application_id
        self.bot_user_id = bot_user_id
        self.token = token
        # The application's ``flags``; None follows the gateway: the privileged intents' _LIMITED
        # flags when they are enabled (an app in fewer than 100 servers), none when they are not.
        self.application_flags: int | None = None
        self._base_url = base_url

        self.users: dict[int, JSON] = {}
        self.guilds: dict[int, JSON] = {}
        self.roles: dict[int, list[JSON]] = {}
        self.members: dict[int, dict[int, JSON]] = {}
        self.channels: dict[int, JSON] = {}
        self.messages: dict[int, list[JSON]] = {}  # channel id -> messages, oldest first
        self.global_commands: list[JSON] = []
        self.guild_commands: dict[int, list[JSON]] = {}
        self.reactions: dict[tuple[int, str], list[int]] = {}  # (message_id, emoji key) -> user ids
        self.emoji_data: dict[str, JSON] = {}  # emoji key -> emoji object
        self.poll_votes: dict[int, dict[int, set[int]]] = {}  # message id -> answer id -> user ids
        self.dm_channels: dict[int, int] = {}  # recipient -> channel id
        self.attachments: dict[int, bytes] = {}  # attachment id -> uploaded bytes
        self.away_guilds: dict[int, bool] = {}  # guilds the bot is out of -> unavailable (an outage), not removed

        self.bot_user = self.make_user(bot_user_id, bot_name, bot=True)

    # ------------------------------------------------------------------ creating

    def make_user(self, user_id: int | None, name: str, *, bot: bool = False) -> JSON:
        uid = user_id or make_snowflake()
        user = payloads.user_payload(uid, name, bot=bot)
        self.users[uid] = user
        return user

    def user(self, user_id: int) -> JSON:
        """The user with this id, made up on the spot (named ``user<id>``) when unknown."""
        return self.users.get(user_id) or self.make_user(user_id, f"user{user_id}")

    def create_guild(self, name: str, guild_id: int | None, owner_id: int | None) -> JSON:
        """A guild with an @everyone role (id = guild id) whose members are the owner and the bot."""
        gid = guild_id or make_snowflake()
        owner = self.users.get(owner_id) if owner_id else None
        if owner is None:
            owner = self.make_user(owner_id, f"{name} Owner")
        guild = payloads.guild_payload(gid, name, owner["id"])
        self.guilds[gid] = guild
        self.roles[gid] = [payloads.role_payload("@everyone", DEFAULT_EVERYONE_PERMISSIONS, role_id=gid, position=0)]
        self.members[gid] = {}
        self.add_member(gid, owner, [])
        self.add_member(gid, self.bot_user, [])
        return guild

    def add_member(self, guild_id: int, user: JSON, role_ids: list[int], nick: str | None = None) -> JSON:
        member = payloads.member_payload(user, role_ids, nick)
        self.members[guild_id][int(user["id"])] = member
        return member

    def new_channel(self, guild_id: int, name: str, ctype: int, parent_id: int | None = None) -> JSON:
        """A channel placed after the guild's other channels (not stored yet)."""
        siblings = [c for c in self.channels.values()
                    if c.get("guild_id") == str(guild_id) and c["type"] not in THREAD_TYPES]
        return payloads.channel_payload(guild_id, name, ctype, position=len(siblings), parent_id=parent_id)

    def store_channel(self, channel: JSON) -> JSON:
        """Keep a channel or thread, with an empty history when it has none yet."""
        self.channels[int(channel["id"])] = channel
        self.messages.setdefault(int(channel["id"]), [])
        return channel

    def dm_channel(self, user_id: int) -> JSON:
        """The DM channel with a user, opened on first use (like ``POST /users/@me/channels``)."""
        cid = self.dm_channels.get(user_id)
        if cid is None:
            user = self.user(user_id)
            chan = {"id": str(make_snowflake()), "type": DM, "last_message_id": None, "flags": 0,
                    "recipients": [user], "recipient_ids": [user["id"]]}
            cid = int(chan["id"])
            self.channels[cid] = chan
            self.messages[cid] = []
            self.dm_channels[user_id] = cid
        return self.channels[cid]

    def attachment_url(self, attachment_id: int | str, filename: str) -> str:
        return f"{self._base_url()}/attachments/{attachment_id}/{filename}"

    # ------------------------------------------------------------------ looking up (404 like Discord)

    def guild(self, guild_id: int) -> JSON:
        try:
            return self.guilds[guild_id]
        except KeyError:
            raise unknown("Guild", 10004) from None

    def channel(self, channel_id: int) -> JSON:
        try:
            return self.channels[channel_id]
        except KeyError:
            raise unknown("Channel", 10003) from None

    def message(self, channel_id: int, message_id: int) -> JSON:
        for msg in self.messages.get(channel_id, []):
            if int(msg["id"]) == message_id:
                return msg
        raise unknown("Message", 10008)

    def find_message(self, message_id: int) -> JSON | None:
        """A stored message in any channel, or None."""
        for msgs in self.messages.values():
            for msg in msgs:
                if int(msg["id"]) == message_id:
                    return msg
        return None

    def channel_guild_id(self, channel_id: int) -> int | None:
        gid = self.channels.get(channel_id, {}).get("guild_id")
        return int(gid) if gid else None

    def is_away(self, guild_id: int | str | None) -> bool:
        """True when the bot is out of that guild (removed, or the guild is unavailable): nothing of it reaches it."""
        return bool(self.away_guilds) and guild_id is not None and int(guild_id) in self.away_guilds

    def member_permissions(self, guild_id: int, user_id: int) -> int:
        """Guild-level permissions: the owner and administrators have all; others the union of their roles."""
        guild = self.guild(guild_id)
        if str(user_id) == guild["owner_id"]:
            return ALL_PERMISSIONS
        member = self.members[guild_id].get(user_id)
        if member is None:
            return 0
        perms = 0
        role_ids = {str(guild_id), *member["roles"]}
        for role in self.roles[guild_id]:
            if role["id"] in role_ids:
                perms |= int(role["permissions"])
        return ALL_PERMISSIONS if perms & ADMINISTRATOR else perms

    # ------------------------------------------------------------------ rendering

    def guild_payload(self, guild_id: int, *, full: bool = True) -> JSON:
        """The guild as in GUILD_CREATE (``full``) or as REST GET /guilds/{id}."""
        gid = int(guild_id)
        guild = dict(self.guild(gid))
        guild["roles"] = copy.deepcopy(self.roles[gid])
        guild["approximate_member_count"] = len(self.members[gid])
        if not full:
            for key in ("joined_at", "large", "unavailable", "lazy"):
                guild.pop(key, None)
            return guild
        chans = [c for c in self.channels.values() if c.get("guild_id") == str(gid)]
        guild["channels"] = [c for c in chans if c["type"] not in THREAD_TYPES]
        guild["threads"] = [c for c in chans if c["type"] in THREAD_TYPES and not c["thread_metadata"]["archived"]]
        guild["members"] = list(self.members[gid].values())
        guild["member_count"] = len(self.members[gid])
        guild.update({"voice_states": [], "presences": [], "stage_instances": [], "guild_scheduled_events": [],
                      "soundboard_sounds": []})
        return copy.deepcopy(guild)

    def render_message(self, msg: JSON) -> JSON:
        """Message as Discord returns it over REST (reactions/poll results computed)."""
        out = copy.deepcopy({k: v for k, v in msg.items() if not k.startswith("_")})
        mid = int(msg["id"])
        reactions = []
        for key, users in self.reactions.items():
            if key[0] == mid and users:
                reactions.append({
                    "emoji": dict(self.emoji_data[key[1]]),
                    "count": len(users),
                    "count_details": {"burst": 0, "normal": len(users)},
                    "me": self.bot_user_id in users,
                    "me_burst": False,
                    "burst_colors": [],
                    "burst_count": 0,
                })
        if reactions:
            out["reactions"] = reactions
        if "poll" in out:
            votes = self.poll_votes.get(mid, {})
            out["poll"]["results"] = {
                "is_finalized": bool(msg.get("_poll_finalized")),
                "answer_counts": [
                    {"id": a["answer_id"], "count": len(votes.get(a["answer_id"], ())),
                     "me_voted": self.bot_user_id in votes.get(a["answer_id"], ())}
                    for a in out["poll"]["answers"]
                ],
            }
        return out

    def gateway_message(self, msg: JSON) -> JSON:
        """Message as in MESSAGE_CREATE/UPDATE: adds guild_id and member."""
        out = self.render_message(msg)
        gid = self.channel_guild_id(int(msg["channel_id"]))
        if gid is not None:
            out["guild_id"] = str(gid)
            member = self.members.get(gid, {}).get(int(msg["author"]["id"]))
            if member is not None and not msg.get("webhook_id"):
                out["member"] = {k: v for k, v in member.items() if k != "user"}
        return out

    def messages_in(self, channel_id: int) -> list[JSON]:
        """Stored history of a channel, oldest first (ephemeral messages are not stored)."""
        return [self.render_message(m) for m in self.messages.get(int(channel_id), [])]

    def get_message(self, channel_id: int, message_id: int) -> JSON:
        """One stored message, rendered as over REST."""
        return self.render_message(self.message(int(channel_id), int(message_id)))
