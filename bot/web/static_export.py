"""``matinee export --all``: one public-view file per review, for static site generators.

Hugo reads ``data/comments/<slug>.json`` as ``.Site.Data.comments``; Jekyll reads
``_data/comments/<slug>.json`` as ``site.data.comments``. The files hold exactly what
the read API serves (servers that publish, members who consented), so a static
blog shows nothing the widget would not.

It is meant to run from cron or a build hook, so it is cheap when nothing
changed: a manifest in the directory remembers each review's change-log version,
only reviews whose version moved are rendered, and a file is rewritten only when
its content (ignoring ``generated_at``) differs. Nothing changed, nothing written.

A review whose slug changed (its post moved, or the upgrade that named reviews by
their address) is written under its new name, and the file the manifest says this
command wrote under the old one is removed, so a template never finds a stale copy.
A review withdrawn from the blog (its Markdown file deleted) is not exported, and its
file is removed the same way. If the review comes back, its file is written again.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..discussions.export import render_json, render_markdown
from ..storage.web import WebRepository
from .public import PublicDiscussions

__all__ = ["MANIFEST_NAME", "StaticExportResult", "export_all", "file_names"]

MANIFEST_NAME = ".matinee-export.json"
STATIC_FORMATS = ("json", "md", "html")


@dataclass(slots=True)
class StaticExportResult:
    written: list[Path] = field(default_factory=list)
    unchanged: int = 0
    removed: list[Path] = field(default_factory=list)  # files of reviews withdrawn, or now under another name

    @property
    def total(self) -> int:
        return len(self.written) + self.unchanged


def file_names(reviews: list[tuple[int, str]]) -> dict[int, str]:
    """A file stem per review from its slug; two slugs that clean up alike get their ids appended."""
    stems: dict[int, str] = {}
    taken: dict[str, int] = {}
    for review_id, slug in reviews:
        stem = re.sub(r"[^a-z0-9]+", "-", slug.lower()).strip("-")[:120] or "review"
        stems[review_id] = stem
        taken[stem] = taken.get(stem, 0) + 1
    return {rid: (stem if taken[stem] == 1 else f"{stem}-{rid}") for rid, stem in stems.items()}


def _render(document: Mapping[str, Any], fmt: str) -> str:
    if fmt == "json":
        return render_json(document)
    if fmt == "md":
        return render_markdown(document)
    return PublicDiscussions.render_snippet(document)


def _same(existing: Path, content: str, fmt: str) -> bool:
    try:
        old = existing.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    if fmt != "json":
        return old == content
    try:
        before, after = json.loads(old), json.loads(content)
    except ValueError:
        return False
    if isinstance(before, dict):
        before.pop("generated_at", None)
    after.pop("generated_at", None)
    return before == after


def _write_atomically(path: Path, content: str) -> None:
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(content)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _remove_written(directory: Path, old: Any, *, keep: set[str], fmt: str) -> list[Path]:
    """Remove a file the manifest says this command wrote (only a plain name in ``directory``), unless kept."""
    if not isinstance(old, str) or Path(old).name != old or "\\" in old or old.startswith("."):
        return []
    if old.removesuffix(f".{fmt}") in keep:  # another review's file now: it stays
        return []
    path = directory / old
    if not path.is_file() or path.is_symlink():
        return []
    path.unlink()
    return [path]


async def export_all(repository: WebRepository, directory: Path, fmt: str = "json") -> StaticExportResult:
    """Write (or leave alone) one file per review in ``directory``; see the module docstring."""
    if fmt not in STATIC_FORMATS:
        raise ValueError(f"unknown format {fmt!r}")
    directory.mkdir(parents=True, exist_ok=True)
    manifest_path = directory / MANIFEST_NAME
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        if not isinstance(manifest, dict) or manifest.get("format") != fmt:
            manifest = {}
    except (OSError, ValueError):
        manifest = {}
    known: dict[str, Any] = manifest.get("reviews", {}) if isinstance(manifest.get("reviews"), dict) else {}
    versions = await repository.review_versions()
    names = file_names([(rid, slug) for rid, slug, _ in versions])
    service = PublicDiscussions(repository, public_url="")
    result = StaticExportResult()
    entries: dict[str, Any] = {}
    for review_id, _, version in versions:
        name = f"{names[review_id]}.{fmt}"
        target = directory / name
        entry = known.get(str(review_id))
        entries[str(review_id)] = {"version": version, "file": name}
        if isinstance(entry, dict) and entry.get("file") != name:
            result.removed += _remove_written(directory, entry.get("file"), keep=set(names.values()), fmt=fmt)
        if entry == {"version": version, "file": name} and target.is_file():
            result.unchanged += 1
            continue
        document = await service.document(review_id)
        document.pop("seq", None)  # a live-update position means nothing in a static file
        content = _render(document, fmt)
        if _same(target, content, fmt):
            result.unchanged += 1
            continue
        _write_atomically(target, content)
        result.written.append(target)
    for review_id, entry in known.items():  # reviews no longer published (withdrawn from the blog)
        if review_id not in entries and isinstance(entry, dict):
            result.removed += _remove_written(directory, entry.get("file"), keep=set(names.values()), fmt=fmt)
    new_manifest = {"format": fmt, "reviews": entries}
    if new_manifest != manifest:
        _write_atomically(manifest_path, json.dumps(new_manifest, indent=1, sort_keys=True) + "\n")
    return result
