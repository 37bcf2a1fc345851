"""<think> stripping, whole and streamed (tags split at every possible chunk boundary)."""

from __future__ import annotations

import pytest

from bot.llm.think import ThinkStripper, strip_think


def stream(chunks: list[str]) -> tuple[str, list[str]]:
    stripper = ThinkStripper()
    shown: list[str] = []
    visible = ""
    for chunk in chunks:
        visible += stripper.feed(chunk)
        shown.append(visible)
    visible += stripper.finish()
    shown.append(visible)
    return visible, shown


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("<think>plan</think>\n\nAnswer.", "Answer."),
        ("<THINK>plan</Think>Answer.", "Answer."),
        ("Before <thinking>hmm</thinking>after", "Before after"),
        ("<think>never closed, all reasoning", ""),
        ("reasoning whose opening tag the template ate</think>\nAnswer.", "Answer."),
        ("No tags at all, <3 and a < b.", "No tags at all, <3 and a < b."),
    ],
)
def test_strip_think_whole_text(raw: str, expected: str) -> None:
    assert strip_think(raw) == expected


def test_think_block_split_at_every_boundary_is_never_shown() -> None:
    raw = "<think>secret plan</think>Visible answer <b>here</b>."
    for cut in range(1, len(raw)):
        visible, shown = stream([raw[:cut], raw[cut:]])
        assert visible == "Visible answer <b>here</b>.", cut
        assert not any("secret" in s or "<think" in s or "</th" in s for s in shown), cut


def test_streaming_character_by_character() -> None:
    raw = "Intro. <think>hidden</think> Outro."
    visible, shown = stream(list(raw))
    assert visible == "Intro.  Outro."
    assert not any("hidden" in s for s in shown)


def test_unterminated_think_at_stream_start_shows_nothing_while_streaming() -> None:
    stripper = ThinkStripper()
    assert stripper.feed("<think>") == ""
    assert stripper.thinking
    assert stripper.feed("step one… step two…") == ""
    assert stripper.feed("still going") == ""
    assert stripper.finish() == ""  # the stream ended mid-thought: nothing to show


def test_leading_whitespace_after_reasoning_is_dropped_and_partial_tags_are_released() -> None:
    stripper = ThinkStripper()
    assert stripper.feed("<think>x</think>\n\n  ") == ""
    assert stripper.feed("Hi <") == "Hi "  # "<" might start a tag: held back
    assert stripper.feed("3 you") == "<3 you"  # it didn't
    assert stripper.finish() == ""
