"""Markdown review files: front matter, pick-up of new/changed files, and unsafe names."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from bot.reviews.markdown import MarkdownError, MarkdownScanner, parse_review_file

FULL = """---
title: "Chungking Express: A Love Letter to Loneliness"
film: Chungking Express
year: 1994
rating: 4.5
author: Maggie
date: 2025-01-08T10:00:00Z
url: https://blog.example/chungking/
spoilers: true
tags: [wong kar-wai, hong kong]
image: /img/chungking.jpg
---
## Cop 223

Pineapple cans expiring on **May 1st**. ![still](https://blog.example/still.jpg)
"""


def test_front_matter_fields_are_all_read() -> None:
    draft = parse_review_file(FULL, source_key="chungking.md")
    assert draft.title == "Chungking Express: A Love Letter to Loneliness"
    assert (draft.film_title, draft.film_year, draft.rating, draft.author) == ("Chungking Express", 1994, 4.5, "Maggie")
    assert draft.published_at == dt.datetime(2025, 1, 8, 10, tzinfo=dt.UTC)
    assert draft.url == "https://blog.example/chungking/" and draft.spoilers is True
    assert draft.tags == ["wong kar-wai", "hong kong"]
    assert draft.image_url == "https://blog.example/img/chungking.jpg"
    assert draft.body_md == "**Cop 223**\n\nPineapple cans expiring on **May 1st**."


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("No front matter here", "front matter"),
        ("---\ntitle: [unclosed\n---\nbody", "YAML"),
        ("---\n- just\n- a list\n---\nbody", "mapping"),
        ("---\nauthor: x\n---\nbody", "title or a film"),
        ("---\ntitle: !!python/object/apply:os.system ['echo hi']\n---\n", "YAML"),
    ],
)
def test_bad_files_raise_clear_errors(text: str, message: str) -> None:
    with pytest.raises(MarkdownError, match=message):
        parse_review_file(text, source_key="x.md")


def test_odd_values_degrade_gracefully() -> None:
    draft = parse_review_file("---\ntitle: T\nrating: eleven\nyear: soon\ndate: yesterday\ntags: a, b\n---\n",
                              source_key="x.md")  # fmt: skip
    assert (draft.rating, draft.film_year, draft.published_at, draft.tags) == (None, None, None, ["a", "b"])


def test_scanner_picks_up_new_and_changed_files_only(tmp_path: Path) -> None:
    scanner = MarkdownScanner(tmp_path)
    (tmp_path / "a.md").write_text(FULL, encoding="utf-8")
    assert [f.key for f in scanner.scan()] == ["a.md"]
    assert scanner.scan() == []
    # Touching without changing the bytes is not an edit.
    stat = (tmp_path / "a.md").stat()
    os.utime(tmp_path / "a.md", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10_000_000))
    assert scanner.scan() == []
    (tmp_path / "a.md").write_text(FULL.replace("4.5", "5"), encoding="utf-8")
    (tmp_path / "b.md").write_text("---\ntitle: B\n---\nbody", encoding="utf-8")
    changed = {f.key: f.draft for f in scanner.scan()}
    assert set(changed) == {"a.md", "b.md"} and changed["a.md"].rating == 5.0


def test_scanner_ignores_unsafe_names_symlinks_and_huge_files(tmp_path: Path) -> None:
    reviews = tmp_path / "reviews"
    reviews.mkdir()
    outside = tmp_path / "secret.md"
    outside.write_text(FULL, encoding="utf-8")
    (reviews / "link.md").symlink_to(outside)
    (reviews / ".hidden.md").write_text(FULL, encoding="utf-8")
    (reviews / "..sneaky.md").write_text(FULL, encoding="utf-8")
    (reviews / "notes.txt").write_text(FULL, encoding="utf-8")
    (reviews / "dir.md").mkdir()
    (reviews / "huge.md").write_bytes(b"---\ntitle: x\n---\n" + b"a" * (1024 * 1024 + 10))
    (reviews / "ok.md").write_text(FULL, encoding="utf-8")
    results = {f.key: f for f in MarkdownScanner(reviews).scan()}
    assert set(results) == {"huge.md", "ok.md"}
    assert results["huge.md"].draft is None and "larger" in results["huge.md"].error


def test_missing_folder_scans_as_empty(tmp_path: Path) -> None:
    assert MarkdownScanner(tmp_path / "nope").scan() == []


def test_non_utf8_file_is_read_with_replacement(tmp_path: Path) -> None:
    (tmp_path / "latin.md").write_bytes("---\ntitle: Amélie\n---\nCafé".encode("latin-1"))
    [item] = MarkdownScanner(tmp_path).scan()
    assert item.draft is not None and item.draft.title == "Am\ufffdlie"


def test_scanner_says_which_files_are_there_and_reads_the_slug(tmp_path: Path) -> None:
    scanner = MarkdownScanner(tmp_path)
    (tmp_path / "a.md").write_text("---\ntitle: A\nslug: Chungking Express!\n---\nbody", encoding="utf-8")
    (tmp_path / "b.md").write_text("---\ntitle: [broken\n---\n", encoding="utf-8")
    (tmp_path / "link.md").symlink_to(tmp_path / "nowhere.md")  # a link to nothing is not a file
    [a, b] = scanner.scan()
    assert a.draft is not None and a.draft.slug == "chungking-express" and b.draft is None
    assert scanner.present == {"a.md", "b.md"}  # unreadable or not, a file that is there is there
    (tmp_path / "a.md").unlink()
    assert scanner.scan() == [] and scanner.present == {"b.md"}
    assert MarkdownScanner(tmp_path / "nope").scan() == [] and MarkdownScanner(tmp_path / "nope").present is None
    scanner.directory = tmp_path / "gone"
    scanner.scan()
    assert scanner.present is None  # not listable: nothing is known gone
