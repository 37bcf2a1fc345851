"""Shared start-up steps for CLI subcommands: settings, logging and clear failures."""

from __future__ import annotations

import sys
from pathlib import Path

from ..logs import setup_logging
from ..settings import DEFAULT_ENV_FILE, Settings, SettingsError, load_settings

__all__ = ["MAX_DISCORD_ID", "discord_id", "fail", "load_or_exit"]

# Discord ids are 64-bit snowflakes; SQLite stores signed 64-bit integers, and no snowflake
# reaches 2**63 before the 2080s, so the storable range is the valid range.
MAX_DISCORD_ID = 2**63 - 1


def fail(message: str, code: int = 2) -> int:
    print(f"matinee: {message}", file=sys.stderr)
    return code


def load_or_exit(env_file: str | None, *, require_token: bool = True, log_level: str | None = None) -> Settings:
    """Load settings or end the program with exit code 2 and one clear line.

    ``env_file`` is ``--env-file``; without it the loader's own default applies
    (``$MATINEE_ENV_FILE``, else ``.env`` in the current directory). ``log_level``
    overrides ``LOG_LEVEL`` (the sandbox keeps its terminal quiet).
    """
    try:
        named = DEFAULT_ENV_FILE if env_file is None else Path(env_file)
        settings = load_settings(env_file=named, require_token=require_token)
    except SettingsError as exc:
        raise SystemExit(fail(str(exc))) from None
    setup_logging(log_level or settings.log_level, settings.secrets())
    return settings


def discord_id(text: str) -> int | None:
    """``text`` as a Discord id (a snowflake: digits, 1 to :data:`MAX_DISCORD_ID`), or None."""
    text = text.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > len(str(MAX_DISCORD_ID)):
        return None
    value = int(text)
    return value if 0 < value <= MAX_DISCORD_ID else None
