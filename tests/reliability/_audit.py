"""Checks over everything the bot sent to the Discord double.

``mention_violations`` walks every recorded REST request that can create or
change a message (channel messages, forum posts, interaction responses,
follow-ups, webhook edits) and reports each payload whose ``allowed_mentions``
would let Discord ping anyone, except the configured role ping. A payload
without ``allowed_mentions`` counts as a violation when it has content: Discord's
default is to parse every mention in it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from bot.discord_double import DiscordDouble

MESSAGE_ROUTES = re.compile(
    r"^/channels/\d+/messages(/\d+)?$"
    r"|^/channels/\d+/threads$"
    r"|^/interactions/\d+/[^/]+/callback$"
    r"|^/webhooks/\d+/[^/]+(/messages/(@original|\d+))?$"
)


def _message_payloads(path: str, body: Any) -> list[dict]:
    if not isinstance(body, dict):
        return []
    if "/interactions/" in path:
        data = body.get("data")
        return [data] if isinstance(data, dict) and body.get("type") in (4, 7) else []
    if path.endswith("/threads") and isinstance(body.get("message"), dict):
        return [body["message"]]
    return [body]


def mention_violations(double: DiscordDouble, ping_role_ids: Iterable[int] = ()) -> list[str]:
    allowed_roles = {str(r) for r in ping_role_ids}
    problems: list[str] = []
    for request in double.requests:
        if request.method not in ("POST", "PATCH") or not MESSAGE_ROUTES.search(request.path):
            continue
        for payload in _message_payloads(request.path, request.json):
            has_text = bool(payload.get("content")) or bool(payload.get("poll"))
            allowed = payload.get("allowed_mentions")
            where = f"{request.method} {request.path}"
            if allowed is None:
                if has_text:
                    problems.append(f"{where}: content without allowed_mentions: {payload.get('content')!r:.80}")
                continue
            if allowed.get("parse"):
                problems.append(f"{where}: parse={allowed['parse']}")
            if allowed.get("users"):
                problems.append(f"{where}: users={allowed['users']}")
            roles = {str(r) for r in allowed.get("roles") or []}
            if roles - allowed_roles:
                problems.append(f"{where}: roles={sorted(roles)}")
            if allowed.get("replied_user"):
                problems.append(f"{where}: replied_user pings the author")
    return problems


def sent_payload_count(double: DiscordDouble) -> int:
    return sum(
        len(_message_payloads(r.path, r.json))
        for r in double.requests
        if r.method in ("POST", "PATCH") and MESSAGE_ROUTES.search(r.path)
    )


def rendered_mentions(double: DiscordDouble, bot_user_id: int) -> list[dict]:
    """Messages by the bot that the double rendered with a live mention."""
    hits = []
    for messages in double.messages.values():
        for message in messages:
            if message["author"]["id"] != str(bot_user_id):
                continue
            if message.get("mention_everyone") or message.get("mentions") or message.get("mention_roles"):
                hits.append(message)
    return hits
