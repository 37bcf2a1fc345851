"""Create calls sent once: a lost answer is reported to the caller, never retried blindly.

Why this exists: discord.py's ``HTTPClient.request`` retries every 500, 502, 504 and 524
up to five times. For most requests that is right, but a create call may have been
done by the time its answer is lost (Discord made the forum post, then a proxy answered
502): retried, it makes a copy. Messages are safe, because Discord enforces their
``nonce``; a forum post, a thread or a webhook message takes no nonce.

Inside :func:`single_attempt`, such an answer raises the exception its caller names
(the cogs pass :class:`cogs._discord_errors.LostResponse`, a ``discord.DiscordServerError``)
on the first try instead, so the caller can look for what the call may have made before
it sends again. Everything else (429s, 4xx, requests outside the block) is left to
discord.py exactly as before.

How: discord.py has no per-request switch, but it hands its ``http_trace``
(:class:`aiohttp.TraceConfig`) to the session it creates. :func:`lost_response_trace`
adds a request-end hook that raises while a context variable, set by
:func:`single_attempt`, holds the exception to raise. aiohttp closes the response and
re-raises; the exception is not an ``OSError``, so discord.py's loop lets it through.
The variable belongs to the task that sets it, so the gateway and other tasks never
see it. This module works at the aiohttp level only and holds no discord.py type: the
caller, which knows discord.py, supplies the exception.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator
from types import SimpleNamespace

import aiohttp

__all__ = ["RETRIED_STATUSES", "LostAnswer", "installed", "lost_response_trace", "single_attempt"]

RETRIED_STATUSES = frozenset({500, 502, 504, 524})  # what discord.py retries unconditionally

# What to raise for a lost answer: Discord's response and up to 2,000 characters of its body.
LostAnswer = Callable[[aiohttp.ClientResponse, str], Exception]

_single: contextvars.ContextVar[LostAnswer | None] = contextvars.ContextVar("matinee_single_attempt", default=None)


async def _on_request_end(
    session: aiohttp.ClientSession, context: SimpleNamespace, params: aiohttp.TraceRequestEndParams
) -> None:
    response = params.response
    lost = _single.get()
    if lost is None or response.status not in RETRIED_STATUSES:
        return
    try:
        text = (await response.read())[:2000].decode("utf-8", errors="replace")
    except (aiohttp.ClientError, OSError, TimeoutError):
        text = ""
    raise lost(response, text)


def lost_response_trace(trace: aiohttp.TraceConfig | None = None) -> aiohttp.TraceConfig:
    """The trace to give ``discord.Client(http_trace=...)`` (added to ``trace`` when one is given)."""
    trace = trace if trace is not None else aiohttp.TraceConfig()
    if _on_request_end not in trace.on_request_end:
        trace.on_request_end.append(_on_request_end)
    return trace


def installed(http: object) -> bool:
    """Whether this HTTP client (discord.py's ``HTTPClient``) was given :func:`lost_response_trace`."""
    trace = getattr(http, "http_trace", None)
    return trace is not None and _on_request_end in trace.on_request_end


@contextlib.contextmanager
def single_attempt(http: object, lost: LostAnswer) -> Iterator[None]:
    """Requests made in this block by this task are sent once: a 5xx raises ``lost(response, text)``.

    ``http`` is discord.py's ``HTTPClient``. Raises ``RuntimeError`` up front when it
    lacks the trace: without it the block would silently protect nothing.
    """
    if not installed(http):
        raise RuntimeError("the discord.py client was created without lost_response_trace()")
    token = _single.set(lost)
    try:
        yield
    finally:
        _single.reset(token)
