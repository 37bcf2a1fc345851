"""The one way Matinee talks to an OpenAI-compatible model.

:class:`LLM` holds the bot's single ``AsyncOpenAI`` client and the model name
(created once by :class:`~bot.bot.MatineeBot`, closed on shutdown) and offers
the three calls the features make:

* :meth:`LLM.complete`: one short answer under a deadline, no retries, for
  discussion prompts and summaries, which always have a fallback that needs no
  model and must not keep a member waiting;
* :meth:`LLM.stream`: a streamed chat completion, optionally with tools;
* :meth:`LLM.moderate`: the moderation check chat can run first;
* :meth:`LLM.list_models`: the one cheap authenticated call ``matinee doctor`` makes.

Every provider failure comes out as one classified :class:`ModelError`
(:mod:`bot.llm.errors`); what it *means* is the caller's decision. Output is
untrusted: callers clean it before display.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Self

import openai

from .errors import ModelError, log_failure
from .think import strip_think

if TYPE_CHECKING:
    from ..settings import Settings

__all__ = ["LLM", "MODERATION_MODEL", "ONE_SHOT_DEADLINE", "ModelStream", "ToolCall"]

log = logging.getLogger(__name__)

ONE_SHOT_DEADLINE = 10.0  # seconds; a thread opening or a summary must not wait on a slow model for longer
MODERATION_MODEL = "omni-moderation-latest"


class LLM:
    """The bot's model: one client, one model name, the calls features make."""

    def __init__(self, client: Any, model: str, *, deadline: float = ONE_SHOT_DEADLINE) -> None:
        self.client = client
        self.model = model
        self.deadline = deadline

    @classmethod
    def from_settings(cls, settings: Settings) -> LLM | None:
        """The configured model, or None when no model is set up (features fall back)."""
        if not settings.llm_configured:
            return None
        key = settings.openai_api_key.reveal() if settings.openai_api_key else "not-needed"
        client = openai.AsyncOpenAI(
            api_key=key,
            base_url=settings.openai_base_url,
            timeout=settings.openai_timeout_seconds,
            max_retries=settings.openai_max_retries,
        )
        return cls(client, settings.openai_model, deadline=min(settings.openai_timeout_seconds, ONE_SHOT_DEADLINE))

    async def aclose(self) -> None:
        await self.client.close()

    async def complete(
        self,
        system: str,
        user: str,
        *,
        purpose: str,
        max_tokens: int = 400,
        temperature: float = 0.7,
        timeout: float | None = None,
    ) -> str:
        """One answer to ``user`` under ``system``, reasoning stripped; may be empty.

        At most ``timeout`` seconds (default :attr:`deadline`) and no retries. A
        failure is logged once, classified, naming ``purpose`` ("discussion
        summary"), and raised as :class:`ModelError`: whatever went wrong
        (provider error, deadline, a malformed response), the caller's fallback
        applies, so nothing else escapes except cancellation.
        """
        deadline = self.deadline if timeout is None else timeout
        try:
            fast = self.client.with_options(timeout=deadline, max_retries=0)
            response = await asyncio.wait_for(
                fast.chat.completions.create(
                    model=self.model,
                    messages=[{"role": "system", "content": system}, {"role": "user", "content": user}],
                    max_tokens=max_tokens,
                    temperature=temperature,
                ),
                timeout=deadline + 1,  # a backstop: the client's own timeout should fire first
            )
            text = response.choices[0].message.content if response.choices else None
        except Exception as exc:
            error = ModelError.of(exc)
            log_failure(exc, error.failure, model=self.model, what=purpose, attempt="using the fallback", logger=log)
            if not isinstance(exc, openai.OpenAIError | TimeoutError):
                log.debug("unexpected error from the model call", exc_info=exc)
            raise error from exc
        return strip_think(text) if isinstance(text, str) else ""

    def stream(
        self,
        messages: Sequence[dict[str, Any]],
        *,
        tools: Sequence[dict[str, Any]] | None = None,
        tool_choice: str | None = None,
    ) -> ModelStream:
        """A streamed completion; use as ``async with llm.stream(...) as s: async for text in s``."""
        request: dict[str, Any] = {
            "model": self.model,
            "messages": list(messages),
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if tools:
            request["tools"] = list(tools)
            request["tool_choice"] = tool_choice or "auto"
        return ModelStream(self.client, request)

    async def list_models(self, *, timeout: float = 10.0) -> list[str]:
        """The model ids the provider offers: one cheap authenticated call, no retries (``matinee doctor``).

        A failure is raised as a classified :class:`ModelError` (``auth``, ``connection``, ``timeout``, …).
        """
        try:
            page = await self.client.with_options(timeout=timeout, max_retries=0).models.list()
            return [model.id for model in page.data]
        except openai.OpenAIError as exc:
            raise ModelError.of(exc) from exc

    async def moderate(self, text: str) -> bool:
        """Whether the moderation endpoint flags ``text``; a failure raises :class:`ModelError`."""
        try:
            result = await self.client.moderations.create(model=MODERATION_MODEL, input=text)
        except openai.OpenAIError as exc:
            raise ModelError.of(exc) from exc
        return any(r.flagged for r in result.results)


@dataclass(slots=True)
class ToolCall:
    """A tool call the model asked for, assembled from its streamed fragments."""

    id: str = ""
    name: str = ""
    arguments: str = ""


class ModelStream:
    """One streamed completion: iterating yields text pieces as they arrive.

    Tool-call fragments and token usage are collected on the way, readable as
    :attr:`tool_calls` and :attr:`total_tokens` (also after a failure). Provider
    errors, when the request is made or mid-stream, are raised as :class:`ModelError`.
    """

    def __init__(self, client: Any, request: dict[str, Any]) -> None:
        self._client = client
        self._request = request
        self._stream: Any = None
        self._chunks: Any = None
        self._calls: dict[int, ToolCall] = {}
        self.total_tokens = 0

    @property
    def tool_calls(self) -> list[ToolCall]:
        """The calls asked for so far, in the model's order."""
        return [self._calls[i] for i in sorted(self._calls)]

    async def __aenter__(self) -> Self:
        try:
            self._stream = await self._client.chat.completions.create(**self._request)
        except openai.OpenAIError as exc:
            raise ModelError.of(exc) from exc
        self._chunks = self._stream.__aiter__()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._stream is not None:
            with contextlib.suppress(Exception):
                await self._stream.close()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> str:
        if self._chunks is None:
            raise RuntimeError("use the stream inside 'async with'")
        while True:
            try:
                chunk = await self._chunks.__anext__()
            except openai.OpenAIError as exc:
                raise ModelError.of(exc) from exc
            text = self._absorb(chunk)
            if text:
                return text

    def _absorb(self, chunk: Any) -> str:
        """Collect usage and tool-call fragments from ``chunk``; return its text."""
        usage = getattr(chunk, "usage", None)
        if usage is not None and getattr(usage, "total_tokens", None):
            self.total_tokens += int(usage.total_tokens)
        texts: list[str] = []
        for choice in chunk.choices or ():
            delta = choice.delta
            if delta is None:
                continue
            if delta.content:
                texts.append(delta.content)
            for part in delta.tool_calls or ():
                call = self._calls.setdefault(part.index or 0, ToolCall())
                if part.id:
                    call.id = part.id
                if part.function is not None:
                    call.name += part.function.name or ""
                    call.arguments += part.function.arguments or ""
        return "".join(texts)
