"""The two questions Matinee asks Discord's REST API itself, outside discord.py.

Why: ``matinee doctor`` must say whether the token really works and whether the
Message Content intent is switched on, without connecting a bot; and ``matinee run``
must tell "the network is not up yet" (wait and try again) from "Discord rejected
the token" (stop) before it hands the token to discord.py, whose login gives up on
the first connection error. Both ask here, with a plain aiohttp session from
:mod:`bot.outbound` (``Purpose.DISCORD``), so no discord.py type is involved.

The answers are three exceptions and two small records:

* :class:`DiscordUnreachable`: no answer, a timeout, a 5xx or a 429; worth retrying;
* :class:`TokenRejected`: 401, the token is wrong or was reset; retrying cannot help;
* :class:`DiscordApiError`: any other unexpected answer;
* :class:`BotUser` (``GET /users/@me``) and :class:`Application` (``GET /applications/@me``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import aiohttp

__all__ = [
    "DEFAULT_DISCORD_API_BASE",
    "DEVELOPER_PORTAL",
    "GATEWAY_MESSAGE_CONTENT",
    "GATEWAY_MESSAGE_CONTENT_LIMITED",
    "MESSAGE_CONTENT_STEP",
    "RESET_TOKEN_STEP",
    "Application",
    "BotUser",
    "DiscordApi",
    "DiscordApiError",
    "DiscordUnreachable",
    "TokenRejected",
]

DEFAULT_DISCORD_API_BASE = "https://discord.com/api/v10"
DEVELOPER_PORTAL = "https://discord.com/developers/applications"

# Application flags (Discord's documentation, "Application Flags"): the Message Content intent
# switched on in the Developer Portal; _LIMITED is how it shows for an app in fewer than 100
# servers, which needs no verification.
GATEWAY_MESSAGE_CONTENT = 1 << 18
GATEWAY_MESSAGE_CONTENT_LIMITED = 1 << 19

MESSAGE_CONTENT_STEP = (
    f"open {DEVELOPER_PORTAL}, choose your application, then Bot → Privileged Gateway Intents: "
    "turn on MESSAGE CONTENT INTENT and click Save Changes"
)
RESET_TOKEN_STEP = (
    f"open {DEVELOPER_PORTAL}, choose your application, then Bot → Reset Token, "
    "and put the new token in DISCORD_TOKEN"
)


class DiscordUnreachable(Exception):
    """Discord did not answer usefully (no network, a timeout, a 5xx, a rate limit); try again later.

    ``status`` is the HTTP status when Discord did answer (5xx, 429), None when nothing answered.
    """

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class TokenRejected(Exception):
    """Discord answered 401: the token is wrong, or was reset in the Developer Portal."""


class DiscordApiError(Exception):
    """Discord answered something this module does not expect (the message says what)."""


@dataclass(frozen=True, slots=True)
class BotUser:
    id: int
    name: str


@dataclass(frozen=True, slots=True)
class Application:
    id: int
    name: str
    flags: int

    @property
    def message_content_intent(self) -> bool:
        """Whether the Message Content intent is switched on in the Developer Portal."""
        return bool(self.flags & (GATEWAY_MESSAGE_CONTENT | GATEWAY_MESSAGE_CONTENT_LIMITED))


def describe_network_error(exc: BaseException) -> str:
    """A short reason for a failed connection, without the URL's query (no secrets there, but no noise)."""
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return f"cannot resolve {exc.host}"
    if isinstance(exc, aiohttp.ClientConnectorError):
        error = exc.os_error
        # asyncio's strerror is "Connect call failed (...)"; the errno's own text says why.
        reason = os.strerror(error.errno) if error is not None and error.errno else "no connection"
        return f"cannot connect to {exc.host}:{exc.port}: {reason.lower()}"
    return f"network error ({type(exc).__name__})"


class DiscordApi:
    """``GET /users/@me`` and ``GET /applications/@me`` with a bot token, through ``session``."""

    def __init__(self, session: aiohttp.ClientSession, token: str, *, api_base: str | None = None) -> None:
        self._session = session
        self._token = token
        self.api_base = (api_base or DEFAULT_DISCORD_API_BASE).rstrip("/")

    async def bot_user(self) -> BotUser:
        """Who the token logs in as; the check discord.py's own login makes first."""
        data = await self._get("/users/@me")
        return BotUser(int(data["id"]), str(data.get("global_name") or data.get("username") or "?"))

    async def application(self) -> Application:
        """The token's application, with the flags that say which privileged intents are on."""
        data = await self._get("/applications/@me")
        return Application(int(data["id"]), str(data.get("name") or "?"), int(data.get("flags") or 0))

    async def _get(self, path: str) -> dict[str, Any]:
        headers = {"Authorization": f"Bot {self._token}", "Accept": "application/json"}
        try:
            async with self._session.get(f"{self.api_base}{path}", headers=headers, allow_redirects=False) as response:
                status = response.status
                if status == 401:
                    raise TokenRejected("Discord rejected DISCORD_TOKEN (HTTP 401)")
                if status == 429 or status >= 500:
                    raise DiscordUnreachable(f"Discord answered HTTP {status}", status=status)
                if status != 200:
                    raise DiscordApiError(f"{path} answered HTTP {status} {response.reason or ''}".strip())
                data = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DiscordUnreachable(describe_network_error(exc)) from exc
        except ValueError as exc:
            raise DiscordApiError(f"{path} did not answer JSON (is DISCORD_API_BASE Discord's API?)") from exc
        if not isinstance(data, dict) or "id" not in data:
            raise DiscordApiError(f"{path} answered something other than Discord's JSON (is DISCORD_API_BASE right?)")
        return data
