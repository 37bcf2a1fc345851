"""`matinee doctor` says ok only when the thing really works.

Every check runs against a loopback double of the real service: Discord (``bot.discord_double``),
an OpenAI-compatible model (``OpenAIStub``), TMDB (``TmdbStub``) and a blog (``FeedServer``).
Settings are built here; no `.env` is read.
"""

from __future__ import annotations

import asyncio
import base64
import sqlite3
import sys
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bot.discord_api import GATEWAY_MESSAGE_CONTENT_LIMITED, MESSAGE_CONTENT_STEP
from bot.discord_double import DiscordDouble
from bot.preflight import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_UNCHECKED,
    CheckResult,
    Status,
    check_database,
    exit_code,
    run_checks,
)
from bot.reviews.fetch import PRIVATE_NETWORKS_REFUSED
from bot.settings import Secret, Settings
from bot.storage import Database, FeedRepository
from tests._environment import child_environment
from tests.bot.conftest import run_unprivileged
from tests.doubles.feed_server import FeedServer, rss_feed
from tests.doubles.openai_stub import OpenAIStub
from tests.doubles.tmdb_stub import TmdbStub

CLOSED = "http://127.0.0.1:9"  # nothing listens on loopback port 9: "the network is down"


def token_for(double: DiscordDouble) -> str:
    """A token shaped like Discord's: its first segment is the application id in base64."""
    head = base64.b64encode(str(double.application_id).encode()).decode().rstrip("=")
    return f"{head}.GdOcTr.{'x' * 38}"


@pytest.fixture
async def discord() -> AsyncIterator[DiscordDouble]:
    double = DiscordDouble()
    await double.start()
    double.token = token_for(double)  # any other token gets Discord's 401
    try:
        yield double
    finally:
        await double.stop()


@pytest.fixture
async def blog() -> AsyncIterator[FeedServer]:
    async with FeedServer() as server:
        item = {"title": "Chungking Express", "link": "https://blog.example/chungking/", "guid": "p1"}
        server.serve("/feed/", rss_feed([item]))
        server.serve("/page/", "<!doctype html><html><body>Welcome to my blog</body></html>", content_type="text/html")
        yield server


def settings_for(tmp_path: Path, discord: DiscordDouble | None = None, **changes: Any) -> Settings:
    base = Settings(
        discord_token=Secret(token_for(discord)) if discord else None,
        discord_api_base=discord.api_base if discord else f"{CLOSED}/api/v10",
        database_path=tmp_path / "m.db",
        reviews_dir=tmp_path,
    )
    return replace(base, **changes)


def by_name(results: list[CheckResult]) -> dict[str, CheckResult]:
    return {r.name: r for r in results}


async def test_everything_configured_and_working_is_ok_and_exits_0(
    tmp_path: Path, discord: DiscordDouble, blog: FeedServer
) -> None:
    async with OpenAIStub(api_key="sk-right") as model, TmdbStub(api_key="tmdb-right") as tmdb:
        settings = settings_for(
            tmp_path, discord,
            review_feeds=(blog.url("/feed/"),), feed_allow_private_networks=True,
            openai_base_url=model.base_url, openai_api_key=Secret("sk-right"),
            tmdb_api_base=tmdb.base_url, tmdb_api_key=Secret("tmdb-right"),
        )  # fmt: skip
        results = await run_checks(settings)
    checks = by_name(results)
    assert all(r.status is Status.OK for r in results), results
    assert exit_code(results) == EXIT_OK
    assert f"id {discord.bot_user_id}" in checks["discord token"].detail
    assert checks["message content"].detail == "the Message Content intent is on"
    assert '"The Film Blog", 1 entries' in checks[f"feed {blog.url('/feed/')}"].detail
    assert "gpt-4o-mini is available" in checks["openai"].detail
    assert [r.path for r in tmdb.requests] == ["/3/configuration"]  # one cheap authenticated call
    asked = {r.path for r in discord.requests}
    assert {"/users/@me", "/applications/@me"} <= asked


async def test_message_content_intent_off_fails_with_the_developer_portal_step(
    tmp_path: Path, discord: DiscordDouble
) -> None:
    discord.application_flags = 0
    results = await run_checks(settings_for(tmp_path, discord))
    intent = by_name(results)["message content"]
    assert intent.status is Status.FAIL and MESSAGE_CONTENT_STEP in intent.detail
    assert "Privileged Gateway Intents" in intent.detail and "MESSAGE CONTENT INTENT" in intent.detail
    assert exit_code(results) == EXIT_FAILED
    discord.application_flags = GATEWAY_MESSAGE_CONTENT_LIMITED  # fewer than 100 servers: the _LIMITED flag
    assert by_name(await run_checks(settings_for(tmp_path, discord)))["message content"].status is Status.OK


async def test_a_token_discord_rejects_fails(tmp_path: Path, discord: DiscordDouble) -> None:
    discord.token = "a-different-token"
    results = await run_checks(settings_for(tmp_path, discord))
    token = by_name(results)["discord token"]
    assert token.status is Status.FAIL and "Discord rejected DISCORD_TOKEN" in token.detail
    assert "Reset Token" in token.detail
    assert by_name(results)["message content"].status is Status.UNCHECKED


async def test_offline_could_not_check_never_ok(tmp_path: Path) -> None:
    settings = settings_for(
        tmp_path,
        discord_token=Secret("MTIzNDU2Nzg5MDEyMzQ1Njc4.GAbcde.abcdefghijklmnopqrstuvwxyz0123456789"),
        openai_base_url=f"{CLOSED}/v1", openai_api_key=Secret("sk"),
        tmdb_api_base=f"{CLOSED}/3", tmdb_api_key=Secret("t"),
    )  # fmt: skip
    results = await run_checks(settings)
    for name in ("discord token", "message content", "openai", "tmdb"):
        assert by_name(results)[name].status is Status.UNCHECKED, results
    assert "could not check" in by_name(results)["discord token"].detail
    assert exit_code(results) == EXIT_UNCHECKED


async def test_a_service_that_does_not_answer_while_others_do_fails(
    tmp_path: Path, discord: DiscordDouble
) -> None:
    """The network works (Discord answered), so a dead model endpoint is the model's failure, not "offline"."""
    settings = settings_for(tmp_path, discord, openai_base_url=f"{CLOSED}/v1", openai_api_key=Secret("sk"))
    results = await run_checks(settings)
    model = by_name(results)["openai"]
    assert model.status is Status.FAIL and "could not reach" in model.detail
    assert exit_code(results) == EXIT_FAILED


async def test_wrong_model_and_tmdb_keys_fail(tmp_path: Path) -> None:
    async with OpenAIStub(api_key="sk-right") as model, TmdbStub(api_key="tmdb-right") as tmdb:
        settings = settings_for(
            tmp_path,
            openai_base_url=model.base_url, openai_api_key=Secret("sk-wrong"),
            tmdb_api_base=tmdb.base_url, tmdb_api_key=Secret("tmdb-wrong"),
        )  # fmt: skip
        checks = by_name(await run_checks(settings))
        assert checks["openai"].status is Status.FAIL and "rejected OPENAI_API_KEY" in checks["openai"].detail
        assert checks["tmdb"].status is Status.FAIL and "rejected TMDB_API_KEY" in checks["tmdb"].detail
        missing = by_name(await run_checks(replace(settings, openai_api_key=Secret("sk-right"), openai_model="nope")))
        assert missing["openai"].status is Status.FAIL
        assert "does not offer OPENAI_MODEL=nope" in missing["openai"].detail


async def test_model_and_tmdb_not_configured_are_said_so(tmp_path: Path) -> None:
    checks = by_name(await run_checks(settings_for(tmp_path)))
    assert checks["openai"].status is Status.OFF and checks["openai"].detail.startswith("not configured")
    assert checks["tmdb"].status is Status.OFF and checks["tmdb"].detail.startswith("not configured")


async def test_feeds_are_fetched_through_the_bots_policy_and_parsed(
    tmp_path: Path, discord: DiscordDouble, blog: FeedServer
) -> None:
    feed, page = blog.url("/feed/"), blog.url("/page/")
    settings = settings_for(tmp_path, discord, review_feeds=(feed, page))
    refused = by_name(await run_checks(settings))
    for url in (feed, page):  # 127.0.0.1 is private: refused before any request, as the bot refuses it
        assert refused[f"feed {url}"].status is Status.FAIL
        assert refused[f"feed {url}"].detail.startswith(PRIVATE_NETWORKS_REFUSED)
    assert blog.requests == []
    allowed = by_name(await run_checks(replace(settings, feed_allow_private_networks=True)))
    assert allowed[f"feed {feed}"].status is Status.OK
    html = allowed[f"feed {page}"]
    assert html.status is Status.FAIL and "answered HTTP 200 (text/html), but" in html.detail


async def test_doctor_only_looks_at_a_rollback_journal_database(tmp_path: Path) -> None:
    """No switch to WAL, no -wal or -shm beside it: doctor reads the database (its added feed) and changes nothing."""
    path = tmp_path / "m.db"
    db = await Database.open(path)
    await db.migrate()
    feeds = FeedRepository(db)
    added = await feeds.ensure("https://blog.example/feed/")
    await feeds.subscribe(1, added.id, channel_id=None)
    await db.close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode = DELETE").fetchone()[0] == "delete"  # as a fresh copy would be
    conn.close()
    before = sorted(p.name for p in tmp_path.iterdir())
    assert before == ["m.db"]

    checks = by_name(await run_checks(settings_for(tmp_path)))

    assert checks["database"].status is Status.OK
    assert "feed https://blog.example/feed/" in checks  # the added feed was read from the database
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no m.db-wal, no m.db-shm
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    conn.close()


def test_a_read_only_database_directory_is_not_corrupt(shared_dir: Path) -> None:
    readonly = shared_dir / "ro"
    readonly.mkdir()
    readonly.chmod(0o555)
    result = run_unprivileged(lambda: check_database(readonly / "m.db"))
    assert result.status is Status.FAIL
    assert f"the database's directory {readonly}" in result.detail and "is not writable by" in result.detail
    assert "corrupt" not in result.detail and "restore" not in result.detail


def test_a_read_only_database_file_says_the_file(shared_dir: Path) -> None:
    writable = shared_dir / "rw"
    writable.mkdir()
    writable.chmod(0o777)  # the directory is fine: only the file is read-only
    path = writable / "m.db"
    sqlite3.connect(path).close()
    path.chmod(0o444)
    result = run_unprivileged(lambda: check_database(path))
    assert result.status is Status.FAIL and f"the database file {path} is read-only" in result.detail


def test_a_database_path_whose_parent_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "plain").write_text("")
    result = check_database(tmp_path / "plain" / "m.db")
    assert result.status is Status.FAIL and "is a file, not a directory" in result.detail


async def test_the_doctor_command_prints_each_check_and_exits_non_zero_on_a_failure(
    tmp_path: Path, discord: DiscordDouble
) -> None:
    discord.application_flags = 0
    env = child_environment(
        DISCORD_TOKEN=token_for(discord), DISCORD_API_BASE=discord.api_base,
        DATABASE_PATH=str(tmp_path / "m.db"), REVIEWS_DIR=str(tmp_path),
    )  # fmt: skip
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "doctor", cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    text = out.decode()
    assert proc.returncode == EXIT_FAILED, text + err.decode()
    assert "[ok  ] discord token" in text and "[FAIL] message content" in text
    assert "[--  ] openai" in text and "not configured" in text
    assert "1 check(s) failed" in text
    assert token_for(discord) not in text + err.decode()
