"""bot.timestamps: the stored timestamp format, written from Python and read back."""

from __future__ import annotations

import datetime as dt
import sqlite3

import pytest

from bot.timestamps import parse_utc_iso, utc_iso


def test_utc_iso_is_utc_with_milliseconds_and_z() -> None:
    plus_two = dt.timezone(dt.timedelta(hours=2))
    assert utc_iso(dt.datetime(2026, 1, 31, 14, 0, 0, 123456, tzinfo=plus_two)) == "2026-01-31T12:00:00.123Z"
    assert utc_iso(dt.datetime(2026, 1, 31, 12, 0)) == "2026-01-31T12:00:00.000Z"  # naive counts as UTC


def test_parse_round_trips_and_naive_reads_as_utc() -> None:
    when = dt.datetime(2026, 1, 31, 12, 0, 0, 123000, tzinfo=dt.UTC)
    assert parse_utc_iso(utc_iso(when)) == when
    assert parse_utc_iso("2026-01-31T12:00:00") == dt.datetime(2026, 1, 31, 12, tzinfo=dt.UTC)


@pytest.mark.parametrize("value", [None, "", "yesterday", "2026-13-01T00:00:00Z"])
def test_parse_returns_none_for_missing_or_unreadable(value) -> None:
    assert parse_utc_iso(value) is None


def test_python_and_sqlite_write_the_same_format() -> None:
    """Columns are stamped by SQL defaults (strftime) and by Python (utc_iso): one format, equal as text."""
    when = dt.datetime(2026, 1, 31, 12, 0, 5, 123000, tzinfo=dt.UTC)
    with sqlite3.connect(":memory:") as conn:
        from_sql = conn.execute("SELECT strftime('%Y-%m-%dT%H:%M:%fZ', '2026-01-31 12:00:05.123')").fetchone()[0]
    assert from_sql == utc_iso(when) == "2026-01-31T12:00:05.123Z"
    assert parse_utc_iso(from_sql) == when
