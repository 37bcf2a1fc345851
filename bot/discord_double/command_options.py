"""Application command data as Discord builds it: the option tree and the ``resolved`` objects.

Why this exists: a test names a command and gives plain values (``{"film": "Heat", "by":
member_id}``); Discord would send typed options, nested under subcommands, with the users,
members, roles, channels and attachments they point at resolved in full. The types come from
the commands the bot synced, so a command that declares an option wrongly fails in tests.
"""

from __future__ import annotations

from typing import Any

from bot.discord_double.protocol import ALL_PERMISSIONS, JSON
from bot.discord_double.snowflakes import make_snowflake
from bot.discord_double.state import State

# Option types
SUB_COMMAND, SUB_COMMAND_GROUP, STRING, INTEGER, BOOLEAN = 1, 2, 3, 4, 5
USER, CHANNEL, ROLE, MENTIONABLE, NUMBER, ATTACHMENT = 6, 7, 8, 9, 10, 11
# Command types
CHAT_INPUT, USER_COMMAND, MESSAGE_COMMAND = 1, 2, 3


def find_command(state: State, name: str, guild_id: int | None, ctype: int) -> JSON | None:
    """The synced command by name: the guild's first, then global ones."""
    pools = ([state.guild_commands.get(guild_id, [])] if guild_id else []) + [state.global_commands]
    for pool in pools:
        for cmd in pool:
            if cmd["name"] == name and cmd.get("type", CHAT_INPUT) == ctype:
                return cmd
    return None


def infer_option_type(value: Any) -> int:
    """The option type of a value given for an option the synced command does not declare."""
    if isinstance(value, bool):
        return BOOLEAN
    if isinstance(value, int):
        return INTEGER
    if isinstance(value, float):
        return NUMBER
    return STRING


def command_data(state: State, name: str, guild_id: int | None, options: dict[str, Any] | list[JSON] | None,
                 ctype: int = CHAT_INPUT, focused: str | None = None, target_id: int | None = None,
                 command_guild_id: int | None = None) -> JSON:
    """The ``data`` of a command interaction: ``name`` may be ``"group sub"``; ``focused`` marks autocomplete."""
    parts = name.split() if ctype == CHAT_INPUT else [name]  # context-menu names may contain spaces
    cmd = find_command(state, parts[0], command_guild_id or guild_id, ctype)
    resolved: JSON = {}
    spec_options: list[JSON] = (cmd or {}).get("options", [])
    path_opts: list[JSON] = []
    container = path_opts
    for sub in parts[1:]:
        spec = next((o for o in spec_options if o["name"] == sub), None)
        stype = spec["type"] if spec else (SUB_COMMAND_GROUP if sub != parts[-1] else SUB_COMMAND)
        node: JSON = {"name": sub, "type": stype, "options": []}
        container.append(node)
        container = node["options"]
        spec_options = (spec or {}).get("options", [])
    container.extend(build_options(state, spec_options, options or {}, resolved, guild_id, focused))
    data: JSON = {
        "id": (cmd or {}).get("id") or str(make_snowflake()),
        "name": parts[0],
        "type": ctype,
    }
    if path_opts:
        data["options"] = path_opts
    elif container:
        data["options"] = container
    cmd_gid = command_guild_id or (cmd or {}).get("guild_id")
    if cmd_gid:
        data["guild_id"] = str(cmd_gid)
    if target_id is not None:
        data["target_id"] = str(target_id)
        if ctype == USER_COMMAND:
            resolve_value(state, USER, target_id, resolved, guild_id)
        else:
            msg = state.find_message(int(target_id))
            if msg is not None:
                resolved["messages"] = {msg["id"]: state.render_message(msg)}
    if resolved:
        data["resolved"] = resolved
    return data


def build_options(state: State, spec_options: list[JSON], values: dict[str, Any] | list[JSON], resolved: JSON,
                  guild_id: int | None, focused: str | None = None) -> list[JSON]:
    """Typed options from plain values (a list of raw option dicts is passed through)."""
    if isinstance(values, list):
        return values
    out = []
    for name, value in values.items():
        spec = next((o for o in spec_options if o["name"] == name), None)
        otype = spec["type"] if spec else infer_option_type(value)
        opt: JSON = {"name": name, "type": otype}
        if focused == name:
            opt["value"] = str(value)
            opt["focused"] = True
        else:
            opt["value"] = resolve_value(state, otype, value, resolved, guild_id)
        out.append(opt)
    return out


def resolve_value(state: State, otype: int, value: Any, resolved: JSON, guild_id: int | None) -> Any:
    """Fill ``resolved`` for user/channel/role/mentionable/attachment options; return the option's value."""
    if otype in (USER, MENTIONABLE) and int(value) in state.users:
        uid = int(value)
        resolved.setdefault("users", {})[str(uid)] = state.users[uid]
        if guild_id and uid in state.members.get(guild_id, {}):
            m = state.members[guild_id][uid]
            resolved.setdefault("members", {})[str(uid)] = {
                **{k: v for k, v in m.items() if k != "user"},
                "permissions": str(state.member_permissions(guild_id, uid))}
        return str(uid)
    if otype in (ROLE, MENTIONABLE) and guild_id:
        role = next((r for r in state.roles[guild_id] if r["id"] == str(value)), None)
        if role is not None:
            resolved.setdefault("roles", {})[role["id"]] = role
            return role["id"]
    if otype == CHANNEL:
        chan = state.channel(int(value))
        entry = {k: chan[k] for k in ("id", "name", "type") if k in chan}
        entry["permissions"] = str(ALL_PERMISSIONS)
        for k in ("parent_id", "thread_metadata", "guild_id"):
            if k in chan:
                entry[k] = chan[k]
        resolved.setdefault("channels", {})[chan["id"]] = entry
        return chan["id"]
    if otype == ATTACHMENT:
        att = dict(value) if isinstance(value, dict) else {"filename": str(value)}
        aid = str(att.pop("id", None) or make_snowflake())
        url = state.attachment_url(aid, att["filename"])
        resolved.setdefault("attachments", {})[aid] = {"id": aid, "url": url, "proxy_url": url, "size": 0,
                                                       "content_type": "application/octet-stream", **att}
        return aid
    return str(value) if otype in (USER, CHANNEL, ROLE, MENTIONABLE) else value
