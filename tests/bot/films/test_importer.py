"""Imports: IMDb dataset files (plain and gzipped), CSV, JSON/JSON Lines and the vega sample; re-runs add nothing."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from bot.cli import main as cli_main
from bot.films.importer import FilmImportError, ImportProgress, detect_format, import_films, repair_mojibake
from bot.storage import Database
from bot.storage.films import FilmRepository

from .conftest import IMDB_FIXTURES, VEGA


async def test_imdb_plain_files_import_movies_only_with_directors_votes_and_akas(films: FilmRepository) -> None:
    seen: list[ImportProgress] = []
    report = await import_films(films, IMDB_FIXTURES / "plain", progress=seen.append)
    # 8 movies kept; TV series, short, adult and an untitled row are not imported.
    assert report.format == "imdb"
    assert report.counts.added == 8 and await films.count() == 8
    assert report.skipped == 1  # the movie row with a \N title
    assert seen and seen[-1].done

    chungking = await films.by_imdb_id("tt0109424")
    assert chungking.title == "Chungking Express" and chungking.original_title == "Chung Hing sam lam"
    assert chungking.year == 1994 and chungking.runtime_minutes == 102
    assert chungking.directors == ("Wong Kar-wai",)
    assert chungking.genres == ("Comedy", "Crime", "Drama")
    assert chungking.vote_count == 90_000
    assert "Chongqing senlin" in await films.alt_titles(chungking.id)
    assert (await films.search("chongqing"))[0].id == chungking.id

    odd = await films.by_imdb_id("tt0000001")
    assert odd.title == '"Quoted" Title (with parens) AND NEAR' and odd.year is None and odd.runtime_minutes is None
    assert odd.directors == ("First Director", "Second Director")
    assert await films.by_imdb_id("tt0903747") is None  # tvSeries
    assert await films.by_imdb_id("tt0000003") is None  # adult

    again = await import_films(films, IMDB_FIXTURES / "plain")
    assert (again.counts.added, again.counts.updated) == (0, 0)
    assert (again.directors_linked, again.alt_titles_added) == (0, 0)
    assert await films.count() == 8


async def test_imdb_gzipped_files_and_path_to_title_basics(films: FilmRepository) -> None:
    report = await import_films(films, IMDB_FIXTURES / "gz" / "title.basics.tsv.gz")
    assert report.counts.added == 8
    assert (await films.by_imdb_id("tt8579674")).directors == ("Sam Mendes",)
    assert (await films.search("1917"))[0].year == 2019
    again = await import_films(films, IMDB_FIXTURES / "gz", "imdb")
    assert again.counts.added == 0 and await films.count() == 8


async def test_imdb_import_adopts_a_film_known_from_a_review(films: FilmRepository) -> None:
    local = await films.add("Chungking Express", year=1994)
    await import_films(films, IMDB_FIXTURES / "plain")
    assert await films.count() == 8
    assert (await films.get(local.id)).imdb_id == "tt0109424"


def write_csv(path: Path, rows: list[dict]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


CSV_ROWS = [
    {
        "Title": "Chungking Express",
        "year": "1994",
        "directors": "Wong Kar-wai",
        "cast": "Brigitte Lin|Tony Leung|Faye Wong",
        "runtime": "102",
        "genres": "Drama; Romance",
        "overview": "Two cops, one snack bar.",
        "poster_url": "https://image.example/chungking.jpg",
        "imdb_id": "tt0109424",
        "tmdb_id": "11104",
        "popularity": "21.5",
        "vote_count": "2500",
    },
    {
        "Title": "Hamlet",
        "year": "1948",
        "directors": '["Laurence Olivier"]',
        "cast": "",
        "runtime": "",
        "genres": "",
        "overview": "",
        "poster_url": "",
        "imdb_id": "",
        "tmdb_id": "",
        "popularity": "",
        "vote_count": "",
    },
    {
        "Title": "Hamlet",
        "year": "1996",
        "directors": "Kenneth Branagh",
        "cast": "",
        "runtime": "242",
        "genres": "Drama",
        "overview": "",
        "poster_url": "",
        "imdb_id": "",
        "tmdb_id": "",
        "popularity": "",
        "vote_count": "40000",
    },
    {
        "Title": "",
        "year": "2000",
        "directors": "",
        "cast": "",
        "runtime": "",
        "genres": "",
        "overview": "",
        "poster_url": "",
        "imdb_id": "",
        "tmdb_id": "",
        "popularity": "",
        "vote_count": "",
    },
]


async def test_csv_columns_and_idempotency(films: FilmRepository, tmp_path: Path) -> None:
    path = tmp_path / "films.csv"
    write_csv(path, CSV_ROWS)
    report = await import_films(films, path)
    assert report.format == "csv" and report.counts.added == 3 and report.skipped == 1
    film = await films.by_tmdb_id(11104)
    assert film.cast == ("Brigitte Lin", "Tony Leung", "Faye Wong")
    assert film.genres == ("Drama", "Romance") and film.popularity == 21.5 and film.vote_count == 2500
    assert film.poster_url == "https://image.example/chungking.jpg" and film.overview == "Two cops, one snack bar."
    assert (await films.find_by_title("Hamlet", 1948)).directors == ("Laurence Olivier",)
    again = await import_films(films, path)
    assert (again.counts.added, again.counts.updated, again.counts.unchanged) == (0, 0, 3)

    # An IMDb import afterwards merges on imdb_id and (title, year) instead of duplicating.
    await import_films(films, IMDB_FIXTURES / "plain")
    assert await films.count() == 8
    merged = await films.by_imdb_id("tt0109424")
    assert merged.tmdb_id == 11104 and merged.overview == "Two cops, one snack bar."  # kept, not erased


async def test_csv_without_title_column_is_a_clear_error(films: FilmRepository, tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("name_of_film,year\nX,2000\n", encoding="utf-8")
    with pytest.raises(FilmImportError, match="title"):
        await import_films(films, path)


async def test_json_array_and_json_lines(films: FilmRepository, tmp_path: Path) -> None:
    array = tmp_path / "films.json"
    array.write_text(
        json.dumps(
            [
                {"title": "2046", "year": 2004, "directors": ["Wong Kar-wai"], "alt_titles": ["Èr líng sì liù"]},
                {"title": "In the Mood for Love", "year": 2000, "imdb_id": "tt0118694", "vote_count": 170000},
                "not an object",
            ]
        ),
        encoding="utf-8",
    )
    report = await import_films(films, array)
    assert report.format == "json" and report.counts.added == 2
    assert (await films.search("er ling"))[0].title == "2046"
    lines = tmp_path / "films.jsonl"
    lines.write_text('{"title": "Amélie", "year": 2001}\n\n{"title": "2046", "year": 2004}\n', encoding="utf-8")
    report = await import_films(films, lines)
    assert (report.counts.added, report.counts.updated) == (1, 0)
    assert await films.count() == 3


@pytest.mark.skipif(not VEGA.exists(), reason="../shared/data/vega-movies.json is not available")
async def test_vega_sample_imports_and_reimports_without_changes(films: FilmRepository) -> None:
    rows = json.loads(VEGA.read_text(encoding="utf-8"))
    with_titles = sum(1 for r in rows if r["Title"] is not None)
    report = await import_films(films, VEGA, batch_size=500)
    assert report.format == "vega"
    assert report.counts.added == with_titles and report.skipped == len(rows) - with_titles
    assert await films.count() == with_titles
    # Mojibake in the sample is repaired; numeric titles survive as text.
    assert (await films.search("amelie poulain"))[0].title == "Le Fabuleux destin d'Amélie Poulain"
    assert (await films.search("2046"))[0].title == "2046"
    titanic = (await films.search("titanic"))[0]
    assert titanic.year == 1997 and titanic.directors == ("James Cameron",) and titanic.vote_count > 100_000
    assert (await films.search("shawshenk redemtion"))[0].title == "The Shawshank Redemption"
    again = await import_films(films, VEGA, batch_size=500)
    assert (again.counts.added, again.counts.updated) == (0, 0)
    assert await films.count() == with_titles


def test_mojibake_repair_and_format_detection(tmp_path: Path) -> None:
    assert repair_mojibake("AmÈlie") == "Amélie"
    assert repair_mojibake("LÈon") == "Léon"
    assert repair_mojibake("The Naked Gun 2Ω") == "The Naked Gun 2½"
    assert repair_mojibake("Alien³") == "Alien³"
    assert repair_mojibake("Plain title") == "Plain title"
    assert detect_format(IMDB_FIXTURES / "plain") == "imdb"
    assert detect_format(tmp_path / "x.csv") == "csv"
    assert detect_format(tmp_path / "x.jsonl") == "json"
    with pytest.raises(FilmImportError):
        detect_format(tmp_path / "x.xlsx")


def test_cli_import_shows_progress_and_is_rerunnable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    database = tmp_path / "cli.db"
    monkeypatch.setenv("DATABASE_PATH", str(database))
    monkeypatch.delenv("DISCORD_TOKEN", raising=False)
    env_file = str(tmp_path / "missing.env")
    assert cli_main(["--env-file", env_file, "films", "import", str(IMDB_FIXTURES / "gz")]) == 0
    out, err = capsys.readouterr()
    assert "8 added" in out
    assert "rows read" in err and "title.basics" in err
    assert cli_main(["--env-file", env_file, "films", "import", str(IMDB_FIXTURES / "gz")]) == 0
    out, _ = capsys.readouterr()
    assert "0 added, 0 updated" in out
    assert cli_main(["--env-file", env_file, "films", "import", str(tmp_path / "nope.csv")]) == 2
    assert "does not exist" in capsys.readouterr().err


async def test_batches_commit_independently(db: Database, films: FilmRepository, tmp_path: Path) -> None:
    path = tmp_path / "many.jsonl"
    path.write_text("".join(json.dumps({"title": f"Film {n}", "year": 1950 + n % 50}) + "\n" for n in range(250)))
    report = await import_films(films, path, batch_size=100)
    assert report.counts.added == 250
    assert await db.fetchval("SELECT count(*) FROM films_fts") == 250
