"""Every `matinee …` the README shows names real subcommands and flags; its review examples run on the samples."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from bot.cli import build_parser, main
from tests.deploy._samples import seeded_database

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
# Where the README runs the CLI: a bare `matinee`, the venv's, or inside the Docker image.
INVOCATIONS = [
    r"(?:^|`)matinee",
    r"/bin/matinee",
    r"compose exec(?: -T)? matinee matinee",
    r"compose run --rm matinee",
]
ARGS = r"((?:[ \t]+[^\s`&|;>\\#]+)*)"


def subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    found: dict[str, argparse.ArgumentParser] = {}
    for name, sub in action.choices.items():
        nested = [a for a in sub._actions if isinstance(a, argparse._SubParsersAction)]
        if nested:
            found.update({f"{name} {child}": p for child, p in nested[0].choices.items()})
        else:
            found[name] = sub
    return found


def command_table() -> list[str]:
    section = README.split("## Command line", 1)[1].split("\n## ", 1)[0]
    rows = [row for row in section.splitlines() if row.startswith("| `matinee")]
    return [re.split(r"(?<!\\)\|", row)[1].strip() for row in rows]  # `\|` is a pipe inside a cell


def test_every_subcommand_has_a_row_with_real_flags() -> None:
    known = subcommands()
    documented: set[str] = set()
    for cell in command_table():
        for code in re.findall(r"`(matinee[^`]*)`", cell):
            words = code.split()[1:]
            name = next((n for n in sorted(known, key=len, reverse=True) if words[: len(n.split())] == n.split()), None)
            if not words or name is None:
                assert not words or words == ["run"], f"the README names an unknown command: {code}"
                continue
            documented.add(name)
            options = set(known[name]._option_string_actions)
            for flag in re.findall(r"--[a-z][a-z-]*", code):
                assert flag in options, f"`{code}`: matinee {name} has no {flag}"
            for flag in options - {"-h", "--help"}:
                if flag.startswith("--"):
                    assert flag in code, f"the README's row for matinee {name} does not mention {flag}"
    assert documented | {"run"} == set(known) | {"run"}, f"subcommands without a README row: {set(known) - documented}"


def readme_invocations() -> list[list[str]]:
    text = re.sub(r"\\\n\s*", " ", README)  # join continued shell lines
    found = []
    for invocation in INVOCATIONS:
        for match in re.finditer(invocation + ARGS, text, flags=re.MULTILINE):
            words = match.group(1).split()
            if any(mark in " ".join(words) for mark in "[]<|…"):
                continue  # a synopsis (`[--out PATH]`, `<slug or id>`), not a command to run
            found.append(words)
    return found


def test_every_command_the_readme_shows_parses() -> None:
    shown = [words for words in readme_invocations() if words]
    assert len(shown) >= 10, "the README's commands were not found; keep this test in step with it"
    known = subcommands()
    top = {name.split()[0] for name in known}
    checked = 0
    for words in shown:
        if words[0] not in top and not words[0].startswith("-"):
            continue  # prose: "matinee user", "matinee-data"
        if " ".join(words) in known or (words[0] in top and len(words) == 1):
            continue  # a mention in prose ("`matinee export` writes …"), not a command line
        try:
            build_parser().parse_args(words)
        except SystemExit as exc:
            pytest.fail(f"the README shows `matinee {' '.join(words)}`, which exits {exc.code}")
        checked += 1
    assert checked >= 8
    for needed in ("backup", "restore", "export"):
        assert any(words[0] == needed for words in shown), f"no README example of matinee {needed}"


# The README's examples that read reviews: each runs against the shipped samples and must work.
RUNNABLE = ("export", "reviews")


def runnable_examples() -> list[list[str]]:
    known = subcommands()
    return [
        words
        for words in readme_invocations()
        if words and words[0] in RUNNABLE and " ".join(words) not in known and words != [words[0]]
    ]


def test_the_readme_s_review_examples_run_on_the_shipped_samples(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    examples = runnable_examples()
    assert {words[0] for words in examples} == set(RUNNABLE), examples
    monkeypatch.setenv("DATABASE_PATH", str(seeded_database(tmp_path / "matinee.db")))
    for words in examples:
        workdir = tmp_path / "cwd" / str(len(list(tmp_path.glob("cwd/*"))))
        workdir.mkdir(parents=True)
        monkeypatch.chdir(workdir)  # examples write relative paths: each starts from an empty directory
        code = main(words)
        out, err = capsys.readouterr()
        assert code == 0, f"the README shows `matinee {' '.join(words)}`; on the samples it exits {code}: {err}"
        if words[0] == "reviews":
            assert out.strip(), words
        elif "--out" not in words and "--all" not in words:
            assert list(workdir.glob("*-comments.*")), words


def test_the_readme_shows_what_reviews_list_prints_for_the_samples(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_PATH", str(seeded_database(tmp_path / "matinee.db")))
    assert main(["reviews", "list"]) == 0
    printed = capsys.readouterr().out
    section = README.split("### Naming a review", 1)[1].split("\n### ", 1)[0]
    shown = section.split("```text\n", 1)[1].split("```", 1)[0]
    assert shown == printed
