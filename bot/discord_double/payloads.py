"""The shapes of Discord's objects: users, guilds, roles, members, channels and threads.

Why this exists: discord.py builds its models from these dicts and reads many keys without
a default, so each object carries every field real Discord sends. Keeping the long literal
shapes here lets :mod:`bot.discord_double.state` read as the rules of the world, not as JSON.
These functions only build dicts; storing them is the state's job.
"""

from __future__ import annotations

from typing import Any

from bot.discord_double.protocol import JSON, PRIVATE_THREAD, PUBLIC_THREAD
from bot.discord_double.snowflakes import iso, make_snowflake


def user_payload(user_id: int, name: str, *, bot: bool = False) -> JSON:
    return {
        "id": str(user_id),
        "username": name.lower().replace(" ", "_"),
        "global_name": None if bot else name,
        "discriminator": "0",
        "avatar": None,
        "bot": bot,
        "system": False,
        "public_flags": 0,
        "flags": 0,
        "banner": None,
        "accent_color": None,
        "avatar_decoration_data": None,
        "primary_guild": None,
        "collectibles": None,
    }


def guild_payload(guild_id: int, name: str, owner_id: str) -> JSON:
    """A guild as stored: without roles, channels and members (see ``State.guild_payload``)."""
    return {
        "id": str(guild_id),
        "name": name,
        "icon": None,
        "splash": None,
        "discovery_splash": None,
        "banner": None,
        "description": None,
        "owner_id": owner_id,
        "afk_channel_id": None,
        "afk_timeout": 300,
        "verification_level": 0,
        "default_message_notifications": 0,
        "explicit_content_filter": 0,
        "emojis": [],
        "stickers": [],
        "features": [],
        "mfa_level": 0,
        "application_id": None,
        "system_channel_id": None,
        "system_channel_flags": 0,
        "rules_channel_id": None,
        "safety_alerts_channel_id": None,
        "public_updates_channel_id": None,
        "vanity_url_code": None,
        "premium_tier": 0,
        "premium_subscription_count": 0,
        "preferred_locale": "en-US",
        "nsfw_level": 0,
        "nsfw": False,
        "premium_progress_bar_enabled": False,
        "max_members": 500000,
        "max_video_channel_users": 25,
        "widget_enabled": False,
        "widget_channel_id": None,
        "incidents_data": None,
        "joined_at": iso(),
        "large": False,
        "unavailable": False,
        "lazy": True,
    }


def role_payload(name: str, permissions: int, *, role_id: int | None = None, position: int = 1, color: int = 0,
                 hoist: bool = False, mentionable: bool = False, managed: bool = False) -> JSON:
    return {
        "id": str(role_id or make_snowflake()),
        "name": name,
        "color": color,
        "colors": {"primary_color": color, "secondary_color": None, "tertiary_color": None},
        "hoist": hoist,
        "icon": None,
        "unicode_emoji": None,
        "position": position,
        "permissions": str(permissions),
        "managed": managed,
        "mentionable": mentionable,
        "flags": 0,
    }


def member_payload(user: JSON, role_ids: list[int], nick: str | None = None) -> JSON:
    return {
        "user": user,
        "nick": nick,
        "avatar": None,
        "banner": None,
        "roles": [str(r) for r in role_ids],
        "joined_at": iso(),
        "premium_since": None,
        "deaf": False,
        "mute": False,
        "flags": 0,
        "pending": False,
        "communication_disabled_until": None,
        "avatar_decoration_data": None,
    }


def channel_payload(guild_id: int, name: str, ctype: int, *, position: int, parent_id: int | None = None) -> JSON:
    """A guild channel (text, announcement, category or forum) before type-specific fields."""
    return {
        "id": str(make_snowflake()),
        "type": ctype,
        "guild_id": str(guild_id),
        "name": name,
        "position": position,
        "permission_overwrites": [],
        "nsfw": False,
        "topic": None,
        "rate_limit_per_user": 0,
        "parent_id": str(parent_id) if parent_id else None,
        "last_message_id": None,
        "last_pin_timestamp": None,
        "flags": 0,
        "default_auto_archive_duration": 1440,
        "default_thread_rate_limit_per_user": 0,
    }


def forum_tag_payload(tag: str | JSON) -> JSON:
    """A forum tag from its name or a partial tag dict; the id is generated when missing."""
    t = {"name": tag} if isinstance(tag, str) else dict(tag)
    return {"id": str(t.get("id") or make_snowflake()), "name": t["name"], "moderated": t.get("moderated", False),
            "emoji_id": t.get("emoji_id"), "emoji_name": t.get("emoji_name")}


def thread_payload(parent: JSON, name: str, owner_id: int, *, thread_id: int | None = None,
                   ctype: int = PUBLIC_THREAD, auto_archive_duration: int = 1440,
                   applied_tags: list[Any] | None = None, invitable: bool = True) -> JSON:
    now = iso()
    thread = {
        "id": str(thread_id or make_snowflake()),
        "type": ctype,
        "guild_id": parent["guild_id"],
        "parent_id": parent["id"],
        "owner_id": str(owner_id),
        "name": name,
        "last_message_id": None,
        "message_count": 0,
        "total_message_sent": 0,
        "member_count": 1,
        "rate_limit_per_user": 0,
        "flags": 0,
        "applied_tags": [str(t) for t in applied_tags or []],
        "thread_metadata": {
            "archived": False,
            "auto_archive_duration": auto_archive_duration,
            "archive_timestamp": now,
            "locked": False,
            "create_timestamp": now,
        },
    }
    if ctype == PRIVATE_THREAD:
        thread["thread_metadata"]["invitable"] = invitable
    return thread


def thread_member_payload(thread: JSON, user_id: int) -> JSON:
    """The ``member`` object of a thread the user (the bot) has joined by creating it."""
    return {"id": thread["id"], "user_id": str(user_id), "join_timestamp": iso(), "flags": 1}
