"""The one timestamp format Matinee stores, and reading it back.

Every table keeps times as UTC ISO-8601 text with milliseconds and a ``Z``
(2026-01-31T12:00:00.000Z): the format SQLite's ``strftime('%Y-%m-%dT%H:%M:%fZ')``
writes, so values written from Python and from SQL compare correctly as text.
"""

from __future__ import annotations

import datetime as dt

__all__ = ["parse_utc_iso", "utc_iso"]


def utc_iso(when: dt.datetime) -> str:
    """The stored form of ``when``; a naive datetime is taken to be UTC already."""
    when = when.astimezone(dt.UTC) if when.tzinfo else when.replace(tzinfo=dt.UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def parse_utc_iso(value: str | None) -> dt.datetime | None:
    """An aware UTC datetime from a stored timestamp; None when empty or unreadable (never raises)."""
    if not value:
        return None
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)
