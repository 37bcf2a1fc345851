"""A small Dockerfile reader for the deployment tests: instructions, exec forms and shell commands.

It understands what the project's Dockerfile uses (parser directives, comments, line
continuations, ARG defaults, JSON exec form, ``&&``/``||`` chains) so the tests can check
every command the image runs against the project, rather than repeating them.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Dockerfile", "Instruction", "dockerignored", "simple_commands"]

_OPERATORS = {"&&", "||", ";", "|", "&"}


@dataclass(frozen=True, slots=True)
class Instruction:
    keyword: str
    args: str
    line: int
    stage: int  # index of the FROM this instruction belongs to

    def exec_form(self) -> list[str] | None:
        """The JSON array of an exec-form instruction, or None for shell form."""
        text = self.args.strip()
        if not text.startswith("["):
            return None
        value = json.loads(text)
        assert isinstance(value, list) and all(isinstance(v, str) for v in value), self
        return value


class Dockerfile:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.instructions = list(_parse(path.read_text(encoding="utf-8")))

    def __iter__(self):
        return iter(self.instructions)

    def all(self, keyword: str, *, stage: int | None = None) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword and (stage is None or i.stage == stage)]

    @property
    def final_stage(self) -> int:
        return max(i.stage for i in self.instructions)

    def arg_defaults(self) -> dict[str, str]:
        defaults: dict[str, str] = {}
        for instruction in self.all("ARG"):
            name, _, value = instruction.args.partition("=")
            defaults[name.strip()] = value.strip()
        return defaults

    def substitute(self, text: str) -> str:
        defaults = self.arg_defaults()
        return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: defaults.get(m.group(1) or m.group(2), m.group(0)), text)

    def env(self, *, stage: int | None = None) -> dict[str, str]:
        """``ENV`` values (``KEY=value`` pairs, quoted or not) in order; later ones win."""
        values: dict[str, str] = {}
        for instruction in self.all("ENV", stage=stage):
            words = shlex.split(instruction.args)
            if len(words) >= 2 and "=" not in words[0]:  # legacy `ENV KEY value`
                values[words[0]] = " ".join(words[1:])
                continue
            for word in words:
                key, _, value = word.partition("=")
                values[key] = value
        return values

    def volumes(self) -> list[str]:
        paths: list[str] = []
        for instruction in self.all("VOLUME"):
            paths += instruction.exec_form() or instruction.args.split()
        return paths

    def stage_names(self) -> set[str]:
        names = set()
        for instruction in self.all("FROM"):
            words = instruction.args.split()
            if len(words) == 3 and words[1].upper() == "AS":
                names.add(words[2])
        return names


def _parse(text: str):
    stage = -1
    logical, start = "", 0
    in_header = True
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if in_header and re.match(r"#\s*\w+\s*=", stripped):  # parser directive, e.g. `# syntax=...`
            continue
        if stripped.startswith("#") or (not stripped and not logical):
            in_header = in_header and stripped.startswith("#")
            continue
        in_header = False
        if not logical:
            start = number
        if stripped.endswith("\\"):
            logical += stripped[:-1] + " "
            continue
        logical += stripped
        keyword, _, args = logical.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            stage += 1
        yield Instruction(keyword, args.strip(), start, stage)
        logical = ""
    assert not logical, "the Dockerfile ends inside a continued line"


def simple_commands(shell: str) -> list[list[str]]:
    """Split a shell-form command into its simple commands (words), without redirections."""
    lexer = shlex.shlex(shell, posix=True, punctuation_chars=";&|<>")
    lexer.whitespace_split = True
    commands: list[list[str]] = [[]]
    tokens = list(lexer)
    skip_next = False
    for token in tokens:
        if skip_next:
            skip_next = False
            continue
        if token in _OPERATORS:
            commands.append([])
        elif re.fullmatch(r"[<>]+&?", token):
            if commands[-1] and commands[-1][-1].isdigit():  # `2>`: the digit is the descriptor
                commands[-1].pop()
            skip_next = True  # the file name that follows
        else:
            commands[-1].append(token)
    return [c for c in commands if c]


def dockerignored(path: str, patterns: list[str]) -> bool:
    """Whether Docker leaves ``path`` out of the build context (last matching pattern wins).

    Patterns follow Go's filepath.Match plus ``**``; a pattern that matches a parent
    directory matches everything inside it, as in Docker's own matcher.
    """
    parts = path.strip("/").split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    ignored = False
    for pattern in patterns:
        pattern = pattern.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negate = pattern.startswith("!")
        regex = _pattern_regex(pattern.lstrip("!").strip("/"))
        if any(regex.fullmatch(prefix) for prefix in prefixes):
            ignored = not negate
    return ignored


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
        elif pattern.startswith("**", i):
            out += ".*"
            i += 2
        elif pattern[i] == "*":
            out += "[^/]*"
            i += 1
        elif pattern[i] == "?":
            out += "[^/]"
            i += 1
        else:
            out += re.escape(pattern[i])
            i += 1
    return re.compile(out)
