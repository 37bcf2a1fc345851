"""Fixtures for service tests that talk to a model: the loopback OpenAI stub and an LLM on it."""

from __future__ import annotations

from collections.abc import AsyncIterator

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
