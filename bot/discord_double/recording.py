"""What the double received over REST, kept for tests to assert on.

Why this exists: a test proves what the bot did by the exact requests Discord received
(``double.find_requests("POST", r"/messages$")[-1].json``), including the ones that were
faulted, rate limited or not understood, and waits on them instead of sleeping.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Any


@dataclass
class RecordedFile:
    """A file part of a multipart request (``files[n]``)."""

    field_name: str
    filename: str | None
    content_type: str | None
    data: bytes


Files = list[RecordedFile]


@dataclass
class RecordedRequest:
    """One REST request as received by the double (including faulted/unhandled ones)."""

    method: str
    path: str  # decoded path relative to the API base, e.g. "/channels/1/messages"
    raw_path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any  # parsed JSON body, or parsed payload_json of a multipart body
    files: list[RecordedFile]
    body: bytes
    timestamp: float
    status: int = 0
    response: Any = None
    route: str | None = None  # route template name, None when unhandled

    @property
    def file_names(self) -> list[str | None]:
        return [f.filename for f in self.files]


class RequestLog:
    """Every REST request in arrival order, plus the ones no route understood."""

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self.unhandled: list[RecordedRequest] = []
        self._answered = asyncio.Event()

    def answered(self) -> None:
        """Called when a request got its status, to wake :meth:`wait_for_request`."""
        self._answered.set()

    def find_requests(self, method: str | None = None, path_regex: str = "") -> list[RecordedRequest]:
        """Recorded requests matching method (None = any) and regex (searched in path)."""
        rx = re.compile(path_regex)
        return [r for r in self.requests if (method is None or r.method == method.upper()) and rx.search(r.path)]

    def clear_requests(self) -> None:
        self.requests.clear()
        self.unhandled.clear()

    async def wait_for_request(self, method: str | None, path_regex: str, timeout: float = 5.0, *,
                               count: int = 1, completed: bool = True) -> RecordedRequest:
        """Wait until ``count`` matching requests were received (and answered, if ``completed``)."""

        async def loop() -> RecordedRequest:
            while True:
                found = [r for r in self.find_requests(method, path_regex) if r.status or not completed]
                if len(found) >= count:
                    return found[count - 1]
                self._answered.clear()
                await self._answered.wait()

        return await asyncio.wait_for(loop(), timeout)
