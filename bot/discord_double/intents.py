"""Which dispatches a session may see, and how much of them, given the intents it identified with.

Why this exists: Discord sends an event only to sessions with the intent it needs, and blanks
message content without the MESSAGE_CONTENT intent. The double does the same, so a bot that
forgets an intent fails in tests the way it would fail in production.
"""

from __future__ import annotations

from bot.discord_double.protocol import (
    INTENT_DIRECT_MESSAGE_POLLS,
    INTENT_DIRECT_MESSAGE_REACTIONS,
    INTENT_DIRECT_MESSAGES,
    INTENT_GUILD_MEMBERS,
    INTENT_GUILD_MESSAGE_POLLS,
    INTENT_GUILD_MESSAGE_REACTIONS,
    INTENT_GUILD_MESSAGE_TYPING,
    INTENT_GUILD_MESSAGES,
    INTENT_GUILD_PRESENCES,
    INTENT_GUILDS,
    INTENT_MESSAGE_CONTENT,
    JSON,
)


def intent_for(event: str, data: JSON) -> int | None:
    """Intent required for a dispatch (None: always delivered)."""
    guild = bool(data.get("guild_id"))
    if event.startswith("MESSAGE_REACTION"):
        return INTENT_GUILD_MESSAGE_REACTIONS if guild else INTENT_DIRECT_MESSAGE_REACTIONS
    if event.startswith("MESSAGE_POLL_VOTE"):
        return INTENT_GUILD_MESSAGE_POLLS if guild else INTENT_DIRECT_MESSAGE_POLLS
    if event.startswith("MESSAGE_"):
        return INTENT_GUILD_MESSAGES if guild else INTENT_DIRECT_MESSAGES
    if event.startswith("GUILD_MEMBER"):
        return INTENT_GUILD_MEMBERS
    if event.startswith(("GUILD_", "CHANNEL_", "THREAD_")):
        return INTENT_GUILDS
    if event == "TYPING_START":
        return INTENT_GUILD_MESSAGE_TYPING
    return None


def redact_for(intents: int, bot_user_id: int, event: str, data: JSON) -> JSON:
    """Tailor a dispatch to the session's intents, like Discord.

    * GUILD_CREATE without GUILD_PRESENCES lists only the bot's own member
      (``member_count`` stays the real count, so discord.py chunks via op 8
      when the members intent is on).
    * MESSAGE_CREATE/UPDATE without MESSAGE_CONTENT have content, embeds,
      attachments, components and poll blanked (except DMs, own messages
      and messages mentioning the bot).

    ``data`` is the session's own copy: GUILD_CREATE is trimmed in place.
    """
    if event == "GUILD_CREATE" and not intents & INTENT_GUILD_PRESENCES:
        data["members"] = [m for m in data.get("members", []) if m["user"]["id"] == str(bot_user_id)]
        return data
    if intents & INTENT_MESSAGE_CONTENT or event not in ("MESSAGE_CREATE", "MESSAGE_UPDATE"):
        return data
    if not data.get("guild_id") or data.get("author", {}).get("id") == str(bot_user_id):
        return data
    if any(u.get("id") == str(bot_user_id) for u in data.get("mentions", [])):
        return data
    data = dict(data)
    data.update(content="", embeds=[], attachments=[], components=[])
    data.pop("poll", None)
    return data
