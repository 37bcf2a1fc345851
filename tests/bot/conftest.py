"""Fixtures for service tests: the loopback OpenAI stub and an LLM on it; running a check without root's power."""

from __future__ import annotations

import ctypes
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


# Root's power over file permissions is two capabilities; a child that drops them (and keeps
# CAP_DAC_READ_SEARCH) still reads the checkout, wherever it was cloned, but is refused writes
# exactly as a user would be. Changing user instead would fail on a checkout under a 0700 directory.
_CAP_DAC_OVERRIDE, _CAP_FOWNER = 1, 3
_CAPABILITY_VERSION_3 = 0x20080522


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def _drop_capabilities(*capabilities: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    header, data = _CapHeader(_CAPABILITY_VERSION_3, 0), (_CapData * 2)()
    if libc.capget(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capget")
    for capability in capabilities:
        word, bit = divmod(capability, 32)
        data[word].effective &= ~(1 << bit)
        data[word].permitted &= ~(1 << bit)
    if libc.capset(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capset")


def run_unprivileged(check: Callable[[], Any]) -> Any:
    """Run ``check`` without root's power over file permissions (root writes anywhere)."""
    if os.geteuid() != 0:
        return check()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: drop the capabilities, answer through the pipe, never return into pytest
        try:
            os.close(read)
            _drop_capabilities(_CAP_DAC_OVERRIDE, _CAP_FOWNER)
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
