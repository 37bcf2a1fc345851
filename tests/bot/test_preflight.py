"""`matinee doctor` works with no token and no network, and says what is missing."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from bot.preflight import (
    Status,
    application_id_from_token,
    check_database,
    invite_permissions,
    invite_url,
    run_checks,
)
from bot.reviews.fetch import PRIVATE_NETWORKS_REFUSED
from bot.settings import Secret, Settings
from tests._environment import child_environment


def run_doctor(env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", "--env-file", str(cwd / "missing.env"), "doctor"],
        cwd=cwd,
        env=child_environment(**env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_doctor_without_token_reports_it_and_prints_a_template_invite(tmp_path: Path) -> None:
    result = run_doctor({"DATABASE_PATH": str(tmp_path / "m.db")}, tmp_path)
    assert result.returncode == 1
    assert "[FAIL] discord token" in result.stdout
    assert "DISCORD_TOKEN is not set" in result.stdout
    assert "client_id=YOUR_APPLICATION_ID" in result.stdout
    assert "does not exist yet" in result.stdout
    assert not (tmp_path / "m.db").exists()  # doctor never creates the database


def test_doctor_reports_unreachable_integrations_without_hanging(tmp_path: Path) -> None:
    env = {
        "DISCORD_TOKEN": "MTIzNDU2Nzg5MDEyMzQ1Njc4.GAbcde.abcdefghijklmnopqrstuvwxyz0123456789",
        "DATABASE_PATH": str(tmp_path / "m.db"),
        # Port 9 on loopback: nothing listens, so the checks fail fast without any network.
        "REVIEW_FEEDS": "http://127.0.0.1:9/feed",
        "OPENAI_BASE_URL": "http://127.0.0.1:9/v1",
        "OPENAI_API_KEY": "sk-doctor-secret",
        "TMDB_API_KEY": "tmdb-doctor-secret",
        "TMDB_API_BASE": "http://127.0.0.1:9/3",
    }
    env["REVIEWS_DIR"] = str(tmp_path)
    env["FEED_ALLOW_PRIVATE_NETWORKS"] = "true"
    env["DISCORD_API_BASE"] = "http://127.0.0.1:9/api/v10"
    result = run_doctor(env, tmp_path)
    # Nothing answered: the machine looks offline, so nothing is "ok" and nothing is blamed either.
    assert result.returncode == 3, result.stdout
    assert "[??  ] discord token" in result.stdout and "could not check" in result.stdout
    assert "[??  ] feed http://127.0.0.1:9/feed" in result.stdout
    assert "[??  ] openai" in result.stdout and "[??  ] tmdb" in result.stdout
    assert "[ok  ] discord token" not in result.stdout
    assert "client_id=123456789012345678" in result.stdout
    for secret in ("sk-doctor-secret", "tmdb-doctor-secret", env["DISCORD_TOKEN"]):
        assert secret not in result.stdout + result.stderr


def test_invite_url_has_exactly_the_needed_scopes_and_permissions() -> None:
    settings = Settings(discord_token=Secret("MTIzNDU2Nzg5MDEyMzQ1Njc4.GAbcde.abcdefghijklmnopqrstuvwxyz0123"))
    url, real = invite_url(settings)
    query = parse_qs(urlparse(url).query)
    assert real and query["client_id"] == ["123456789012345678"]
    assert query["scope"] == ["bot applications.commands"]
    permissions = invite_permissions()
    assert query["permissions"] == [str(permissions.value)]
    assert permissions.send_polls and permissions.create_public_threads and permissions.read_message_history
    assert not (permissions.administrator or permissions.mention_everyone or permissions.manage_guild)


def test_token_shape_and_corrupt_database_are_reported(tmp_path: Path) -> None:
    assert application_id_from_token("not a token") is None
    corrupt = tmp_path / "bad.db"
    corrupt.write_bytes(b"garbage" * 100)
    result = check_database(corrupt)
    assert not result.ok and "not a SQLite database" in result.detail
    assert corrupt.read_bytes() == b"garbage" * 100


async def test_doctor_refuses_a_private_feed_exactly_as_the_bot_does(tmp_path: Path) -> None:
    """The feed check goes through the bot's feeds session, so its policy (and message) is the bot's."""
    feed = "http://127.0.0.1:9/feed"
    base = Settings(
        discord_token=None, database_path=tmp_path / "m.db", reviews_dir=tmp_path, review_feeds=(feed,),
        discord_api_base="http://127.0.0.1:9/api/v10",
    )  # fmt: skip
    refused = {r.name: r for r in await run_checks(base)}[f"feed {feed}"]
    assert refused.status is Status.FAIL
    assert refused.detail.startswith(PRIVATE_NETWORKS_REFUSED)  # the bot's own words (/matinee feed add)
    allowed = {r.name: r for r in await run_checks(replace(base, feed_allow_private_networks=True))}[f"feed {feed}"]
    # Nothing listens on port 9 and nothing else answered: "could not check", never ok.
    assert allowed.status is Status.UNCHECKED and "cannot connect to 127.0.0.1" in allowed.detail


async def test_no_reviews_dir_is_reported_as_none_not_as_the_samples(tmp_path: Path) -> None:
    settings = Settings(
        discord_token=None, database_path=tmp_path / "m.db", discord_api_base="http://127.0.0.1:9/api/v10"
    )
    assert settings.reviews_dir is None
    found = {r.name: r for r in await run_checks(settings)}["reviews dir"]
    assert found.ok and "no Markdown folder" in found.detail and "data/reviews" not in found.detail
