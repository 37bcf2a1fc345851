"""``matinee reviews list``: every stored review with the names to call it by.

An operator exporting comments or opening a thread needs a review's slug or id;
this lists them with the date, title, comment count and whether the review was
announced, newest first. ``--feed URL`` keeps one feed's reviews (the address is
matched however it is spelled), ``--search TEXT`` those whose title, film, slug or
address contains the text, ``--json`` gives the same for scripts. It reads the
database directly, so it works while the bot runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TextIO

from ..errors import UserFacingError
from ..storage import Database, FeedRepository, ReviewRepository, feed_source
from ..storage.reviews import ReviewListing
from ..text import one_line, truncate
from ._common import fail, load_or_exit

__all__ = ["format_table", "list_reviews", "register"]

EXAMPLES = """\
examples:
  matinee reviews list
  matinee reviews list --search chungking
  matinee reviews list --feed https://blog.example/category/reviews/feed/ --json
Any slug, id or post address shown works as `matinee export --review …`."""
_C1_CONTROLS = re.compile("[\x80-\x9f]")  # one_line drops C0 controls; a terminal obeys these too


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "reviews",
        help="list stored reviews with the slugs and ids to name them by",
        description="Stored reviews: what Matinee knows about and what it calls them.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="reviews_command", metavar="ACTION", required=True)
    lister = actions.add_parser(
        "list",
        help="every stored review: id, slug, date, title, comments, announced",
        description="List stored reviews, newest first: id, slug, date, comment count, whether it was announced, "
        "and title. A review's slug is the last segment of its post's address (or made from its title).",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    lister.add_argument("--feed", metavar="URL", help="only the reviews this feed listed")
    lister.add_argument(
        "--search", metavar="TEXT", help="only reviews whose title, film, slug or address contains TEXT"
    )
    lister.add_argument("--json", action="store_true", help="print a JSON array instead of a table")
    lister.set_defaults(handler=handle_list)


async def list_reviews(
    database_path: Path, *, feed: str | None = None, search: str | None = None
) -> list[ReviewListing]:
    """The reviews ``matinee reviews list`` shows; UserFacingError when there is no database or no such feed."""
    if not Path(database_path).is_file():
        raise UserFacingError(f"no database at {database_path} (set DATABASE_PATH, or run the bot once)")
    db = await Database.open(database_path)
    try:
        await db.migrate()
        source = None
        if feed is not None:
            found = await FeedRepository(db).get_by_url(feed)
            if found is None:
                known = ", ".join(f.url for f in await FeedRepository(db).all()) or "none yet"
                raise UserFacingError(f"Matinee follows no feed at {feed[:200]} (feeds it knows: {known[:1000]})")
            source = feed_source(found.id)
        return await ReviewRepository(db).listing(source=source, search=search)
    finally:
        await db.close()


def _shown(text: str | None) -> str:
    """Untrusted text (a feed's title) made safe for a terminal: one line, no control characters."""
    return _C1_CONTROLS.sub("", one_line(text or ""))


def _announced(review: ReviewListing) -> str:
    if review.withdrawn:
        return "withdrawn"
    if review.announced_in:
        return "yes" if review.announced_in == 1 else f"yes ({review.announced_in})"
    return "pending" if review.pending_in else "no"


def format_table(reviews: Sequence[ReviewListing], *, width: int | None = None) -> str:
    """An aligned table, titles last (cut to ``width`` columns when given, as on a terminal)."""
    header = ("id", "slug", "date", "comments", "announced", "title")
    rows = [(str(r.id), _shown(r.slug), r.date[:10], str(r.comments), _announced(r), _shown(r.title)) for r in reviews]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header) - 1)]
    right = {0, 3}  # numbers line up on the right
    lines = []
    for row in [header, *rows]:
        cells = [
            cell.rjust(w) if i in right else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(row[:-1], widths, strict=True))
        ]
        line = "  ".join([*cells, row[-1]])
        if width is not None and len(line) > width:
            line = truncate(line, max(width, sum(widths) + 2 * len(widths) + 10))
        lines.append(line.rstrip())
    return "\n".join(lines) + "\n"


def _as_json(reviews: Sequence[ReviewListing]) -> str:
    return json.dumps([asdict(r) | {"announced": r.announced_in > 0} for r in reviews], ensure_ascii=False, indent=2)


def print_reviews(reviews: Sequence[ReviewListing], *, as_json: bool, out: TextIO | None = None) -> None:
    out = out or sys.stdout
    if as_json:
        out.write(_as_json(reviews) + "\n")
        return
    if not reviews:
        print("no reviews", file=sys.stderr)
        return
    width = shutil.get_terminal_size().columns if out.isatty() else None
    out.write(format_table(reviews, width=width))


def handle_list(args: argparse.Namespace) -> int:
    settings = load_or_exit(args.env_file, require_token=False)
    try:
        reviews = asyncio.run(list_reviews(settings.database_path, feed=args.feed, search=args.search))
    except UserFacingError as exc:
        return fail(exc.message)
    print_reviews(reviews, as_json=args.json)
    return 0
