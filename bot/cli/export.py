"""``matinee export``: write a review's comments, ratings and count as JSON, Markdown or HTML.

Reads SQLite directly, so it works while the bot runs (WAL + busy timeout) or not.
Output goes to ``--out PATH`` (any path: the operator runs this command, so confining
it to the current directory would protect nothing), ``--out -`` (stdout), or by default
to ``<slug>-<id>-comments.<format>`` in the current directory; the default name is built
from a sanitised slug, so a hostile slug cannot write elsewhere. An existing file is
overwritten only with ``--force``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from ..discussions.export import EXPORT_FORMATS, DiscussionExporter, ExportResult
from ..errors import UserFacingError
from ..storage import CommentRepository, Database, PollRepository, RatingRepository, ReviewRepository, StorageError
from ..storage.web import WebRepository
from ..storage.writer import BatchedWriter
from ..web.static_export import StaticExportResult, export_all
from ._common import fail, load_or_exit

__all__ = ["register", "resolve_output", "run_export", "write_output"]


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export",
        help="export a review's comments for the blog (json, md or html), or every review's public view (--all)",
        description="Export one review's whole discussion (--review), or, with --all --dir DIR, one file per review "
        "holding what the read API publishes (servers that publish, members who consented), for Hugo's data/ or "
        "Jekyll's _data/. --all rewrites only files whose review changed.",
        epilog="Examples:\n  matinee export --review chungking-express-a-love-letter-to-loneliness --format md\n"
        "  matinee export --all --dir site/data/comments",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--review", help="the review's slug or numeric id")
    which.add_argument("--all", action="store_true", help="every review's public view, one file each (needs --dir)")
    parser.add_argument("--dir", help="with --all: the directory to write into (created if missing)")
    parser.add_argument("--format", choices=EXPORT_FORMATS, default="json", help="output format (default: json)")
    parser.add_argument("--out", help="file to write (default: <slug>-<id>-comments.<format> here); '-' for stdout")
    parser.add_argument("--force", action="store_true", help="overwrite the output file if it exists")
    parser.add_argument("--with-ids", action="store_true", help="include members' Discord user ids")
    parser.set_defaults(handler=handle)


def resolve_output(out: str | None, default_name: str, cwd: Path | None = None, *, force: bool = False) -> Path | None:
    """Where to write: None for stdout. Relative paths are taken from ``cwd`` (the current directory).

    Refuses a directory, a missing parent directory and, unless ``force``, an existing file
    (or symlink): an export never silently replaces something.
    """
    if out == "-":
        return None
    target = (cwd or Path.cwd()) / (out or default_name)
    shown = out or default_name
    if target.is_dir():
        raise UserFacingError(f"{shown} is a directory; give a file name")
    if not target.parent.is_dir():
        raise UserFacingError(f"the directory for {shown} does not exist")
    if not force and (target.exists() or target.is_symlink()):
        raise UserFacingError(f"{shown} already exists; add --force to overwrite it")
    return target


def write_output(target: Path, content: str, *, force: bool = False) -> None:
    """Write ``content``; without ``force`` the file must not exist, checked atomically as it is created."""
    try:
        with target.open("w" if force else "x", encoding="utf-8") as handle:
            handle.write(content)
    except FileExistsError:
        raise UserFacingError(f"{target} already exists; add --force to overwrite it") from None
    except OSError as exc:
        raise UserFacingError(f"cannot write {target}: {exc.strerror or exc}") from exc


async def run_export(database_path: Path, review: str, fmt: str, *, with_ids: bool) -> ExportResult:
    if not Path(database_path).is_file():
        raise UserFacingError(f"no database at {database_path} (set DATABASE_PATH, or run the bot once)")
    db = await Database.open(database_path)
    try:
        await db.migrate()
        writer = BatchedWriter(db)  # reads only; never started
        exporter = DiscussionExporter(
            ReviewRepository(db), CommentRepository(db, writer), PollRepository(db, writer), RatingRepository(db)
        )
        return await exporter.export(review, fmt, with_ids=with_ids)
    finally:
        await db.close()


async def run_export_all(database_path: Path, directory: Path, fmt: str) -> StaticExportResult:
    if not Path(database_path).is_file():
        raise UserFacingError(f"no database at {database_path} (set DATABASE_PATH, or run the bot once)")
    db = await Database.open(database_path)
    try:
        await db.migrate()
        return await export_all(WebRepository(db), directory, fmt)
    finally:
        await db.close()


def handle(args: argparse.Namespace) -> int:
    settings = load_or_exit(args.env_file, require_token=False)
    if args.all:
        if not args.dir:
            return fail("--all needs --dir DIR: the directory to write one file per review into", 2)
        if args.out or args.with_ids:
            return fail("--all writes the public view: --out and --with-ids do not apply", 2)
        directory = Path(args.dir)
        if directory.exists() and not directory.is_dir():
            return fail(f"{directory} is not a directory", 2)
        try:
            done = asyncio.run(run_export_all(settings.database_path, directory, args.format))
        except UserFacingError as exc:
            return fail(exc.message, 1)
        except (StorageError, OSError) as exc:
            return fail(str(exc), 1)
        removed = f", {len(done.removed)} removed (withdrawn or renamed reviews)" if done.removed else ""
        print(f"wrote {len(done.written)} files, {done.unchanged} unchanged{removed}, in {directory}", file=sys.stderr)
        return 0
    try:
        result = asyncio.run(run_export(settings.database_path, args.review, args.format, with_ids=args.with_ids))
    except UserFacingError as exc:
        return fail(exc.message, 1)
    except StorageError as exc:
        return fail(str(exc))
    try:
        target = resolve_output(args.out, result.filename, force=args.force)
        if target is None:
            sys.stdout.write(result.content)
            return 0
        write_output(target, result.content, force=args.force)
    except UserFacingError as exc:
        return fail(exc.message)
    print(f"wrote {result.comment_count} comments of {result.review.slug!r} to {target}", file=sys.stderr)
    return 0
