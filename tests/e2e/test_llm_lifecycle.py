"""One model client per bot: chat and discussions share ``bot.llm``, and shutdown closes it."""

from __future__ import annotations

import pytest

from bot.llm import LLM
from tests.e2e._chat import llm_settings

pytestmark = pytest.mark.e2e


async def test_one_client_is_shared_and_closed_on_shutdown(double, world, run_bot, openai_stub) -> None:
    bot = await run_bot(extensions=["cogs.chat", "cogs.discussions"], **llm_settings(openai_stub, openai_model="m1"))
    assert isinstance(bot.llm, LLM) and bot.llm.model == "m1"
    assert bot.get_cog("Chat").service.llm is bot.llm
    client = bot.llm.client
    assert not client.is_closed()
    await run_bot.stop(bot)
    assert client.is_closed() and bot.llm is None
