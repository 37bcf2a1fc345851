"""Fixtures for service tests: the loopback OpenAI stub and an LLM on it; running a check as an unprivileged user."""

from __future__ import annotations

import os
import pickle
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from bot.llm import LLM
from tests.doubles.openai_stub import OpenAIStub


@pytest.fixture
async def openai_stub() -> AsyncIterator[OpenAIStub]:
    async with OpenAIStub() as stub:
        yield stub


@pytest.fixture
async def stub_llm(openai_stub: OpenAIStub) -> AsyncIterator[LLM]:
    """The real AsyncOpenAI on the stub, retries on as in production (one-shot calls must not use them)."""
    client = openai.AsyncOpenAI(base_url=openai_stub.base_url, api_key="test", max_retries=2, timeout=5)
    llm = LLM(client, "gpt-4o-mini", deadline=2.0)
    yield llm
    await llm.aclose()


def run_unprivileged(check: Callable[[], Any]) -> Any:
    """Run ``check`` as a user without root's power over permissions (root writes anywhere)."""
    if os.geteuid() != 0:
        return check()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: drop to nobody, answer through the pipe, never return into pytest
        try:
            os.close(read)
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            payload = pickle.dumps(("ok", check()))
        except BaseException as exc:  # the parent re-raises it
            payload = pickle.dumps(("error", repr(exc)))
        with os.fdopen(write, "wb") as out:
            out.write(payload)
        os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as answer:
        kind, value = pickle.loads(answer.read())
    os.waitpid(pid, 0)
    if kind == "error":
        raise AssertionError(value)
    return value


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory another user can reach (pytest's tmp_path lives under a private directory)."""
    path = Path(tempfile.mkdtemp(prefix="matinee-doctor-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        for child in path.rglob("*"):
            if child.is_dir():
                child.chmod(0o755)
        shutil.rmtree(path)
