"""Every ``matinee`` subcommand's ``--help`` says what it does and shows an example.

Walks the real argparse tree, so a subcommand added later is held to the same rule.
"""

from __future__ import annotations

import argparse
import contextlib
import io
from collections.abc import Iterator

import pytest

from bot.cli import build_parser


def commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield (*path, name)
                yield from commands(child, (*path, name))


def help_text(argv: tuple[str, ...]) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as exited:
        build_parser().parse_args([*argv, "--help"])
    assert exited.value.code == 0
    return out.getvalue()


ALL = sorted(commands(build_parser()))


def test_the_tree_is_walked() -> None:
    assert {("doctor",), ("run",), ("films",), ("films", "import"), ("forget",)} <= set(ALL)


@pytest.mark.parametrize("argv", ALL, ids=" ".join)
def test_help_says_what_it_does_with_an_example(argv: tuple[str, ...]) -> None:
    text = help_text(argv)
    usage, _, rest = text.partition("\n\n")
    assert f"matinee {' '.join(argv)}" in usage
    description = rest.split("\n\n", 1)[0]
    assert not description.lstrip().startswith(("positional arguments", "options")), f"no description:\n{text}"
    assert len(description.split()) >= 6, f"description too short:\n{text}"
    example = next((line for line in text.splitlines() if line.strip().lower().startswith("example")), None)
    assert example is not None, f"no example:\n{text}"
    shown = example + text.split(example, 1)[1]
    assert "matinee " in shown and argv[-1] in shown, f"the example does not run this command:\n{text}"
