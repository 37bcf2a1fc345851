"""A hostile `.env` in the checkout changes nothing: the suite stays green with it present.

The test copies the checkout into a temporary directory (it never writes into the
real one), puts a `.env` there whose every value would break a test that read it
(a token, ``LOG_LEVEL=loud``, a database path under a file), exports two more bad
settings the way a developer's shell might, and runs pytest in the copy as
``make test`` would: from the checkout root, without the suite's own switch in the
environment. Only ``tests/conftest.py`` and ``tests/_environment.py`` stand
between those values and the tests.

It runs a representative slice, not the whole suite (which takes 6-8 minutes and
would double the suite's time): every kind of test that could read settings, i.e.
unit tests of the loader, an in-process CLI command, CLI commands in child
processes (``matinee doctor``, ``export``, ``forget``), the in-process bot against
the Discord double, and ``matinee run`` in a child process, both through
``tests/reliability/_bot_process.py`` and as ``python -m bot run``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from bot.settings import ENV_FILE_VARIABLE

ROOT = Path(__file__).resolve().parents[1]
NESTED = "MATINEE_DOTENV_PROOF"  # set in the inner run, so this test never runs itself

SLICE = (
    "tests/bot/test_settings.py",  # the loader, and `matinee` in child processes
    "tests/bot/test_preflight.py",  # `matinee doctor` in a child process
    "tests/bot/films/test_importer.py::test_cli_import_shows_progress_and_is_rerunnable",  # CLI in-process
    "tests/cogs/test_cogs.py",  # Settings built by a test, extensions loaded
    "tests/test_docs.py",
    "tests/e2e/test_smoke.py",  # the real bot in-process against the Discord double
    "tests/e2e/test_discussions_privacy_export.py::test_cli_export_and_forget",  # CLI children, inherited env
    "tests/e2e/test_reviews_sigkill.py",  # `python -m bot run` in a child, inherited env
    "tests/reliability/test_secrets.py::test_debug_logs_of_a_real_run_contain_no_secret",  # _bot_process child
)
NOT_COPIED = shutil.ignore_patterns(
    ".git", ".venv", "__pycache__", ".pytest_cache", ".ruff_cache", "*.egg-info", "build", "dist",
    ".env", "*.db", "*.db-*", "exports",
)  # fmt: skip


def hostile_dotenv(checkout: Path) -> str:
    return (
        "DISCORD_TOKEN=MTIzNDU2Nzg5MDEyMzQ1Njc4.GAbcde.abcdefghijklmnopqrstuvwxyz0123456789\n"
        "LOG_LEVEL=loud\n"
        f"DATABASE_PATH={checkout / 'pyproject.toml' / 'matinee.db'}\n"  # under a file: can never be created
    )


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.skipif(bool(os.environ.get(NESTED)), reason="already inside the hostile-.env run")
def test_a_hostile_dotenv_in_the_checkout_leaves_the_suite_green(tmp_path: Path) -> None:
    checkout = tmp_path / "checkout"
    shutil.copytree(ROOT, checkout, ignore=NOT_COPIED)
    dotenv = checkout / ".env"
    dotenv.write_text(hostile_dotenv(checkout))
    report = tmp_path / "report.xml"
    env = {k: v for k, v in os.environ.items() if k not in (ENV_FILE_VARIABLE, "PYTEST_ADDOPTS", "PYTEST_CURRENT_TEST")}
    env.update({NESTED: "1", "OPENAI_BASE_URL": "ftp://exported.invalid", "FEED_POLL_SECONDS": "soon"})

    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}", *SLICE],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
    )

    output = result.stdout[-6000:] + result.stderr[-2000:]
    assert result.returncode == 0, output
    cases = ET.parse(report).getroot().iter("testcase")
    outcomes = {f"{c.get('classname')}::{c.get('name')}": [child.tag for child in c] for c in cases}
    assert not {case: tags for case, tags in outcomes.items() if {"failure", "error", "skipped"} & set(tags)}
    ran_files = {case.split("::", 1)[0] for case in outcomes}
    for selected in SLICE:  # every part of the slice really ran in the copy
        module = selected.split("::", 1)[0].removesuffix(".py").replace("/", ".")
        assert module in ran_files, f"{selected} did not run:\n{output}"
    assert len(outcomes) >= 40
    assert dotenv.read_text() == hostile_dotenv(checkout)  # nobody rewrote or removed it
    assert not list(checkout.rglob("*.db")), "a test created a database in the checkout (default settings?)"
