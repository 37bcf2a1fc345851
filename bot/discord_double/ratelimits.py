"""Rate limits as Discord states them: per-route buckets, the global limit, and the 429 answer.

Why this exists: discord.py paces itself by the ``X-RateLimit-*`` headers and retries a 429
after ``retry_after``; Matinee's delivery promises rest on that working. The double advertises
buckets on every answer, can enforce them and the global limit (50 requests/s), and shapes
each 429 like Discord's.

Fidelity notes:

* 429 responses carry a ``Via`` header; without it discord.py assumes a Cloudflare ban and
  raises instead of retrying.
* A global 429 carries ``X-RateLimit-Global`` and a whole-second ``Retry-After``; interaction
  callbacks are exempt from the global limit, as on Discord.
* A bucket is a fixed window, as on Discord: it refills whole ``Reset-After`` seconds after its
  first request (rounded up to the millisecond), so a client that waits what the headers say is
  never refused. (A sliding window frees one request at a time and refused such clients.)
"""

from __future__ import annotations

import hashlib
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from bot.discord_double.responses import json_response


def bucket_id(template: str) -> str:
    """The bucket hash Discord would name for a route template (stable per route)."""
    return hashlib.md5(template.encode()).hexdigest()


@dataclass
class _Window:
    """One bucket's current window: when it opened and how many requests it has counted."""

    opened: float
    count: int = 0


class RateLimits:
    """Fixed windows per (bucket, major parameter), and a sliding one-second window for the global limit."""

    def __init__(self, *, bucket_limit: int = 50, bucket_window: float = 1.0,
                 enforce_bucket_limits: bool = False, clock: Callable[[], float] = time.monotonic) -> None:
        """``bucket_limit``/``bucket_window``: per-route X-RateLimit-* values advertised.

        ``enforce_bucket_limits``: answer 429 (scope "user") when a client ignores them.
        """
        self.bucket_limit = bucket_limit
        self.bucket_window = bucket_window
        self.enforce_bucket_limits = enforce_bucket_limits
        self.global_rate_limit: int | None = None
        self.rate_limited_count = 0
        self._clock = clock
        self._global_window: deque[float] = deque()
        self._buckets: dict[str, _Window] = {}

    def enforce_global_rate_limit(self, per_second: int | None = 50) -> None:
        """Answer 429 (global) when more than ``per_second`` requests arrive in 1 s; None disables."""
        self.global_rate_limit = per_second
        self._global_window.clear()

    def check_global_limit(self, path: str) -> float | None:
        """Seconds to wait if this request breaks the global limit, else None (and it is counted)."""
        if self.global_rate_limit is None or path.startswith("/interactions/"):
            return None
        now = self._clock()
        window = self._global_window
        while window and now - window[0] >= 1.0:
            window.popleft()
        if len(window) >= self.global_rate_limit:
            return max(1.0 - (now - window[0]), 0.01)
        window.append(now)
        return None

    def take(self, template: str, major: str) -> dict[str, str]:
        """Count a request in its bucket and return the ``X-RateLimit-*`` headers for the answer."""
        bucket = bucket_id(template)
        key = f"{bucket}:{major}"
        now = self._clock()
        window = self._buckets.get(key)
        if window is None or now - window.opened >= self.bucket_window:
            window = self._buckets[key] = _Window(now)
        window.count += 1
        reset_after = math.ceil((self.bucket_window - (now - window.opened)) * 1000) / 1000
        return {
            "X-RateLimit-Limit": str(self.bucket_limit),
            "X-RateLimit-Remaining": str(max(self.bucket_limit - window.count, 0)),
            "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
            "X-RateLimit-Bucket": bucket,
        }

    def overflowed(self, template: str, major: str) -> bool:
        """True when the request just counted went over the bucket (it is then not counted)."""
        window = self._buckets[f"{bucket_id(template)}:{major}"]
        if window.count > self.bucket_limit:
            window.count -= 1  # the rejected request does not consume the bucket
            return True
        return False

    def too_many_requests(self, retry_after: float, *, global_: bool, bucket: str,
                          scope: str | None = None) -> web.Response:
        """Discord's 429: body with ``retry_after`` and ``global``, headers for the scope."""
        self.rate_limited_count += 1
        body = {"message": "You are being rate limited.", "retry_after": retry_after, "global": global_,
                "code": 0}
        headers = {
            "Retry-After": str(max(1, math.ceil(retry_after))) if global_ else f"{retry_after:.3f}",
            "X-RateLimit-Scope": scope or ("global" if global_ else "user"),
            "Via": "1.1 google",
        }
        if global_:
            headers["X-RateLimit-Global"] = "true"
        else:
            headers.update({
                "X-RateLimit-Limit": str(self.bucket_limit),
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": f"{time.time() + retry_after:.3f}",
                "X-RateLimit-Reset-After": f"{retry_after:.3f}",
                "X-RateLimit-Bucket": bucket,
            })
        return json_response(body, 429, headers)
