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
