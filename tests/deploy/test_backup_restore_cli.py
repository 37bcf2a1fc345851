"""`matinee backup`, `matinee restore` and the upgrade guard, driven through the real command line."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main
from bot.storage.backup import latest_schema_version
from tests._environment import child_environment
from tests.bot.storage.test_backup import matinee_db
from tests.reliability._bot_process import BotProcessFactory


def matinee(cwd: Path, database: Path, *args: str, token: bool = False) -> subprocess.CompletedProcess[str]:
    env = child_environment(DATABASE_PATH=str(database), **({"DISCORD_TOKEN": "test-token"} if token else {}))
    return subprocess.run(
        [sys.executable, "-m", "bot", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def one_line(done: subprocess.CompletedProcess[str]) -> str:
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("matinee: "), done.stderr
    return lines[0]


def meta(path: Path, key: str) -> str | None:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]
    finally:
        conn.close()


def burst_rows(path: Path) -> int:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return conn.execute("SELECT count(*) FROM meta WHERE key LIKE 'burst:%'").fetchone()[0]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], database: Path, *args: str):
    """``matinee ARGS`` in this process (faster than a child): (exit code, stdout, stderr)."""
    monkeypatch.setenv("DATABASE_PATH", str(database))
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


async def test_backup_and_restore_through_the_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    database = await matinee_db(tmp_path / "data" / "matinee.db", era="before")
    code, out, _ = cli(monkeypatch, capsys, database, "backup", "nightly.db")
    assert code == 0 and "backed up" in out and "nightly.db" in out
    assert meta(tmp_path / "nightly.db", "era") == "before"

    code, _, err = cli(monkeypatch, capsys, database, "backup", "nightly.db")
    assert code == 2 and err == "matinee: nightly.db already exists; add --force to overwrite it\n"
    kept = digest(tmp_path / "nightly.db")
    await matinee_db(database, later="yes")
    assert digest(tmp_path / "nightly.db") == kept
    code, _, _ = cli(monkeypatch, capsys, database, "backup", "nightly.db", "--force")
    assert code == 0 and meta(tmp_path / "nightly.db", "later") == "yes"

    folder = tmp_path / "backups"
    folder.mkdir()
    code, _, _ = cli(monkeypatch, capsys, database, "backup", str(folder))
    assert code == 0 and len(list(folder.glob("matinee-*.db"))) == 1

    await matinee_db(database, written_after_backup="lost?")
    code, out, err = cli(monkeypatch, capsys, database, "restore", "nightly.db")
    assert code == 0, err
    assert out.startswith(f"restored nightly.db to {database}") and "kept as" in out
    assert meta(database, "written_after_backup") is None and meta(database, "later") == "yes"
    kept_as = next(database.parent.glob("matinee.db.before-restore-*"))
    assert meta(kept_as, "written_after_backup") == "lost?", "the replaced database is kept"

    code, _, err = cli(monkeypatch, capsys, database, "restore", "no-such-backup.db")
    assert code == 2 and err == "matinee: no backup at no-such-backup.db\n"


def newer_database(path: Path) -> Path:
    """A database a future Matinee wrote: one migration further than this one knows."""
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE from_the_future (id INTEGER PRIMARY KEY)")
    conn.execute(f"PRAGMA user_version = {latest_schema_version() + 1}")
    conn.close()
    return path


@pytest.mark.parametrize(
    "args",
    [
        ("run",),
        ("export", "--review", "1"),
        ("forget", "1234"),
        ("films", "import", "films.csv"),
    ],
    ids=lambda args: " ".join(args),
)
async def test_a_database_from_a_newer_matinee_is_refused_untouched(tmp_path: Path, args: tuple[str, ...]) -> None:
    database = newer_database(await matinee_db(tmp_path / "matinee.db", keep="me"))
    (tmp_path / "films.csv").write_text("title,year\nChungking Express,1994\n")
    before = digest(database)
    # `run` fails before it contacts Discord: no network, no Discord double needed.
    done = matinee(tmp_path, database, *args, token=args[0] == "run")
    assert done.returncode == 2
    line = one_line(done)
    assert f"schema version {latest_schema_version() + 1}, newer than this Matinee ({latest_schema_version()})" in line
    assert "upgrade Matinee" in line and "Traceback" not in done.stderr + done.stdout
    assert digest(database) == before, "not even half-migrated"
    assert not Path(f"{database}-wal").exists() or Path(f"{database}-wal").stat().st_size == 0


async def test_restore_refuses_a_backup_from_a_newer_matinee(tmp_path: Path) -> None:
    database = await matinee_db(tmp_path / "matinee.db", era="current")
    backup = newer_database(await matinee_db(tmp_path / "future.db"))
    before = digest(database)
    done = matinee(tmp_path, database, "restore", str(backup))
    assert done.returncode == 2
    assert "newer than this Matinee" in one_line(done) and "upgrade Matinee, then restore" in done.stderr
    assert digest(database) == before


@pytest.mark.slow
async def test_backup_while_the_bot_runs_and_restore_only_once_it_stopped(
    bot_process: BotProcessFactory, tmp_path: Path
) -> None:
    database = bot_process.database_path
    bot = await bot_process.spawn(MATINEE_TEST_BURST="20000")
    await bot.wait_ready()
    while "BURST_STARTED" not in bot.stdout:  # the bot is writing now
        assert bot.proc.returncode is None, bot.output
        await asyncio.sleep(0.05)

    backup = tmp_path / "live-backup.db"
    done = await asyncio.to_thread(matinee, tmp_path, database, "backup", str(backup))
    assert done.returncode == 0, done.stderr
    with contextlib.closing(sqlite3.connect(backup)) as copy:
        assert copy.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    copied_rows = burst_rows(backup)
    assert copied_rows > 0

    refused = await asyncio.to_thread(matinee, tmp_path, database, "restore", str(backup))
    assert refused.returncode == 2
    assert f"in use by matinee run (pid {bot.proc.pid}); stop it first" in one_line(refused)
    second = await asyncio.to_thread(matinee, tmp_path, database, "run", token=True)
    assert second.returncode == 2 and "in use by matinee run" in one_line(second), "two bots never share a database"

    assert await bot.kill() == -signal.SIGKILL  # no clean-up: only the kernel releases the lock
    assert copied_rows <= burst_rows(database)
    restored = await asyncio.to_thread(matinee, tmp_path, database, "restore", str(backup))
    assert restored.returncode == 0, restored.stderr
    assert burst_rows(database) == copied_rows

    bot = await bot_process.start()  # the bot starts on the restored database
    bot.send_signal(signal.SIGTERM)
    assert await bot.wait_exit() == 0, bot.output
