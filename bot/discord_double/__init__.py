"""A loopback Discord: REST API v10 and the gateway, for the unmodified discord.py client.

Why this exists
---------------
Matinee is a discord.py bot.  Mocking discord.py objects tests our
assumptions about discord.py instead of the real behaviour, so this package
runs a small Discord on ``127.0.0.1`` (aiohttp, ephemeral port) that the
*unmodified* discord.py client talks to over real HTTP and a real websocket.
Tests then drive "member" activity (messages, reactions, slash commands,
poll votes, ...) through plain Python methods and assert on the exact REST
payloads the bot sent (:attr:`DiscordDouble.requests`).  It ships with the bot
(it needs aiohttp only, no discord.py types) so the sandbox can run the same
Discord for people trying Matinee without an account.

Pointing discord.py at the double::

    discord.http.Route.BASE = double.api_base          # http://127.0.0.1:P/api/v10
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(double.gateway_url)

(:meth:`DiscordDouble.patched_endpoints` does that and restores the old values;
Matinee itself takes them as settings, ``DISCORD_API_BASE`` and ``DISCORD_GATEWAY_URL``.)

Fidelity notes (things discord.py relies on that are easy to get wrong), each kept
in the module that honours it:

* JSON responses carry ``Content-Type: application/json`` *without* a charset,
  otherwise ``discord.http.json_or_text`` hands back a ``str`` (``responses``).
* 429 responses carry a ``Via`` header; without it discord.py assumes a
  Cloudflare ban and raises instead of retrying (``ratelimits``).
* Interaction callbacks are called with ``?with_response=1`` and must answer
  with an ``InteractionCallbackResponse`` body (``routes.interactions``).
* Gateway dispatches are sent as plain TEXT frames (discord.py asks for
  ``compress=zlib-stream`` but handles text frames), each with a sequence
  number, and are kept per session so RESUME can replay them (``gateway``).
* Dispatches are filtered by the intents sent in IDENTIFY, and
  ``content``/``embeds``/... are blanked without the MESSAGE_CONTENT intent,
  like real Discord, so a missing intent shows up in tests (``intents``).

The parts, and how they fit
---------------------------
:class:`DiscordDouble` (``double``) is the facade: it builds the parts below and
forwards its methods to them.  ``state`` holds the world as Discord's JSON;
``world`` changes it and tells the ``gateway``; ``interactions`` sends a member's
commands and clicks; ``rest`` records each request and passes it through
``faults`` and ``ratelimits`` to a handler in ``routes``; ``changes`` tells observers other
than the bot (the sandbox's page) about every change, ephemeral answers included.
"""

from bot.discord_double.changes import INTERACTION_CHANGED, Change
from bot.discord_double.double import DiscordDouble
from bot.discord_double.faults import Fault
from bot.discord_double.interactions import InteractionRecord
from bot.discord_double.recording import RecordedFile, RecordedRequest
from bot.discord_double.responses import DiscordError
from bot.discord_double.snowflakes import make_snowflake, snowflake_time

__all__ = [
    "INTERACTION_CHANGED",
    "Change",
    "DiscordDouble",
    "DiscordError",
    "Fault",
    "InteractionRecord",
    "RecordedFile",
    "RecordedRequest",
    "make_snowflake",
    "snowflake_time",
]
