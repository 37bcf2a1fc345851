"""Keep a developer's configuration away from the tests and from every process they start.

Two doors lead to real settings: a ``.env`` file (in the checkout, or in whatever
directory a process starts in) and variables exported in the developer's shell.
Either could carry a real bot token, and a test that read it would log the bot
into the real Discord. The suite closes both:

- :func:`isolate_process_environment` (run by ``tests/conftest.py`` when pytest
  loads it, and again before every test) removes every declared Matinee setting
  from ``os.environ`` and sets ``MATINEE_ENV_FILE=/dev/null``, which tells
  :func:`bot.settings.load_settings` to read no file. A child started with the
  inherited environment inherits that too.
- :func:`child_environment` builds the *whole* environment for a child process
  that a test starts: the few variables a Python process needs, the no-file
  switch, and only the settings the test names. Start such children in a
  temporary directory too (``cwd=tmp_path``), so the current directory holds no
  ``.env`` either.
"""

from __future__ import annotations

import os
from pathlib import Path

from bot.settings import ENV_FILE_VARIABLE, specs

__all__ = ["REPO_ROOT", "SETTING_NAMES", "child_environment", "isolate_process_environment"]

REPO_ROOT = Path(__file__).resolve().parents[1]
SETTING_NAMES = frozenset(spec.env for _name, spec, _default in specs())


def isolate_process_environment() -> None:
    """Drop the developer's exported settings and switch the `.env` file off for this process."""
    for name in SETTING_NAMES:
        os.environ.pop(name, None)
    os.environ[ENV_FILE_VARIABLE] = os.devnull


def child_environment(**overrides: str | None) -> dict[str, str]:
    """The complete environment for a child process: no `.env`, no setting the test did not choose.

    ``overrides`` add settings (or anything else); ``None`` removes a variable,
    e.g. ``MATINEE_ENV_FILE=None`` for a test of the production `.env` lookup.
    """
    env: dict[str, str | None] = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(REPO_ROOT),
        "PYTHONUNBUFFERED": "1",
        ENV_FILE_VARIABLE: os.devnull,
    }
    env.update(overrides)
    return {key: value for key, value in env.items() if value is not None}
