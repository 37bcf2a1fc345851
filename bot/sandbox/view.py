"""The world as the sandbox's page sees it: channels, messages, members and commands as JSON.

Why this exists: the page is a Discord client, so it gets Discord's own shapes (a message is
the message JSON the double would return over REST), plus the few things Discord's client
knows from elsewhere and a bot never sees: who voted for each poll answer, who reacted with
each emoji, which command a response answers, and which ephemeral answers belong to whom.
Those extras travel under one key, ``sandbox``, so the rest stays exactly Discord's.
"""

from __future__ import annotations

from bot.discord_double import DiscordDouble
from bot.discord_double.messages import emoji_key
from bot.discord_double.protocol import (
    FLAG_EPHEMERAL,
    GUILD_CATEGORY,
    GUILD_FORUM,
    GUILD_NEWS,
    GUILD_TEXT,
    JSON,
    THREAD_TYPES,
)

from .world import SandboxWorld

__all__ = ["WorldView", "command_entries"]

CHANNEL_TYPES = {GUILD_TEXT, GUILD_NEWS, GUILD_FORUM, GUILD_CATEGORY} | THREAD_TYPES
SUB_COMMAND, SUB_COMMAND_GROUP = 1, 2
CHAT_INPUT, MESSAGE_COMMAND = 1, 3
BOT_NAME = "Matinee"
HISTORY = 200  # messages a channel shows; the sandbox's channels stay short


def command_entries(commands: list[JSON]) -> list[JSON]:
    """Slash commands as the picker lists them: one entry per subcommand ("matinee feed add"), then message apps."""
    entries: list[JSON] = []

    def walk(prefix: str, options: list[JSON], command: JSON, description: str) -> None:
        subs = [o for o in options if o.get("type") in (SUB_COMMAND, SUB_COMMAND_GROUP)]
        if not subs:
            entries.append({
                "name": prefix,
                "type": CHAT_INPUT,
                "description": description,
                "options": [_option(o) for o in options],
                "default_member_permissions": command.get("default_member_permissions"),
            })
            return
        for sub in subs:
            walk(f"{prefix} {sub['name']}", sub.get("options") or [], command, sub.get("description") or "")

    for command in commands:
        ctype = command.get("type", CHAT_INPUT)
        if ctype == CHAT_INPUT:
            walk(command["name"], command.get("options") or [], command, command.get("description") or "")
        elif ctype == MESSAGE_COMMAND:
            entries.append({"name": command["name"], "type": MESSAGE_COMMAND, "description": "",
                            "options": [], "default_member_permissions": command.get("default_member_permissions")})
    return sorted(entries, key=lambda e: (e["type"], e["name"]))


def _option(option: JSON) -> JSON:
    keep = ("name", "description", "type", "required", "choices", "autocomplete", "min_value", "max_value",
            "min_length", "max_length", "channel_types")
    return {k: option[k] for k in keep if k in option}


class WorldView:
    """Reads the double for the page; holds the ephemeral answers each person has been shown."""

    def __init__(self, double: DiscordDouble, world: SandboxWorld) -> None:
        self.double = double
        self.world = world
        self._ephemeral: dict[int, tuple[int, JSON]] = {}  # message id -> (who sees it, message)

    # -- people

    def person(self, user_id: int) -> JSON:
        user = self.double.users[user_id]
        return {
            "id": user["id"],
            "name": BOT_NAME if user.get("bot") and user_id == self.double.bot_user_id else (
                user.get("global_name") or user["username"]),
            "username": user["username"],
            "bot": bool(user.get("bot")),
            "owner": user_id == self.world.owner_id,
            "permissions": str(self.double.member_permissions(self.world.guild_id, user_id)),
        }

    def members(self) -> list[JSON]:
        return [self.person(int(uid)) for uid in self.double.members[self.world.guild_id]]

    # -- channels

    def channel(self, channel: JSON) -> JSON:
        meta = channel.get("thread_metadata") or {}
        return {
            "id": channel["id"],
            "name": channel.get("name") or "",
            "type": channel["type"],
            "parent_id": channel.get("parent_id"),
            "topic": channel.get("topic"),
            "position": channel.get("position", 0),
            "archived": bool(meta.get("archived")),
            "locked": bool(meta.get("locked")),
            "message_count": channel.get("message_count"),
            "link": self._thread_link(channel),
        }

    def _thread_link(self, channel: JSON) -> str | None:
        """Where a thread's review lives: the link of the announcement it was started from."""
        if channel["type"] not in THREAD_TYPES:
            return None
        starter = self.double.find_message(int(channel["id"]))
        embeds = (starter or {}).get("embeds") or []
        return embeds[0].get("url") if embeds else None

    def channels(self) -> list[JSON]:
        guild = str(self.world.guild_id)
        found = [c for c in self.double.channels.values() if c.get("guild_id") == guild and c["type"] in CHANNEL_TYPES]
        return [self.channel(c) for c in sorted(found, key=lambda c: (c.get("position", 0), int(c["id"])))]

    def is_guild_channel(self, channel_id: int) -> bool:
        channel = self.double.channels.get(channel_id)
        return channel is not None and channel.get("guild_id") == str(self.world.guild_id)

    # -- messages

    def message(self, message: JSON, *, for_user: int | None = None) -> JSON:
        """A rendered message plus the ``sandbox`` extras (voters, reactors, the command it answers)."""
        out = dict(message)
        mid = int(message["id"])
        extras: JSON = {}
        if "poll" in message:
            extras["poll_voters"] = {
                str(a["answer_id"]): [str(u) for u in self.double.poll_voters(mid, a["answer_id"])]
                for a in message["poll"]["answers"]
            }
        reactors = self.double.reactions_on(mid)
        if reactors:
            extras["reaction_users"] = {key: [str(u) for u in users] for key, users in reactors.items()}
            for reaction in out.get("reactions") or []:
                reaction["key"] = emoji_key(reaction["emoji"])[0]
        command = self._command_label(message)
        if command:
            extras["command"] = command
        if for_user is not None:
            extras["only_for"] = str(for_user)
        out["sandbox"] = extras
        return out

    def _command_label(self, message: JSON) -> str | None:
        """ "/matinee feed add" for a response to that command (Discord shows who used which command)."""
        meta = message.get("interaction_metadata") or {}
        record = self.double.interactions.get(int(meta["id"])) if meta.get("id") else None
        if record is None or record.type != 2:
            return None
        data = record.payload.get("data") or {}
        parts = [data.get("name", "")]
        options = data.get("options") or []
        while options and options[0].get("type") in (SUB_COMMAND, SUB_COMMAND_GROUP):
            parts.append(options[0]["name"])
            options = options[0].get("options") or []
        prefix = "/" if data.get("type", CHAT_INPUT) == CHAT_INPUT else ""
        return prefix + " ".join(p for p in parts if p)

    def messages(self, channel_id: int, *, for_user: int | None) -> list[JSON]:
        """A channel's latest messages, oldest first, with the ephemeral answers ``for_user`` was shown."""
        shown = [self.message(m) for m in self.double.messages_in(channel_id)[-HISTORY:]]
        if for_user is not None:
            shown += [self.message(m, for_user=uid) for uid, m in self._ephemeral.values()
                      if uid == for_user and m["channel_id"] == str(channel_id)]
            shown.sort(key=lambda m: int(m["id"]))
        return shown

    def find(self, message_id: int) -> JSON | None:
        """A message in any channel, or an ephemeral answer; rendered with its extras."""
        found = self.double.find_message(message_id)
        if found is None:
            return None
        held = self._ephemeral.get(message_id)
        return self.message(found, for_user=held[0] if held else None)

    def keep_ephemeral(self, user_id: int, message: JSON) -> JSON:
        """Remember an ephemeral answer (Discord's client keeps them until reload; the sandbox until exit)."""
        rendered = self.double.find_message(int(message["id"])) or message
        self._ephemeral[int(message["id"])] = (user_id, rendered)
        return self.message(rendered, for_user=user_id)

    def forget_ephemeral(self, message_id: int) -> tuple[int, JSON] | None:
        return self._ephemeral.pop(message_id, None)

    def is_ephemeral(self, message: JSON) -> bool:
        return bool(message.get("flags", 0) & FLAG_EPHEMERAL)

    # -- commands

    def commands(self) -> list[JSON]:
        guild_commands = self.double.guild_commands.get(self.world.guild_id, [])
        return command_entries([*self.double.global_commands, *guild_commands])

    def roles(self) -> list[JSON]:
        """The server's roles, except @everyone (its id is the server's)."""
        roles = self.double.guild_payload(self.world.guild_id)["roles"]
        return [{"id": r["id"], "name": r["name"]} for r in roles if r["id"] != str(self.world.guild_id)]

    def snapshot(self) -> JSON:
        """Everything the page needs to draw itself, except messages (fetched per channel)."""
        bot = self.double.bot_user
        return {
            "guild": {"id": str(self.world.guild_id), "name": self.double.guilds[self.world.guild_id]["name"]},
            "bot": {"id": bot["id"], "name": BOT_NAME},
            "people": [self.person(uid) for uid in self.world.people],
            "members": self.members(),
            "channels": self.channels(),
            "commands": self.commands(),
            "roles": self.roles(),
            "cdn": self.double.base_url,
            "default_channel_id": str(self.world.reviews_channel_id),
        }
