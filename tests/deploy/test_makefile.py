"""`make run` and `make test` install only when pyproject.toml changed.

The Makefile runs in a scratch copy of the project with a stand-in for Python that
creates the venv layout and records every pip command, so the test sees exactly
which starts would reinstall, without touching the network or the real `.venv`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy(ROOT / name, tmp_path / name)
    log = tmp_path / "pip.log"
    fake = tmp_path / "fake-python"
    # `-c` (the Makefile hashes pyproject.toml with it) runs the real interpreter; `-m venv` makes
    # the venv's python another copy of this script; anything else (pip) is only recorded.
    fake.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = "-c" ]; then exec {sys.executable} "$@"; fi\n'
        'if [ "$1" = "-m" ] && [ "$2" = "venv" ]; then mkdir -p "$3/bin" && cp "$0" "$3/bin/python"; exit 0; fi\n'
        f'echo "$*" >> {log}\n'
    )
    fake.chmod(0o755)
    return tmp_path


def make(project: Path, target: str) -> list[str]:
    """Run ``make target`` and return the pip commands it ran."""
    log = project / "pip.log"
    before = log.read_text().splitlines() if log.exists() else []
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    done = subprocess.run(
        ["make", "--no-print-directory", target, f"PYTHON={project / 'fake-python'}"],
        cwd=project, capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    after = log.read_text().splitlines() if log.exists() else []
    return after[len(before) :]


def test_second_install_does_nothing_until_pyproject_changes(project: Path) -> None:
    first = make(project, "install")
    assert first == ["-m pip install --quiet --upgrade pip", "-m pip install --quiet -e ."]
    assert make(project, "install") == []

    assert make(project, "install-test") == ["-m pip install --quiet -e .[test]"]
    assert make(project, "install-test") == []
    assert make(project, "install") == [], "the test extra already holds everything `install` installs"

    pyproject = project / "pyproject.toml"
    os.utime(pyproject)  # a newer mtime alone (a checkout, a touch) is no change
    assert make(project, "install-test") == []

    pyproject.write_text(pyproject.read_text() + "\n# a changed dependency list\n")
    assert make(project, "install") == ["-m pip install --quiet -e ."]
    assert make(project, "install") == []
    assert make(project, "install-test") == ["-m pip install --quiet -e .[test]"]
    stamps = sorted(p.name for p in (project / ".venv").glob(".installed-*"))
    assert len(stamps) == 2, f"stamps of the old pyproject.toml are removed: {stamps}"


def test_run_and_test_targets_use_the_stamps(project: Path) -> None:
    make(project, "install-test")
    for target, command in (("run", ".venv/bin/matinee start"), ("test", ".venv/bin/python -m pytest -q")):
        planned = subprocess.run(
            ["make", "--no-print-directory", "-n", target, f"PYTHON={project / 'fake-python'}"],
            cwd=project, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert planned.stdout.strip().splitlines() == [command], planned.stdout
