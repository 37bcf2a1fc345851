"""``matinee web`` processes (read-only, several on one database) and ``matinee export --all``."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
import pytest

from bot.storage import Database, ReviewRepository
from bot.storage.web import WebRepository
from bot.web.static_export import export_all
from tests.web._seed import read_event, seed

REPO_ROOT = Path(__file__).resolve().parents[2]


def _env(database: Path, **extra: str) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(database.parent),
        "PYTHONPATH": str(REPO_ROOT),
        "DATABASE_PATH": str(database),
        "LOG_LEVEL": "INFO",
        **extra,
    }


@contextlib.asynccontextmanager
async def matinee_web(
    database: Path, *args: str, **extra: str
) -> AsyncIterator[tuple[str, asyncio.subprocess.Process]]:
    """A `matinee web --port 0` process (with ``args``); yields its URL once it serves."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "--env-file", os.devnull, "web", "--port", "0", *args,
        env=_env(database, **extra), cwd=database.parent,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        url = None
        assert process.stderr is not None
        while url is None:
            line = (await asyncio.wait_for(process.stderr.readline(), 30)).decode()
            assert line, "matinee web exited before serving"
            match = re.search(r"serving (http://\S+)", line)
            url = match.group(1) if match else None
        yield url, process
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(process.wait(), 15)
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_several_read_only_processes_serve_one_database_with_live_updates(tmp_path: Path) -> None:
    database = tmp_path / "matinee.db"
    seeded = await seed(database)
    await seeded.comment("before the servers started")
    before = database.stat().st_size
    async with matinee_web(database) as (first, one), matinee_web(database) as (second, _):
        async with aiohttp.ClientSession() as session:
            streams = []
            for base in (first, second):
                async with session.get(base + "/healthz") as response:
                    assert (await response.json())["role"] == "standalone"
                async with session.get(base + "/v1/comments", params={"review": "chungking-express"}) as response:
                    doc = await response.json()
                    assert doc["comment_count"] == 1
                params = {"review": "chungking-express", "since": str(doc["seq"])}
                streams.append(await session.get(base + "/v1/events", params=params))
                assert (await read_event(streams[-1]))["event"] == "ready"
            # Another process (here: the test, standing in for the bot) writes; both servers push it.
            await seeded.comment("written while they serve")
            for stream in streams:
                event = await asyncio.wait_for(read_event(stream), 15)
                assert event["event"] == "comment"
                assert json.loads(event["data"])["comment"]["content"] == "written while they serve"
                stream.close()
        one.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(one.wait(), 15) == 0
    await seeded.db.close()
    # Read-only: the servers never wrote (the database file only grew from the test's own writes).
    db = await Database.open(database)
    assert await db.fetchval("SELECT count(*) FROM comments") == 2
    await db.close()
    assert database.stat().st_size >= before


def _children(pid: int) -> set[int]:
    """The live child processes of ``pid`` (Linux /proc)."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return {int(child) for child in path.read_text().split()} if path.exists() else set()


def _alive(pid: int) -> bool:
    """True while ``pid`` runs: a zombie (ended, not yet reaped by whoever adopted it) counts as ended."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


async def _until(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


async def _served(url: str, connections: int) -> list[int]:
    """The statuses of ``/v1/comments`` asked on ``connections`` separate connections."""
    statuses = []
    params = {"review": "chungking-express"}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as session:
        for _ in range(connections):
            async with session.get(url + "/v1/comments", params=params) as response:
                statuses.append(response.status)
    return statuses


async def test_workers_share_one_port_a_dead_one_is_restarted_and_sigterm_stops_them_all(tmp_path: Path) -> None:
    database = tmp_path / "matinee.db"
    seeded = await seed(database)
    await seeded.comment("served by every worker")
    async with matinee_web(database, "--workers", "2") as (url, process):
        await _until(lambda: len(_children(process.pid)) == 2, "two workers")
        workers = _children(process.pid)
        assert await _served(url, 6) == [200] * 6

        victim = min(workers)
        os.kill(victim, signal.SIGKILL)
        await _until(lambda: victim not in _children(process.pid) and len(_children(process.pid)) == 2,
                     "the dead worker to be replaced")  # fmt: skip
        assert await _served(url, 6) == [200] * 6  # the survivor and the new worker both serve
        assert process.returncode is None

        workers = _children(process.pid)
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 30) == 0
        await _until(lambda: not any(_alive(pid) for pid in workers), "every worker to stop")
    await seeded.db.close()


async def test_workers_end_when_their_supervisor_is_killed(tmp_path: Path) -> None:
    database = tmp_path / "matinee.db"
    seeded = await seed(database)
    async with matinee_web(database, "--workers", "2") as (url, process):
        await _until(lambda: len(_children(process.pid)) == 2, "two workers")
        workers = _children(process.pid)
        process.kill()  # SIGKILL: the supervisor cannot stop anyone itself
        await process.wait()
        await _until(lambda: not any(_alive(pid) for pid in workers), "the orphaned workers to stop")
        with pytest.raises(aiohttp.ClientConnectionError):
            await _served(url, 1)
    await seeded.db.close()


async def test_workers_are_refused_outside_their_range_and_a_bad_database_stops_before_any_fork(
    tmp_path: Path,
) -> None:
    database = tmp_path / "old.db"
    db = await Database.open(database)
    await db.execute("PRAGMA user_version = 3")
    await db.close()
    for args, message in ((["--workers", "0"], "--workers must be from 1 to 64"),
                          (["--workers", "2"], "older than this Matinee")):  # fmt: skip
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "--env-file", os.devnull, "web", "--port", "0", *args,
            env=_env(database), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        _, err = await asyncio.wait_for(process.communicate(), 30)
        assert process.returncode == 2, err
        assert err.decode().count(message) == 1, err


async def test_matinee_web_refuses_a_database_it_would_have_to_migrate(tmp_path: Path) -> None:
    database = tmp_path / "old.db"
    db = await Database.open(database)
    await db.execute("PRAGMA user_version = 3")
    await db.close()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "--env-file", os.devnull, "web", "--port", "0",
        env=_env(database), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 2
    assert "older than this Matinee" in err.decode() and "matinee run" in err.decode()
    missing = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "--env-file", os.devnull, "web",
        env=_env(tmp_path / "nothing.db"), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await asyncio.wait_for(missing.communicate(), 30)
    assert missing.returncode == 2 and "no database" in err.decode()


def _export(database: Path, directory: Path, *extra: str) -> tuple[int, str]:
    import subprocess

    done = subprocess.run(
        [sys.executable, "-m", "bot", "--env-file", os.devnull, "export", "--all", "--dir", str(directory), *extra],
        env=_env(database), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    return done.returncode, done.stderr


@pytest.mark.slow
async def test_export_all_writes_one_public_file_per_review_and_nothing_when_nothing_changed(tmp_path: Path) -> None:
    database = tmp_path / "matinee.db"
    seeded = await seed(database)
    await seeded.comment("public")
    await seeded.db.execute(
        "INSERT INTO reviews (id, source, source_key, slug, title) VALUES (2, 'markdown', 'p.md', 'Paris, Texas!', 'P')"
    )
    await seeded.db.execute("INSERT INTO web_member_prefs (guild_id, user_id, show) VALUES (900, 42, 0)")
    await seeded.comment("an opted-out member's", author=42)
    out = tmp_path / "site" / "data" / "comments"

    code, err = await asyncio.to_thread(_export, database, out)
    assert code == 0, err
    assert "wrote 2 files, 0 unchanged" in err
    chungking = json.loads((out / "chungking-express.json").read_text())
    assert chungking["format"] == "matinee.comments/1" and "seq" not in chungking
    assert [c["content"] for c in chungking["comments"]] == ["public"]  # the public view, as the API serves it
    assert (out / "paris-texas.json").is_file()
    stamps = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}

    code, err = await asyncio.to_thread(_export, database, out)
    assert code == 0 and "wrote 0 files, 2 unchanged" in err
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == stamps  # nothing was written

    await seeded.comment("a new one")
    code, err = await asyncio.to_thread(_export, database, out)
    assert "wrote 1 files, 1 unchanged" in err
    assert len(json.loads((out / "chungking-express.json").read_text())["comments"]) == 2
    assert (out / "paris-texas.json").stat().st_mtime_ns == stamps["paris-texas.json"]

    code, err = await asyncio.to_thread(_export, database, out, "--out", "x.json")
    assert code == 2 and "--out" in err
    await seeded.db.close()


async def test_export_all_follows_a_renamed_review_and_removes_only_its_old_file(tmp_path: Path) -> None:
    seeded = await seed(tmp_path / "matinee.db")
    out = tmp_path / "comments"
    repository = WebRepository(seeded.db)
    assert [p.name for p in (await export_all(repository, out)).written] == ["chungking-express.json"]
    (out / "notes.json").write_text("{}")  # the site's own file: never touched
    # The post moves to a new address: the review takes the new slug, and its file the new name.
    await ReviewRepository(seeded.db).update_content(
        seeded.review_id, {"url": "https://blog.example/2026/11/24/chungking-express-revisited/", "content_hash": "m"}
    )
    done = await export_all(repository, out)
    assert [p.name for p in done.written] == ["chungking-express-revisited.json"]
    assert [p.name for p in done.removed] == ["chungking-express.json"]
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == [
        "chungking-express-revisited.json",
        "notes.json",
    ]
    await seeded.db.close()
