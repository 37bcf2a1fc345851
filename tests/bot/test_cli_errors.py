"""Things an operator does by mistake end in one clear line and exit code 2, never a traceback.

Each case is what the issue-15 walkthrough hit, run through the real ``matinee`` command line.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests._environment import child_environment
from tests.bot.conftest import run_unprivileged

TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GAbcde.abcdefghijklmnopqrstuvwxyz0123456789"


def matinee(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    settings = {"DATABASE_PATH": str(tmp_path / "m.db"), "DISCORD_API_BASE": "http://127.0.0.1:9/api/v10", **env}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=tmp_path, env=child_environment(**settings), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    """The one error line of a run that exited 2 (INFO log lines, such as migrations applied, may precede it)."""
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("matinee: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], result.stderr
    assert all(" INFO " in line for line in lines[:-1]), result.stderr
    return errors[0]


def test_forget_with_a_23_digit_id(tmp_path: Path) -> None:
    line = one_line(matinee(tmp_path, "forget", "12345678901234567890123"))
    assert "is not a Discord user id" in line and "up to 19 digits" in line


def test_films_import_with_batch_size_0(tmp_path: Path) -> None:
    (tmp_path / "films.csv").write_text("title,year\nIn the Mood for Love,2000\n")
    line = one_line(matinee(tmp_path, "films", "import", "films.csv", "--batch-size", "0"))
    assert "--batch-size must be at least 1" in line


def test_films_import_of_a_csv_whose_columns_do_not_match(tmp_path: Path) -> None:
    (tmp_path / "films.csv").write_text("film_name,released\nIn the Mood for Love,2000\n")
    line = one_line(matinee(tmp_path, "films", "import", "films.csv"))
    assert "its columns are 'film_name', 'released'" in line  # what the file has
    assert "needs a 'title' (or 'name') column" in line  # and what is needed


def test_run_with_a_database_path_whose_parent_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "plain").write_text("")
    line = one_line(matinee(tmp_path, "run", DISCORD_TOKEN=TOKEN, DATABASE_PATH=str(tmp_path / "plain" / "m.db")))
    assert f"{tmp_path / 'plain'} is a file, not a directory" in line


def test_run_with_a_read_only_database_directory(shared_dir: Path) -> None:
    readonly = shared_dir / "ro"
    readonly.mkdir()
    readonly.chmod(0o555)

    def run() -> tuple[int, str]:
        from bot.cli import main

        os.environ.update(DISCORD_TOKEN=TOKEN, DATABASE_PATH=str(readonly / "m.db"))
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            code = main(["run"])
        return code, err.getvalue()

    code, err = run_unprivileged(run)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert f"the database's directory {readonly}" in err and "not writable" in err and "corrupt" not in err


@pytest.mark.parametrize("command", [("sync",)])
def test_commands_that_need_discord_say_so_in_one_line_when_offline(tmp_path: Path, command: tuple[str, ...]) -> None:
    line = one_line(matinee(tmp_path, *command, DISCORD_TOKEN=TOKEN))
    assert "cannot reach Discord" in line and "connection refused" in line
