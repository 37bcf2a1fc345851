"""Discord's numbers, as its documentation gives them: channel types, opcodes, intents, flags, permissions.

Why this exists: every part of the double speaks in these values, and a reader checking the
double against Discord's documentation should find each of them once, by its documented name.
"""

from __future__ import annotations

from typing import Any

JSON = dict[str, Any]
"""Discord objects are kept and sent as the plain dicts of its JSON."""

# Permissions
ALL_PERMISSIONS = (1 << 53) - 1
ADMINISTRATOR = 1 << 3
DEFAULT_EVERYONE_PERMISSIONS = 0x0000_0006_3284_1E41  # view, send, read history, reactions, ...

# Channel types
GUILD_TEXT, DM, GUILD_VOICE, GUILD_CATEGORY, GUILD_NEWS = 0, 1, 2, 4, 5
NEWS_THREAD, PUBLIC_THREAD, PRIVATE_THREAD, GUILD_FORUM = 10, 11, 12, 15
THREAD_TYPES = {NEWS_THREAD, PUBLIC_THREAD, PRIVATE_THREAD}

# Gateway opcodes
OP_DISPATCH, OP_HEARTBEAT, OP_IDENTIFY, OP_PRESENCE, OP_VOICE_STATE = 0, 1, 2, 3, 4
OP_RESUME, OP_RECONNECT, OP_REQUEST_MEMBERS, OP_INVALID_SESSION = 6, 7, 8, 9
OP_HELLO, OP_HEARTBEAT_ACK = 10, 11

# Intents (bit positions as documented)
INTENT_GUILDS = 1 << 0
INTENT_GUILD_MEMBERS = 1 << 1
INTENT_GUILD_PRESENCES = 1 << 8
INTENT_GUILD_MESSAGES = 1 << 9
INTENT_GUILD_MESSAGE_REACTIONS = 1 << 10
INTENT_GUILD_MESSAGE_TYPING = 1 << 11
INTENT_DIRECT_MESSAGES = 1 << 12
INTENT_DIRECT_MESSAGE_REACTIONS = 1 << 13
INTENT_MESSAGE_CONTENT = 1 << 15
INTENT_GUILD_MESSAGE_POLLS = 1 << 24
INTENT_DIRECT_MESSAGE_POLLS = 1 << 25
PRIVILEGED_INTENTS = INTENT_GUILD_MEMBERS | INTENT_GUILD_PRESENCES | INTENT_MESSAGE_CONTENT

# Application flags (GET /applications/@me): a privileged intent switched on in the Developer
# Portal, the _LIMITED form for an app in fewer than 100 servers (no verification needed).
APP_FLAG_GATEWAY_PRESENCE = 1 << 12
APP_FLAG_GATEWAY_PRESENCE_LIMITED = 1 << 13
APP_FLAG_GATEWAY_GUILD_MEMBERS = 1 << 14
APP_FLAG_GATEWAY_GUILD_MEMBERS_LIMITED = 1 << 15
APP_FLAG_GATEWAY_MESSAGE_CONTENT = 1 << 18
APP_FLAG_GATEWAY_MESSAGE_CONTENT_LIMITED = 1 << 19
PRIVILEGED_INTENT_APP_FLAGS_LIMITED = (
    APP_FLAG_GATEWAY_PRESENCE_LIMITED
    | APP_FLAG_GATEWAY_GUILD_MEMBERS_LIMITED
    | APP_FLAG_GATEWAY_MESSAGE_CONTENT_LIMITED
)

# Message flags
FLAG_HAS_THREAD = 1 << 5
FLAG_EPHEMERAL = 1 << 6
FLAG_LOADING = 1 << 7

# Forum channel flags
FLAG_REQUIRE_TAG = 1 << 4
