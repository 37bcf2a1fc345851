"""Injected REST failures: 429s, Cloudflare's 502 pages, 5xx and any error body a test wants.

Why this exists: Matinee promises that a review is announced once and no comment is lost
even when Discord fails, and those promises are only worth what the failures they were tested
against. A test injects a failure for the requests it names; the double answers them exactly
as Discord (or Cloudflare in front of it) would, and counts the hits.

Two kinds: a failure *instead of* the work (:meth:`Faults.inject_fault`: nothing happens,
as when Discord or its proxy refuses), and a failure *after* the work
(:meth:`Faults.lose_response`: the message, thread or post is created, then the answer is
a 5xx, as when a response is lost between Discord and the bot). The second is the one a
client that retries a create call must survive without making a copy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from bot.discord_double.ratelimits import RateLimits
from bot.discord_double.responses import json_response


@dataclass
class Fault:
    """An injected REST failure; ``hits`` counts how often it fired."""

    method: str
    path_regex: re.Pattern[str]
    status: int
    times: int | None
    retry_after: float | None
    global_: bool
    body: Any = None
    hits: int = 0
    after_commit: bool = False  # the request's work is done first; only its answer is the failure

    def matches(self, method: str, path: str) -> bool:
        remaining = self.times is None or self.hits < self.times
        return remaining and self.method in ("*", method) and bool(self.path_regex.search(path))


class Faults:
    """The injected faults, checked in order (the first that matches answers)."""

    def __init__(self, limits: RateLimits) -> None:
        self.limits = limits
        self.faults: list[Fault] = []

    def inject_fault(self, method: str, path_regex: str, status: int, *, times: int | None = 1,
                     retry_after: float | None = None, global_: bool = False, body: Any = None) -> Fault:
        """Make matching REST requests fail with ``status`` (``times=None``: forever).

        429 gets Discord's body (``retry_after``, ``global``) and headers
        (Retry-After, X-RateLimit-*, X-RateLimit-Scope, Via); 502 gets an HTML
        body like Cloudflare; others a ``{"message", "code"}`` JSON body.
        ``method`` may be ``"*"``.  ``path_regex`` is searched in the API path.
        """
        fault = Fault(method.upper(), re.compile(path_regex), status, times,
                      retry_after if retry_after is not None else (0.25 if status == 429 else None), global_, body)
        self.faults.append(fault)
        return fault

    def lose_response(self, method: str, path_regex: str, status: int = 502, *, times: int | None = 1) -> Fault:
        """Let matching requests do their work, then answer ``status`` instead of the result.

        Discord creates the message (or thread, or forum post) and the bot never
        learns it: discord.py retries a 5xx, so a create call without a nonce Discord
        enforces makes a copy. A request the route refuses (a 4xx) is answered as
        usual and does not count as a hit: nothing was done, so nothing was lost.
        """
        fault = self.inject_fault(method, path_regex, status, times=times)
        fault.after_commit = True
        return fault

    def find(self, method: str, path: str) -> Fault | None:
        return next((fault for fault in self.faults if fault.matches(method, path)), None)

    def respond(self, fault: Fault, bucket: str) -> web.Response:
        """The failure's answer; the fault counts a hit."""
        fault.hits += 1
        if fault.status == 429:
            if fault.body is not None:
                self.limits.rate_limited_count += 1
                return json_response(fault.body, 429, {"Via": "1.1 google"})
            return self.limits.too_many_requests(fault.retry_after or 0.25, global_=fault.global_, bucket=bucket,
                                                 scope="global" if fault.global_ else "user")
        if fault.status in (502, 504, 524) and fault.body is None:
            html = f"<html><head><title>{fault.status} Bad Gateway</title></head><body><center><h1>" \
                   f"{fault.status} Bad Gateway</h1></center><hr><center>cloudflare</center></body></html>"
            return web.Response(text=html, status=fault.status, content_type="text/html")
        body = fault.body if fault.body is not None else {"message": f"{fault.status}: Injected fault", "code": 0}
        if isinstance(body, str):
            return web.Response(text=body, status=fault.status, content_type="text/plain")
        return json_response(body, fault.status)
