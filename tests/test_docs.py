"""The README and `.env.example` say what the code does.

Where a document repeats a fact the code holds (the settings, the REST limiter's
numbers), the fact is generated from the code or checked against it here, so the
two cannot drift apart unnoticed.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import fields
from pathlib import Path

import pytest

from bot import settings as settings_module
from bot.bot import REST_BURST, REST_REQUESTS_PER_SECOND
from bot.settings import (
    REQUIRED,
    Secret,
    Settings,
    SettingsError,
    load_settings,
    readme_with_table,
    render_env_example,
    render_markdown_table,
    specs,
)

ROOT = Path(__file__).resolve().parents[1]
DISCORD_GLOBAL_REST_LIMIT = 50  # requests per second, per bot


def test_env_example_is_generated_from_the_declaration() -> None:
    assert (ROOT / ".env.example").read_text(encoding="utf-8") == render_env_example(), (
        ".env.example drifted from bot/settings.py; run: python -m bot.settings --write"
    )


def test_readme_settings_table_is_generated_from_the_declaration() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert readme_with_table(readme) == readme, (
        "the README's settings table drifted from bot/settings.py; run: python -m bot.settings --write"
    )
    assert readme.count(render_markdown_table()) == 1


def test_every_setting_is_declared_once_with_a_unique_variable() -> None:
    declared = specs()
    assert [name for name, _, _ in declared] == [f.name for f in fields(Settings)]
    names = [spec.env for _, spec, _ in declared]
    assert len(names) == len(set(names))
    for name, spec, _default in declared:
        assert spec.env == name.upper(), "a field is named after its variable"
        assert spec.help and "\n" not in spec.help
    table, example = render_markdown_table(), render_env_example()
    for env in names:
        assert table.count(f"| `{env}` |") == 1
        assert len(re.findall(rf"^(# )?{env}=", example, flags=re.MULTILINE)) == 1


def test_documented_defaults_and_examples_are_what_the_loader_accepts() -> None:
    """Each value `.env.example` shows parses, and a shown default loads as the very default."""
    for name, spec, default in specs():
        line = next(ln for ln in render_env_example().splitlines() if ln.lstrip("# ").startswith(f"{spec.env}="))
        shown = line.split("=", 1)[1]
        env = {"DISCORD_TOKEN": "token", spec.env: shown}
        if not shown:
            continue  # unset: the declared default applies
        loaded = getattr(load_settings(env, env_file=None), name)
        if spec.example is None:
            assert loaded == default, f"{spec.env}: .env.example shows {shown!r}, which is not the default"
        if spec.secret:
            assert isinstance(loaded, Secret)


def test_secret_flag_wraps_and_redacts_the_value() -> None:
    secret_names = {spec.env for _, spec, _ in specs() if spec.secret}
    assert {"DISCORD_TOKEN", "OPENAI_API_KEY", "TMDB_API_KEY"} <= secret_names
    typed_secret = {f.name.upper() for f in fields(Settings) if "Secret" in str(f.type)}
    assert typed_secret == secret_names, "a Secret field is declared secret=True, and only those"
    env = {name: f"value-of-{name.lower()}" for name in secret_names}
    loaded = load_settings(env, env_file=None)
    assert sorted(loaded.secrets()) == sorted(env.values())
    assert not any(value in repr(loaded) for value in env.values())


def test_required_settings_fail_by_name_and_must_be_given_to_the_constructor() -> None:
    required = [(name, spec) for name, spec, default in specs() if default is REQUIRED]
    assert [spec.env for _, spec in required] == ["DISCORD_TOKEN"]
    with pytest.raises(SettingsError, match=r"^DISCORD_TOKEN is not set; see \.env\.example$"):
        load_settings({}, env_file=None)
    assert load_settings({}, env_file=None, require_token=False).discord_token is None
    with pytest.raises(TypeError):
        Settings()  # type: ignore[call-arg]


def test_settings_command_finds_and_fixes_drift(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``python -m bot.settings --check`` fails on a drifted copy; ``--write`` makes it match again."""
    for name in (".env.example", "README.md"):
        shutil.copy(ROOT / name, tmp_path / name)
    root = ["--root", str(tmp_path)]
    assert settings_module.main(["--check", *root]) == 0
    readme = tmp_path / "README.md"
    readme.write_text(readme.read_text().replace("| `LOG_LEVEL` | `INFO` |", "| `LOG_LEVEL` | `DEBUG` |"))
    (tmp_path / ".env.example").write_text("DISCORD_TOKEN=\n")
    assert settings_module.main(["--check", *root]) == 1
    assert capsys.readouterr().err.count("python -m bot.settings --write") == 2
    assert settings_module.main(["--write", *root]) == 0
    assert settings_module.main(["--check", *root]) == 0
    assert readme.read_text() == (ROOT / "README.md").read_text()
    assert settings_module.main(["--markdown-table"]) == 0
    assert capsys.readouterr().out.endswith(render_markdown_table())


def test_readme_states_the_rest_limiter_the_bot_uses() -> None:
    """The "Exactly once" paragraph quotes bot/bot.py's token bucket; a bucket admits burst + rate a second."""
    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    quoted = re.findall(r"token bucket \((\d+) requests/s, bursts of (\d+): at most (\d+) in any second\)", readme)
    assert len(quoted) == 1, "the README no longer quotes the REST limiter; keep this test in step with it"
    rate, burst, most = (int(n) for n in quoted[0])
    assert (rate, burst) == (REST_REQUESTS_PER_SECOND, REST_BURST)
    assert most == REST_REQUESTS_PER_SECOND + REST_BURST < DISCORD_GLOBAL_REST_LIMIT
    assert f"under Discord's global {DISCORD_GLOBAL_REST_LIMIT}/s" in readme


# -- the module map at the top of docs/architecture.md -------------------------------

MAPPED_ROOTS = ("bot", "cogs")
_MAP_ROW = re.compile(r"^\| `([^`]+)` \| (.+) \|$")


def architecture_map() -> dict[str, str]:
    """The map's rows, path -> description, read from the table that opens docs/architecture.md."""
    section = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8").split("\n## ", 1)[0]
    before_table, table = section.split("\n| module | what it is |\n|---|---|\n", 1)
    assert "- **" not in before_table and "```" not in before_table, "the Architecture section opens with the map"
    rows: dict[str, str] = {}
    for line in table.split("\n\n", 1)[0].splitlines():
        match = _MAP_ROW.match(line)
        assert match, f"not a map row: {line!r}"
        assert match[1] not in rows, f"{match[1]} is in the map twice"
        rows[match[1]] = match[2]
    return rows


def mapped_paths() -> set[str]:
    """What the map must list: every module and package under bot/ and cogs/, and the test and bench folders."""
    wanted = {"bench/", "data/"} | {f"tests/{p.name}/" for p in (ROOT / "tests").iterdir() if _is_folder(p)}
    for root in MAPPED_ROOTS:
        for path in (ROOT / root).rglob("*"):
            relative = path.relative_to(ROOT).as_posix()
            if (_is_folder(path) and (path / "__init__.py").exists()) or path.name == "migrations":
                wanted.add(f"{relative}/")
            elif path.suffix == ".py" and path.name != "__init__.py":  # a package's row speaks for its __init__
                wanted.add(relative)
    return wanted


def _is_folder(path: Path) -> bool:
    return path.is_dir() and path.name != "__pycache__" and not path.name.startswith(".")


def test_the_map_lists_every_module_and_only_paths_that_exist() -> None:
    rows = architecture_map()
    missing = sorted(mapped_paths() - set(rows))
    assert not missing, f"add these to the map in docs/architecture.md: {missing}"
    gone = sorted(p for p in rows if not (ROOT / p).exists())
    assert not gone, f"the map lists paths that do not exist: {gone}"
    assert list(rows) == sorted(rows, key=_map_order), "the map is in path order, each folder before its modules"


def _map_order(path: str) -> tuple[int, list[tuple[bool, str]]]:
    top = ("bot/", "cogs/", "data/", "deploy/", "bench/", "tests/")  # code first, then what surrounds it
    rank = next((i for i, prefix in enumerate(top) if path.startswith(prefix)), len(top))
    parts = path.rstrip("/").split("/")
    # A folder's own row comes first; then its modules, then its subfolders.
    return rank, [(i < len(parts) - 1 or path.endswith("/"), part) for i, part in enumerate(parts)]


def _commands_in(description: str) -> set[str]:
    """``/matinee feed add\\|remove`` in a row's description, as {"matinee feed add", "matinee feed remove"}."""
    names = set()
    for quoted in re.findall(r"`/([^`]+)`", description):
        *head, last = quoted.replace("\\|", "|").split()
        names |= {" ".join([*head, alternative]) for alternative in last.split("|")}
    return names


async def test_every_slash_command_is_in_the_map_beside_the_module_that_defines_it(tmp_path: Path) -> None:
    """A newcomer looking for a command finds it on the first try: its row is its cog's module."""
    from discord import app_commands

    from bot.bot import MatineeBot

    settings = Settings(discord_token=Secret("x"), database_path=tmp_path / "m.db", reviews_dir=tmp_path)
    bot = MatineeBot(settings, sync="never")
    try:
        await bot.setup_hook()
        rows = architecture_map()
        pending = list(bot.tree.get_commands())
        seen = 0
        while pending:
            command = pending.pop()
            if isinstance(command, app_commands.Group):
                pending.extend(command.commands)
                continue
            module = command.callback.__module__.replace(".", "/")
            row = f"{module}/" if (ROOT / module / "__init__.py").exists() else f"{module}.py"
            assert command.qualified_name in _commands_in(rows[row]), (
                f"/{command.qualified_name} is defined in {row}; name it in that row of the map"
            )
            seen += 1
        assert seen >= 20
    finally:
        await bot.close()


# -- links between the documents ---------------------------------------------------------------------

_LOCAL_LINK = re.compile(r"\]\(((?![a-z]+:|#)[^)\s#]+)(?:#[^)]*)?\)")


def test_every_local_link_and_image_in_the_docs_exists() -> None:
    """The README and docs/ link to files and screenshots by relative path; each one is there."""
    documents = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    broken = [
        f"{doc.relative_to(ROOT)} -> {target}"
        for doc in documents
        for target in _LOCAL_LINK.findall(doc.read_text(encoding="utf-8"))
        if not (doc.parent / target).exists()
    ]
    assert not broken, broken
