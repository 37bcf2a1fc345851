"""Removing ``<think>…</think>`` reasoning blocks from model output, streamed or whole.

Reasoning models served through Ollama or vLLM (DeepSeek-R1, Qwen3…) often put
their chain of thought in the visible content. Members should only see the
answer, and should not watch the reasoning flash by while a reply streams, so
the stream filter holds back anything that might be the start of a tag until it
knows, and shows nothing while a block is open (including one left open at the
start of a stream).
"""

from __future__ import annotations

import re

__all__ = ["ThinkStripper", "strip_think"]

_OPEN_TAGS = ("<think>", "<thinking>")
_CLOSE_TAGS = ("</think>", "</thinking>")
_ALL_TAGS = _OPEN_TAGS + _CLOSE_TAGS
_OPEN_RE = re.compile(r"<think(?:ing)?>", re.IGNORECASE)
_CLOSE_RE = re.compile(r"</think(?:ing)?>", re.IGNORECASE)
_BLOCK_RE = re.compile(r"<think(?:ing)?>.*?</think(?:ing)?>", re.IGNORECASE | re.DOTALL)
_UNTERMINATED_RE = re.compile(r"<think(?:ing)?>.*\Z", re.IGNORECASE | re.DOTALL)


def strip_think(text: str) -> str:
    """The answer without reasoning: closed blocks, an unterminated block, and a
    reasoning prefix whose opening tag the chat template swallowed (``…</think>answer``)."""
    text = _BLOCK_RE.sub("", text)
    text = _UNTERMINATED_RE.sub("", text)
    orphan = _CLOSE_RE.search(text)
    if orphan is not None:
        text = text[orphan.end() :]
    return text.strip()


def _partial_tag_len(buffer: str) -> int:
    """Length of a trailing fragment of ``buffer`` that could still grow into a tag."""
    start = buffer.rfind("<")
    if start < 0:
        return 0
    tail = buffer[start:].lower()
    if any(tag.startswith(tail) and tag != tail for tag in _ALL_TAGS):
        return len(buffer) - start
    return 0


class ThinkStripper:
    """Incremental filter: ``feed`` chunks as they stream, get back the visible text.

    Tags split across chunks (``"<thi"`` + ``"nk>"``) are recognised; visible text
    never includes a block's content. Leading whitespace before the first visible
    character is dropped so a reply doesn't start with the blank lines a model
    leaves after its reasoning.
    """

    def __init__(self) -> None:
        self._buffer = ""
        self._in_think = False
        self._emitted = False

    @property
    def thinking(self) -> bool:
        """Whether the stream is inside a reasoning block right now."""
        return self._in_think

    def feed(self, chunk: str) -> str:
        self._buffer += chunk
        out: list[str] = []
        while self._buffer:
            if self._in_think:
                close = _CLOSE_RE.search(self._buffer)
                if close is None:
                    keep = _partial_tag_len(self._buffer)
                    self._buffer = self._buffer[len(self._buffer) - keep :] if keep else ""
                    break
                self._buffer = self._buffer[close.end() :]
                self._in_think = False
                continue
            opening = _OPEN_RE.search(self._buffer)
            closing = _CLOSE_RE.search(self._buffer)
            if closing is not None and (opening is None or closing.start() < opening.start()):
                # A stray closing tag: drop the tag itself; strip_think() settles the final text.
                out.append(self._buffer[: closing.start()])
                self._buffer = self._buffer[closing.end() :]
                continue
            if opening is not None:
                out.append(self._buffer[: opening.start()])
                self._buffer = self._buffer[opening.end() :]
                self._in_think = True
                continue
            keep = _partial_tag_len(self._buffer)
            emit = self._buffer[: len(self._buffer) - keep]
            self._buffer = self._buffer[len(emit) :]
            out.append(emit)
            break
        return self._visible("".join(out))

    def finish(self) -> str:
        """Flush what is left at the end of the stream (an unterminated block is dropped)."""
        rest = "" if self._in_think else self._buffer
        self._buffer = ""
        self._in_think = False
        return self._visible(rest)

    def _visible(self, text: str) -> str:
        if not self._emitted:
            text = text.lstrip()
            if text:
                self._emitted = True
        return text
