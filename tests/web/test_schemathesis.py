"""schemathesis against /v1/openapi.json: generated valid and invalid requests get documented answers, never a 5xx.

The server is the real WebServer over a seeded database, in a thread with its own
event loop (schemathesis's pytest integration calls it synchronously). /v1/events
is a never-ending stream, so its hostile cases are in test_hostile/test_events.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from bot.web.app import WebServer
from bot.web.openapi import openapi_document
from tests.web._seed import OTHER, seed, web_config

RAW = openapi_document("http://127.0.0.1")
schema = schemathesis.openapi.from_dict(RAW).exclude(path="/v1/events")
schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
# Two things the schema cannot say, so these checks would flag correct answers: exactly one of
# `url`/`review` must be given (400 otherwise), and an address no review has is a 404.
EXCLUDED = [positive_data_acceptance]


class _Server:
    """The web server on a background thread's event loop."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.url = ""
        self.thread = threading.Thread(target=self._run, name="schemathesis-server", daemon=True)
        self._stop: asyncio.Event | None = None

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._serve())
        self.loop.close()

    async def _serve(self) -> None:
        seeded = await seed(self.path)
        first = await seeded.comment("Loved the **pineapple** ||twist||", reactions={"🍍": 2})
        await seeded.comment(
            "A reply", author=OTHER, name="Ana", reply_to=first, attachments=["https://x.example/a.png"]
        )
        server = WebServer(seeded.db, web_config(requests_per_second=1e6, request_burst=1e6))
        await server.start()
        self.url = server.url
        self._stop = asyncio.Event()
        self.ready.set()
        await self._stop.wait()
        await server.close()
        await seeded.db.close()

    def start(self) -> str:
        self.thread.start()
        assert self.ready.wait(30), "the server did not start"
        return self.url

    def stop(self) -> None:
        if self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
        self.thread.join(30)


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = _Server(tmp_path_factory.mktemp("schemathesis") / "m.db")
    try:
        yield server.start()
    finally:
        server.stop()


@schema.parametrize()
@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_the_api_answers_as_documented(case, base_url: str) -> None:
    case.call_and_validate(base_url=base_url, excluded_checks=EXCLUDED)
