"""``matinee films import PATH``: load films into the catalog, with a progress bar on stderr."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import TextIO

from ..films.importer import (
    CSV_COLUMNS,
    DEFAULT_BATCH,
    FORMATS,
    FilmImportError,
    ImportProgress,
    ImportReport,
    import_films,
)
from ..storage import Database, StorageError
from ..storage.films import FilmRepository
from ._common import fail, load_or_exit


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "films",
        help="manage the film catalog",
        description="Manage the film catalog that /film, /rate and autocomplete search.",
        epilog="Example:\n  matinee films import films.csv",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="films_command", metavar="ACTION", required=True)
    importer = actions.add_parser(
        "import",
        help="import films from IMDb dataset files, CSV or JSON (safe to run again)",
        description=(
            "Import films into the catalog that /film and autocomplete search. IMDb: a folder with "
            "title.basics.tsv[.gz] (plus title.crew, name.basics and, optionally, title.ratings and "
            "title.akas); movies only. CSV (comma, semicolon or tab separated) and JSON columns: "
            f"{', '.join(CSV_COLUMNS)}; only title is required. Running it again adds nothing."
        ),
        epilog="Example:\n  matinee films import ~/imdb/ --batch-size 10000\n  matinee films import films.csv",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    importer.add_argument("path", type=Path, help="an IMDb folder (or its title.basics file), a .csv or a .json/.jsonl")
    importer.add_argument("--format", choices=FORMATS, help="file format (default: guessed from the path)")
    importer.add_argument("--batch-size", type=int, default=DEFAULT_BATCH, help="rows per transaction (default 5000)")
    importer.set_defaults(handler=handle_import)


class ProgressBar:
    """One self-overwriting line on a terminal; occasional plain lines otherwise."""

    def __init__(self, stream: TextIO | None = None, *, interval: float = 0.2) -> None:
        self.stream = stream or sys.stderr  # looked up now, not at import: tests and callers may swap it
        self.tty = self.stream.isatty()
        self.interval = interval if self.tty else 5.0
        self._last = 0.0
        self._started = time.monotonic()
        self._stage = ""

    def __call__(self, progress: ImportProgress) -> None:
        now = time.monotonic()
        new_stage = progress.stage != self._stage
        if not progress.done and not new_stage and now - self._last < self.interval:
            return
        if new_stage and self.tty and self._stage:
            self.stream.write("\n")  # keep the finished stage's last line
        self._last, self._stage = now, progress.stage
        c = progress.counts
        spinner = "|/-\\"[int(now * 8) % 4] if not progress.done else "✓"
        line = (
            f"{spinner} {progress.stage}: {progress.rows_read:,} rows read · {c.added:,} added · "
            f"{c.updated:,} updated · {c.unchanged:,} unchanged · {progress.skipped:,} skipped "
            f"({now - self._started:.0f} s)"
        )
        if self.tty:
            self.stream.write("\r\x1b[2K" + line + ("\n" if progress.done else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


async def run_import(
    database_path: Path, path: Path, fmt: str | None, batch_size: int, bar: ProgressBar
) -> ImportReport:
    db = await Database.open(database_path)
    try:
        await db.migrate()
        return await import_films(FilmRepository(db), path, fmt, batch_size=batch_size, progress=bar)
    finally:
        await db.close()


def handle_import(args: argparse.Namespace) -> int:
    settings = load_or_exit(args.env_file, require_token=False)
    if args.batch_size < 1:
        return fail(f"--batch-size must be at least 1 (rows per transaction; the default is {DEFAULT_BATCH})")
    bar = ProgressBar()
    try:
        report = asyncio.run(run_import(settings.database_path, args.path, args.format, args.batch_size, bar))
    except (FilmImportError, StorageError) as exc:
        return fail(str(exc))
    except KeyboardInterrupt:
        return fail("interrupted; batches already committed are kept, and running the import again is safe", 130)
    c = report.counts
    print(
        f"Imported {report.format}: {c.added:,} added, {c.updated:,} updated, {c.unchanged:,} unchanged, "
        f"{report.skipped:,} skipped"
        + (f", directors set on {report.directors_linked:,}" if report.directors_linked else "")
        + (f", {report.alt_titles_added:,} alternative titles" if report.alt_titles_added else "")
        + "."
    )
    return 0
