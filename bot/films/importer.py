"""Bulk film imports: IMDb's dataset files, CSV, JSON / JSON Lines, and the vega sample.

Files are streamed (IMDb's title.basics has ~11 million rows; only movies are kept)
and written in batches of a few thousand rows per transaction, so memory stays
flat and an interrupted import can simply be run again: every batch is an upsert
keyed on IMDb id, then TMDB id, then (title, year), so a second run adds nothing.

CSV/JSON columns (header names are case-insensitive): ``title`` (required),
``year``, ``original_title``, ``directors``, ``cast``, ``runtime``, ``genres``,
``overview``, ``poster_url``, ``imdb_id``, ``tmdb_id``, ``popularity``,
``vote_count``, ``alt_titles``. List columns take a JSON array or a string
separated by ``|`` or ``;`` (CSV) — commas are not separators because names and
titles contain them.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from ..storage.films import FilmRecord, FilmRepository, ImportCounts

__all__ = [
    "CSV_COLUMNS",
    "DEFAULT_BATCH",
    "FORMATS",
    "FilmImportError",
    "ImportProgress",
    "ImportReport",
    "detect_format",
    "import_films",
    "record_from_mapping",
    "record_from_vega",
    "repair_mojibake",
]

FORMATS = ("imdb", "csv", "json", "vega")
TITLE_COLUMNS = ("title", "name")
CSV_COLUMNS = (
    "title", "year", "original_title", "directors", "cast", "runtime", "genres", "overview", "poster_url",
    "imdb_id", "tmdb_id", "popularity", "vote_count", "alt_titles",
)  # fmt: skip
DEFAULT_BATCH = 5000
_NULL = "\\N"
_YEAR = re.compile(r"(?<!\d)(18[89]\d|19\d\d|20\d\d|21\d\d)(?!\d)")
_LIST_SPLIT = re.compile(r"\s*[|;]\s*")
_IMDB_ID = re.compile(r"^tt\d{5,10}$")


class FilmImportError(ValueError):
    """The file cannot be imported; the message says what to fix."""


@dataclass(slots=True)
class ImportProgress:
    """What the importer has done so far; passed to the progress callback."""

    stage: str
    rows_read: int = 0
    counts: ImportCounts = field(default_factory=ImportCounts)
    skipped: int = 0
    done: bool = False


@dataclass(slots=True)
class ImportReport:
    format: str
    rows_read: int = 0
    counts: ImportCounts = field(default_factory=ImportCounts)
    skipped: int = 0
    directors_linked: int = 0
    alt_titles_added: int = 0


ProgressCallback = Callable[[ImportProgress], None]


# -- format detection -------------------------------------------------------------


def _imdb_file(folder: Path, name: str) -> Path | None:
    for candidate in (folder / f"{name}.tsv.gz", folder / f"{name}.tsv"):
        if candidate.is_file():
            return candidate
    return None


def detect_format(path: Path) -> str:
    """Guess the format from the path: a folder or title.basics file is IMDb, else by suffix."""
    if path.is_dir() or path.name.startswith("title.basics."):
        return "imdb"
    suffixes = "".join(path.suffixes).lower()
    if suffixes.endswith((".csv", ".csv.gz")):
        return "csv"
    if suffixes.endswith((".json", ".jsonl", ".ndjson", ".json.gz", ".jsonl.gz")):
        return "json"
    raise FilmImportError(f"can't tell the format of {path.name}; pass --format imdb, csv or json")


def _open_text(path: Path) -> TextIO:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return path.open("r", encoding="utf-8-sig", newline="")


# -- value parsing ------------------------------------------------------------------


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _int(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    try:
        return int(float(str(value).strip().replace(",", "")))
    except ValueError:
        return None


def _float(value: Any) -> float | None:
    try:
        return float(str(value).strip()) if value is not None and str(value).strip() else None
    except ValueError:
        return None


def _year(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value if 1870 <= value <= 2199 else None
    match = _YEAR.search(str(value)) if value is not None else None
    return int(match.group(1)) if match else None


def _list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return [str(v).strip() for v in value if v is not None and str(v).strip()]
    text = str(value).strip()
    if text.startswith("["):
        try:
            decoded = json.loads(text)
        except ValueError:
            decoded = None
        if isinstance(decoded, list):
            return _list(decoded)
    return [part for part in _LIST_SPLIT.split(text) if part]


def _imdb_id(value: Any) -> str | None:
    text = _text(value)
    return text if text and _IMDB_ID.match(text) else None


def record_from_mapping(row: dict[str, Any], *, source: str = "import") -> FilmRecord | None:
    """A documented CSV/JSON row as a film; None when it has no usable title."""
    data = {str(k).strip().lower(): v for k, v in row.items() if k is not None}

    def pick(*names: str) -> Any:
        for name in names:
            if data.get(name) not in (None, ""):
                return data[name]
        return None

    title = _text(pick("title", "name"))
    if not title:
        return None
    return FilmRecord(
        title=title[:500],
        year=_year(pick("year", "release_year", "release_date")),
        original_title=_text(pick("original_title")),
        directors=_list(pick("directors", "director")),
        cast=_list(pick("cast", "cast_members", "actors"))[:10],
        runtime_minutes=_int(pick("runtime", "runtime_minutes")),
        genres=_list(pick("genres", "genre")),
        overview=_text(pick("overview", "plot", "description")),
        poster_url=_text(pick("poster_url", "poster")),
        imdb_id=_imdb_id(pick("imdb_id", "imdb")),
        tmdb_id=_int(pick("tmdb_id", "tmdb")),
        popularity=_float(pick("popularity")),
        vote_count=_int(pick("vote_count", "votes")),
        alt_titles=_list(pick("alt_titles", "alternative_titles", "aka")),
        source=source,
    )


# The vega sample's accented titles were decoded with the wrong code page
# ("AmÈlie" for "Amélie"): Windows-1252 bytes read as Mac Roman.
def repair_mojibake(text: str) -> str:
    """Undo Windows-1252-read-as-Mac-Roman mojibake; other text comes back unchanged."""
    if text.isascii():
        return text
    try:
        fixed = text.encode("mac_roman").decode("cp1252")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return text
    return fixed


def _is_vega(row: dict[str, Any]) -> bool:
    return "Title" in row and ("Release Date" in row or "IMDB Votes" in row)


def record_from_vega(row: dict[str, Any]) -> FilmRecord | None:
    """A film from vega-datasets' movies.json (Title, Release Date "Jun 12 1998", Director…)."""
    raw_title = row.get("Title")
    if raw_title is None or isinstance(raw_title, bool):
        return None
    title = repair_mojibake(str(raw_title).strip())
    if not title:
        return None
    director = _text(row.get("Director"))
    genre = _text(row.get("Major Genre"))
    return FilmRecord(
        title=title,
        year=_year(row.get("Release Date")),
        directors=[repair_mojibake(director)] if director else [],
        runtime_minutes=_int(row.get("Running Time min")),
        genres=[genre] if genre else [],
        popularity=_float(row.get("IMDB Rating")),
        vote_count=_int(row.get("IMDB Votes")),
        source="import",
    )


# -- row sources ----------------------------------------------------------------------


def _has_title(columns: list[str]) -> bool:
    return bool({c.strip().lower() for c in columns} & set(TITLE_COLUMNS))


def _csv_rows(path: Path) -> Iterator[dict[str, Any]]:
    """Rows of a comma-separated file, or of one separated by ``;``, tab or ``|`` (a spreadsheet's export)."""
    with _open_text(path) as handle:
        reader = csv.DictReader(handle)
        columns = [f for f in reader.fieldnames or [] if f]
        if not _has_title(columns):
            sample = "\n".join(handle.readline() for _ in range(20))
            try:
                dialect = csv.Sniffer().sniff(",".join(columns) + "\n" + sample, delimiters=";\t|")
            except csv.Error:
                dialect = None
            if dialect is not None:
                handle.seek(0)
                reader = csv.DictReader(handle, delimiter=dialect.delimiter)
                columns = [f for f in reader.fieldnames or [] if f]
        if not _has_title(columns):
            raise FilmImportError(_wrong_columns(path, columns))
        yield from reader


def _wrong_columns(path: Path, columns: list[str]) -> str:
    """Which columns the file has, and which ones Matinee needs and reads, on one line."""
    shown = ", ".join(repr(c.strip()[:40]) for c in columns[:12]) + (", …" if len(columns) > 12 else "")
    has = f"its columns are {shown}" if columns else "it has no header row"
    return (
        f"{path.name} has no title column: {has}. Matinee needs a 'title' (or 'name') column, "
        f"and also reads {', '.join(CSV_COLUMNS[1:])}"
    )


def _json_rows(path: Path) -> Iterator[dict[str, Any]]:
    with _open_text(path) as handle:
        first = handle.read(1)
        while first and first.isspace():
            first = handle.read(1)
        if first == "[":
            try:
                data = json.loads(first + handle.read())
            except ValueError as exc:
                raise FilmImportError(f"{path.name} is not valid JSON: {exc}") from None
            for item in data:
                if isinstance(item, dict):
                    yield item
            return
        # JSON Lines: one object per line, streamed.
        line = first + handle.readline()
        number = 1
        while line:
            if line.strip():
                try:
                    item = json.loads(line)
                except ValueError:
                    raise FilmImportError(f"{path.name} line {number} is not valid JSON") from None
                if isinstance(item, dict):
                    yield item
            line = handle.readline()
            number += 1


def _tsv(path: Path) -> Iterator[dict[str, str | None]]:
    """IMDb TSV rows as dicts; ``\\N`` becomes None. No quoting: IMDb titles contain quotes."""
    with _open_text(path) as handle:
        header = handle.readline().rstrip("\r\n").split("\t")
        for line in handle:
            values = line.rstrip("\r\n").split("\t")
            if len(values) != len(header):
                continue
            yield {k: (None if v == _NULL else v) for k, v in zip(header, values, strict=True)}


# -- the import -----------------------------------------------------------------------


async def _batched(
    repo: FilmRepository,
    records: Iterable[FilmRecord | None],
    report: ImportReport,
    progress: ProgressCallback | None,
    stage: str,
    batch_size: int,
    enrich: Callable[[list[FilmRecord]], Awaitable[None]] | None = None,
) -> None:
    batch: list[FilmRecord] = []
    state = ImportProgress(stage=stage)

    async def flush() -> None:
        if enrich is not None:
            await enrich(batch)
        report.counts += await repo.import_batch(batch)

    for record in records:
        report.rows_read += 1
        if record is None:
            report.skipped += 1
            continue
        batch.append(record)
        if len(batch) >= batch_size:
            await flush()
            batch = []
            _notify(progress, state, report)
    if batch:
        await flush()
    _notify(progress, state, report)


def _notify(progress: ProgressCallback | None, state: ImportProgress, report: ImportReport) -> None:
    if progress is not None:
        state.rows_read, state.counts, state.skipped = report.rows_read, report.counts, report.skipped
        progress(state)


async def import_films(
    repo: FilmRepository,
    path: Path,
    fmt: str | None = None,
    *,
    batch_size: int = DEFAULT_BATCH,
    progress: ProgressCallback | None = None,
) -> ImportReport:
    """Import ``path`` into the catalog; safe to run again (see the module docstring)."""
    path = Path(path)
    if not path.exists():
        raise FilmImportError(f"{path} does not exist")
    fmt = (fmt or detect_format(path)).lower()
    if fmt not in FORMATS:
        raise FilmImportError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    if fmt == "imdb":
        return await _import_imdb(repo, path, batch_size, progress)
    report = ImportReport(format=fmt)
    if fmt == "csv":
        records: Iterable[FilmRecord | None] = (record_from_mapping(r) for r in _csv_rows(path))
    else:
        rows = _json_rows(path)
        first = next(rows, None)
        if first is None:
            return report
        vega = fmt == "vega" or _is_vega(first)
        report.format = "vega" if vega else "json"
        convert: Callable[[dict[str, Any]], FilmRecord | None] = record_from_vega if vega else record_from_mapping
        records = (convert(r) for r in _chain(first, rows))
    await _batched(repo, records, report, progress, f"importing {path.name}", batch_size)
    return report


def _chain(first: dict[str, Any], rest: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    yield first
    yield from rest


def _tconst(value: str | None) -> int | None:
    return int(value[2:]) if value and value.startswith("tt") and value[2:].isdigit() else None


def _nconst(value: str) -> int | None:
    return int(value[2:]) if value.startswith("nm") and value[2:].isdigit() else None


async def _import_imdb(
    repo: FilmRepository, path: Path, batch_size: int, progress: ProgressCallback | None
) -> ImportReport:
    folder = path if path.is_dir() else path.parent
    basics = _imdb_file(folder, "title.basics")
    if basics is None:
        raise FilmImportError(f"no title.basics.tsv[.gz] in {folder}")
    report = ImportReport(format="imdb")
    movies: set[int] = set()

    def movie_records() -> Iterator[FilmRecord | None]:
        for row in _tsv(basics):
            if row.get("titleType") != "movie" or row.get("isAdult") == "1":
                continue
            tconst = row.get("tconst")
            number = _tconst(tconst)
            title = _text(row.get("primaryTitle"))
            if number is None or not title:
                yield None
                continue
            movies.add(number)
            yield FilmRecord(
                title=title,
                original_title=_text(row.get("originalTitle")),
                year=_year(row.get("startYear")),
                runtime_minutes=_int(row.get("runtimeMinutes")),
                genres=_list((row.get("genres") or "").replace(",", "|")),
                imdb_id=tconst,
                source="imdb",
            )

    # Votes first (staged in a temp table), so each film is indexed once, already ranked.
    ratings = _imdb_file(folder, "title.ratings")
    enrich = None
    if ratings is not None:
        state = ImportProgress(stage="title.ratings")
        staged: list[tuple[str, int, float]] = []
        for row in _tsv(ratings):
            votes = _int(row.get("numVotes"))
            if row.get("tconst") and votes is not None:
                staged.append((row["tconst"] or "", votes, _float(row.get("averageRating")) or 0.0))
            if len(staged) >= batch_size * 4:
                await repo.stage_imdb_ratings(staged)
                staged = []
        await repo.stage_imdb_ratings(staged)
        _notify(progress, state, report)

        async def enrich(batch: list[FilmRecord]) -> None:
            votes = await repo.staged_imdb_ratings([r.imdb_id for r in batch if r.imdb_id])
            for record in batch:
                if record.imdb_id in votes:
                    record.vote_count, record.popularity = votes[record.imdb_id]

    try:
        await _batched(repo, movie_records(), report, progress, "title.basics", batch_size, enrich)
    finally:
        if ratings is not None:
            await repo.drop_staged_imdb_ratings()

    crew = _imdb_file(folder, "title.crew")
    names_file = _imdb_file(folder, "name.basics")
    if crew is not None and names_file is not None:
        directors: dict[int, tuple[int, ...]] = {}
        for row in _tsv(crew):
            number = _tconst(row.get("tconst"))
            if number in movies and row.get("directors"):
                ids = tuple(n for n in (_nconst(x) for x in row["directors"].split(",")) if n is not None)
                if ids:
                    directors[number] = ids
        wanted = {n for ids in directors.values() for n in ids}
        names: dict[int, str] = {}
        for row in _tsv(names_file):
            number = _nconst(row.get("nconst") or "")
            if number in wanted and row.get("primaryName"):
                names[number] = row["primaryName"]
        pairs = [
            (f"tt{number:07d}", [names[n] for n in ids if n in names]) for number, ids in sorted(directors.items())
        ]
        state = ImportProgress(stage="directors")
        for start in range(0, len(pairs), batch_size):
            report.directors_linked += await repo.set_directors_by_imdb(pairs[start : start + batch_size])
            _notify(progress, state, report)

    akas = _imdb_file(folder, "title.akas")
    if akas is not None:
        state = ImportProgress(stage="alternative titles")
        alt: list[tuple[str, str]] = []
        for row in _tsv(akas):
            number = _tconst(row.get("titleId"))
            title = _text(row.get("title"))
            if number in movies and title:
                alt.append((row["titleId"] or "", title))
            if len(alt) >= batch_size:
                report.alt_titles_added += await repo.add_alt_titles_by_imdb(alt)
                alt = []
                _notify(progress, state, report)
        report.alt_titles_added += await repo.add_alt_titles_by_imdb(alt)
    final = ImportProgress(stage="done", done=True)
    _notify(progress, final, report)
    return report
