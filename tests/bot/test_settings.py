"""Settings: required and invalid values fail clearly, and secrets never show."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.logs import REDACTED, SecretRedactor
from bot.settings import ENV_FILE_VARIABLE, Secret, SettingsError, default_env_file, load_settings
from tests._environment import SETTING_NAMES, child_environment

TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GAbcde.abcdefghijklmnopqrstuvwxyz0123456789"


def load(**env: str):
    return load_settings(env, env_file=None)


def test_defaults_with_only_a_token() -> None:
    settings = load(DISCORD_TOKEN=TOKEN)
    assert settings.discord_token == Secret(TOKEN)
    assert settings.database_path == Path("data/matinee.db")
    assert settings.reviews_dir is None  # the shipped samples are the sandbox's and the tests', never a deployment's
    assert settings.feed_poll_seconds == 300
    assert settings.dev_guild_id is None
    assert not settings.llm_configured
    assert not settings.tmdb_configured


@pytest.mark.parametrize("value", ["", "  "])
def test_an_empty_reviews_dir_means_no_markdown_folder(value: str) -> None:
    """`REVIEWS_DIR=` is "none", never the sample reviews shipped in data/reviews."""
    assert load(DISCORD_TOKEN=TOKEN, REVIEWS_DIR=value).reviews_dir is None
    assert load(DISCORD_TOKEN=TOKEN, REVIEWS_DIR="/srv/blog/content").reviews_dir == Path("/srv/blog/content")


@pytest.mark.parametrize("value", [None, "", "   "])
def test_missing_or_empty_token_is_named(value: str | None) -> None:
    env = {} if value is None else {"DISCORD_TOKEN": value}
    with pytest.raises(SettingsError) as excinfo:
        load(**env)
    assert "DISCORD_TOKEN" in str(excinfo.value)
    assert ".env.example" in str(excinfo.value)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DEV_GUILD_ID", "not-a-number"),
        ("DEV_GUILD_ID", "-5"),
        ("FEED_POLL_SECONDS", "soon"),
        ("DISCORD_API_BASE", "ftp://example.org"),
        ("DISCORD_GATEWAY_URL", "http://example.org"),
        ("REVIEW_FEEDS", "https://ok.example/feed,file:///etc/passwd"),
        ("LOG_LEVEL", "CHATTY"),
        ("OPENAI_MODERATION", "perhaps"),
    ],
)
def test_invalid_values_name_the_variable_not_the_value(name: str, value: str) -> None:
    with pytest.raises(SettingsError) as excinfo:
        load(DISCORD_TOKEN=TOKEN, **{name: value})
    message = str(excinfo.value)
    assert name in message
    assert value not in message
    assert TOKEN not in message


def test_feed_list_and_dev_guild_are_parsed() -> None:
    settings = load(
        DISCORD_TOKEN=TOKEN,
        REVIEW_FEEDS=" https://blog.example/feed/ , https://other.example/atom.xml",
        DEV_GUILD_ID="1234",
        OPENAI_BASE_URL="http://localhost:11434/v1",
    )
    assert settings.review_feeds == ("https://blog.example/feed/", "https://other.example/atom.xml")
    assert settings.dev_guild_id == 1234
    assert settings.llm_configured


def test_env_file_is_read_and_environment_wins(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(f"DISCORD_TOKEN={TOKEN}\nLOG_LEVEL=DEBUG\n")
    settings = load_settings({"LOG_LEVEL": "WARNING"}, env_file=env_file)
    assert settings.discord_token == Secret(TOKEN)
    assert settings.log_level == "WARNING"


def test_settings_are_immutable() -> None:
    settings = load(DISCORD_TOKEN=TOKEN)
    with pytest.raises(AttributeError):
        settings.log_level = "DEBUG"  # type: ignore[misc]


def test_secrets_are_masked_in_repr_str_and_format() -> None:
    settings = load(DISCORD_TOKEN=TOKEN, OPENAI_API_KEY="sk-supersecretvalue", TMDB_API_KEY="tmdbsecret123")
    for rendered in (repr(settings), str(settings), f"{settings}", f"{settings.discord_token}"):
        assert TOKEN not in rendered
        assert "sk-supersecretvalue" not in rendered
        assert "tmdbsecret123" not in rendered
    assert settings.openai_api_key.reveal() == "sk-supersecretvalue"
    assert set(settings.secrets()) == {TOKEN, "sk-supersecretvalue", "tmdbsecret123"}


def test_redactor_scrubs_secrets_and_authorization_headers(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.redaction")
    redactor = SecretRedactor([TOKEN, "sk-supersecretvalue"])
    logger.addFilter(redactor)
    try:
        with caplog.at_level(logging.DEBUG, logger="test.redaction"):
            logger.debug("sending %s with key %s", TOKEN, "sk-supersecretvalue")
            logger.debug("headers={'Authorization': 'Bot abc.def.ghi'}")
            try:
                raise RuntimeError(f"request failed for token {TOKEN}")
            except RuntimeError:
                logger.exception("boom")
    finally:
        logger.removeFilter(redactor)
    text = caplog.text
    assert TOKEN not in text
    assert "sk-supersecretvalue" not in text
    assert "abc.def.ghi" not in text
    assert text.count(REDACTED) >= 4


def matinee(*args: str, cwd: Path, **env: str | None) -> subprocess.CompletedProcess[str]:
    """Run the ``matinee`` command line in a child process with only the settings given.

    Discord's API is a closed loopback port, so ``doctor`` never shows a token to the real Discord:
    a token that was read shows as "could not check" (``[??  ]``), a missing one as FAIL.
    """
    env.setdefault("DISCORD_API_BASE", "http://127.0.0.1:9/api/v10")
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        env=child_environment(**env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_cli_without_token_prints_one_line_and_exits_2(tmp_path: Path) -> None:
    result = matinee(cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "DISCORD_TOKEN" in lines[0] and ".env.example" in lines[0]


def write_env(path: Path, **values: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{name}={value}\n" for name, value in values.items()))
    return path


def test_cli_reads_dot_env_in_its_directory_and_the_environment_wins(tmp_path: Path) -> None:
    """Production: ``matinee`` started where a `.env` lies reads it; an exported variable beats the file."""
    site = tmp_path / "site"
    write_env(site / ".env", DISCORD_TOKEN=TOKEN, DATABASE_PATH=str(tmp_path / "from-dotenv.db"))
    result = matinee("doctor", cwd=site, MATINEE_ENV_FILE=None, DATABASE_PATH=str(tmp_path / "from-env.db"))
    assert "[??  ] discord token" in result.stdout, result.stdout + result.stderr
    assert "from-env.db" in result.stdout and "from-dotenv.db" not in result.stdout
    assert TOKEN not in result.stdout + result.stderr


def test_cli_reads_the_file_named_by_matinee_env_file_or_env_file(tmp_path: Path) -> None:
    write_env(tmp_path / ".env", LOG_LEVEL="loud")  # in the current directory, but not the file named
    named = write_env(tmp_path / "conf" / "named.env", DISCORD_TOKEN=TOKEN, DATABASE_PATH=str(tmp_path / "named.db"))
    by_variable = matinee("doctor", cwd=tmp_path, MATINEE_ENV_FILE=str(named))
    assert "[??  ] discord token" in by_variable.stdout and "named.db" in by_variable.stdout, by_variable.stderr
    flag = write_env(tmp_path / "flag.env", DATABASE_PATH=str(tmp_path / "flag.db"))
    by_flag = matinee("--env-file", str(flag), "doctor", cwd=tmp_path, MATINEE_ENV_FILE=str(named))
    assert "flag.db" in by_flag.stdout and "named.db" not in by_flag.stdout, by_flag.stderr  # the flag wins


@pytest.mark.parametrize("switch", [os.devnull, ""])
def test_matinee_env_file_switch_turns_dot_env_off(tmp_path: Path, switch: str) -> None:
    """The switch the test suite uses: a hostile `.env` in the current directory changes nothing."""
    write_env(tmp_path / ".env", DISCORD_TOKEN=TOKEN, LOG_LEVEL="loud", DATABASE_PATH="/dev/null/not-a-dir/m.db")
    result = matinee(cwd=tmp_path, MATINEE_ENV_FILE=switch)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == ["matinee: DISCORD_TOKEN is not set; see .env.example"]


def test_default_env_file(monkeypatch: pytest.MonkeyPatch) -> None:
    assert default_env_file() is None  # tests/conftest.py switched it off for the whole suite
    monkeypatch.delenv(ENV_FILE_VARIABLE)
    assert default_env_file() == Path(".env")
    assert default_env_file({ENV_FILE_VARIABLE: "/etc/matinee.env"}) == Path("/etc/matinee.env")
    assert default_env_file({ENV_FILE_VARIABLE: " "}) is None


def test_loader_reads_dot_env_in_the_current_directory_unless_switched_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_env(tmp_path / ".env", LOG_LEVEL="loud")
    monkeypatch.chdir(tmp_path)
    assert load_settings({"DISCORD_TOKEN": TOKEN}).log_level == "INFO"  # the suite's switch holds
    monkeypatch.delenv(ENV_FILE_VARIABLE)
    with pytest.raises(SettingsError, match=r"^LOG_LEVEL must be one of"):
        load_settings({"DISCORD_TOKEN": TOKEN})


def test_the_suite_never_sees_exported_settings() -> None:
    """tests/conftest.py removed every declared setting from the environment and turned `.env` off."""
    assert not SETTING_NAMES & set(os.environ)
    assert os.environ[ENV_FILE_VARIABLE] == os.devnull
