"""Discord-shaped HTTP responses: JSON with the exact content type, and error bodies.

Why this exists: discord.py reads a response as JSON only when ``Content-Type`` is exactly
``application/json`` (no charset), and it turns ``{"message", "code", "errors"}`` bodies into
``discord.HTTPException`` subclasses. Every REST answer of the double goes through here.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from bot.discord_double.protocol import JSON


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """JSON with exactly ``application/json`` (no charset) - discord.py compares the header verbatim."""
    hdrs = {"Content-Type": "application/json"}
    if headers:
        hdrs.update(headers)
    return web.Response(body=json.dumps(data).encode(), status=status, headers=hdrs)


class DiscordError(Exception):
    """Raised inside REST handlers to produce a Discord-shaped error body."""

    def __init__(self, status: int, code: int, message: str, errors: JSON | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors

    def body(self) -> JSON:
        data: JSON = {"message": self.message, "code": self.code}
        if self.errors is not None:
            data["errors"] = self.errors
        return data


def unknown(kind: str, code: int) -> DiscordError:
    """Discord's 404 for a missing object, e.g. ``unknown("Channel", 10003)``."""
    return DiscordError(404, code, f"Unknown {kind}")


def invalid_form(field: str, code: str, message: str) -> DiscordError:
    """Discord's 400 "Invalid Form Body" (code 50035) naming one field and its error."""
    return DiscordError(400, 50035, "Invalid Form Body", {field: {"_errors": [{"code": code, "message": message}]}})
