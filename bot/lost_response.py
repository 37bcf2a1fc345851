"""Create calls sent once: a lost answer is reported to the caller, never retried blindly.

Why this exists: discord.py's ``HTTPClient.request`` retries every 500, 502, 504 and 524
up to five times. For most requests that is right, but a create call may have been
done by the time its answer is lost (Discord made the forum post, then a proxy answered
502): retried, it makes a copy. Messages are safe, because Discord enforces their
``nonce``; a forum post, a thread or a webhook message takes no nonce.

Inside :func:`single_attempt`, such an answer raises :class:`LostResponse` (a
``discord.DiscordServerError``) on the first try instead, so the caller can look for
what the call may have made before it sends again. Everything else (429s, 4xx,
requests outside the block) is left to discord.py exactly as before.

How: discord.py has no per-request switch, but it hands its ``http_trace``
(:class:`aiohttp.TraceConfig`) to the session it creates. :func:`lost_response_trace`
adds a request-end hook that raises while a context variable, set by
:func:`single_attempt`, is on. aiohttp closes the response and re-raises; the
exception is not an ``OSError``, so discord.py's loop lets it through. The variable
belongs to the task that sets it, so the gateway and other tasks never see it.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from types import SimpleNamespace

import aiohttp
import discord

__all__ = ["RETRIED_STATUSES", "LostResponse", "lost_response_trace", "single_attempt"]

RETRIED_STATUSES = frozenset({500, 502, 504, 524})  # what discord.py retries unconditionally
_single = contextvars.ContextVar("matinee_single_attempt", default=False)


class LostResponse(discord.DiscordServerError):
    """Discord answered a create call with a 5xx: it may or may not have been done."""


async def _on_request_end(
    session: aiohttp.ClientSession, context: SimpleNamespace, params: aiohttp.TraceRequestEndParams
) -> None:
    response = params.response
    if not _single.get() or response.status not in RETRIED_STATUSES:
        return
    try:
        text = (await response.read())[:2000].decode("utf-8", errors="replace")
    except (aiohttp.ClientError, OSError, TimeoutError):
        text = ""
    raise LostResponse(response, text)  # type: ignore[arg-type]  # an aiohttp response, as discord.py passes


def lost_response_trace(trace: aiohttp.TraceConfig | None = None) -> aiohttp.TraceConfig:
    """The trace to give ``discord.Client(http_trace=...)`` (added to ``trace`` when one is given)."""
    trace = trace if trace is not None else aiohttp.TraceConfig()
    if _on_request_end not in trace.on_request_end:
        trace.on_request_end.append(_on_request_end)
    return trace


def installed(http: discord.http.HTTPClient) -> bool:
    """Whether this client's session was given :func:`lost_response_trace`."""
    trace = getattr(http, "http_trace", None)
    return trace is not None and _on_request_end in trace.on_request_end


@contextlib.contextmanager
def single_attempt(http: discord.http.HTTPClient) -> Iterator[None]:
    """Requests made in this block by this task are sent once when Discord answers a 5xx.

    Raises ``RuntimeError`` up front when ``http`` lacks the trace: without it the
    block would silently protect nothing.
    """
    if not installed(http):
        raise RuntimeError("the discord.py client was created without lost_response_trace()")
    token = _single.set(True)
    try:
        yield
    finally:
        _single.reset(token)
