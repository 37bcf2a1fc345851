"""The throttled editor: first text at once, then at most one edit per interval; splitting."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from typing import Any

from bot.chat.streaming import ThrottledEditor


class FakeTarget:
    def __init__(self) -> None:
        self.log: list[tuple[str, int, str]] = []
        self.messages: list[str] = []
        self.fail_next_edit = False

    async def send(self, text: str) -> int:
        self.messages.append(text)
        self.log.append(("send", len(self.messages) - 1, text))
        return len(self.messages) - 1

    async def edit(self, message: int, text: str) -> None:
        if self.fail_next_edit:
            self.fail_next_edit = False
            raise RuntimeError("429")
        self.messages[message] = text
        self.log.append(("edit", message, text))

    async def delete(self, message: int) -> None:
        self.log.append(("delete", message, ""))

    def typing(self) -> Any:
        return contextlib.nullcontext()


class FakeTime:
    """A clock whose sleeps advance time instantly (and record what was slept)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


async def test_first_text_posts_immediately_then_edits_are_throttled() -> None:
    target, time = FakeTarget(), FakeTime()
    editor = ThrottledEditor(target, interval=1.0, clock=time.clock, sleep=time.sleep)
    await editor.update("Hel")
    assert target.log == [("send", 0, "Hel")]
    for text in ["Hello", "Hello th", "Hello there"]:
        await editor.update(text)
    await editor.finish("Hello there!")
    edits = [e for e in target.log if e[0] == "edit"]
    assert edits[-1] == ("edit", 0, "Hello there!")
    assert len(edits) <= 2
    assert all(s <= 1.0 for s in time.slept) and time.now >= 1.0


async def test_edit_times_are_at_least_an_interval_apart() -> None:
    target, time = FakeTarget(), FakeTime()
    stamps: list[float] = []
    original_edit = target.edit

    async def stamped(message: int, text: str) -> None:
        stamps.append(time.now)
        await original_edit(message, text)

    target.edit = stamped  # type: ignore[method-assign]
    editor = ThrottledEditor(target, interval=1.0, clock=time.clock, sleep=time.sleep)
    text = ""
    for i in range(40):
        text += f"w{i} "
        await editor.update(text)
        time.now += 0.1
        await asyncio.sleep(0)
    await editor.finish(text.strip())
    assert target.messages[0] == text.strip()
    assert all(b - a >= 1.0 - 1e-9 for a, b in itertools.pairwise(stamps))
    assert len(stamps) < 40  # fewer edits than updates


async def test_long_text_becomes_several_messages_and_shrinking_deletes_extras() -> None:
    target, time = FakeTarget(), FakeTime()
    editor = ThrottledEditor(target, interval=1.0, clock=time.clock, sleep=time.sleep)
    long = ("A sentence about cinema. " * 100).strip()
    await editor.update(long)
    assert len(target.messages) >= 2 and all(len(m) <= 2000 for m in target.messages)
    await editor.finish("Short after all.")
    assert target.messages[0] == "Short after all."
    assert ("delete", 1, "") in target.log


async def test_a_failed_edit_is_retried_by_the_next_flush() -> None:
    target, time = FakeTarget(), FakeTime()
    editor = ThrottledEditor(target, interval=1.0, clock=time.clock, sleep=time.sleep)
    await editor.update("one")
    target.fail_next_edit = True
    await editor.update("one two")
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    await editor.finish("one two three")
    assert target.messages == ["one two three"]


async def test_first_send_stops_typing_callback() -> None:
    target, time = FakeTarget(), FakeTime()
    stopped: list[bool] = []

    async def stop() -> None:
        stopped.append(True)

    editor = ThrottledEditor(target, clock=time.clock, sleep=time.sleep, on_first_send=stop)
    await editor.update("   ")  # whitespace isn't worth a message
    assert target.log == [] and stopped == []
    await editor.update("Hi")
    await editor.finish("Hi!")
    assert stopped == [True]
