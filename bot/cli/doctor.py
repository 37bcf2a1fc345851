"""``matinee doctor``: check the token, intent, database, feeds, model and TMDB; print the invite URL."""

from __future__ import annotations

import argparse
import asyncio

from ..preflight import EXIT_FAILED, EXIT_UNCHECKED, Status, exit_code, invite_url, run_checks
from ._common import load_or_exit

LABELS = {Status.OK: "ok  ", Status.FAIL: "FAIL", Status.UNCHECKED: "??  ", Status.OFF: "--  "}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "doctor",
        help="check that each configured part really works, and print the invite URL",
        description=(
            "Show the token to Discord and read the application's Message Content intent, fetch and parse every "
            "feed through the bot's own URL policy, check the database can be written, make one authenticated call "
            "to the model and to TMDB, then print the invite URL. Exit 0: everything configured works; "
            f"{EXIT_FAILED}: something failed; {EXIT_UNCHECKED}: nothing failed, but something could not be "
            "checked (offline, or a service's outage)."
        ),
        epilog="Examples:\n  matinee doctor\n  matinee --env-file /etc/matinee/matinee.env doctor",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    settings = load_or_exit(args.env_file, require_token=False)
    results = asyncio.run(run_checks(settings))
    width = max(len(r.name) for r in results)
    for result in results:
        print(f"[{LABELS[result.status]}] {result.name.ljust(width)}  {result.detail}")
    code = exit_code(results)
    failed = sum(r.status is Status.FAIL for r in results)
    unchecked = sum(r.status is Status.UNCHECKED for r in results)
    print()
    if code == EXIT_FAILED:
        print(f"{failed} check(s) failed; the lines marked FAIL say what to fix.")
    elif code == EXIT_UNCHECKED:
        print(f"Nothing failed, but {unchecked} check(s) could not be made (marked ??); run doctor again later.")
    else:
        print("Everything configured works (-- marks what is not configured).")
    url, real = invite_url(settings)
    print()
    print("Invite Matinee with:" if real else "Invite URL (set DISCORD_TOKEN to fill in the application id):")
    print(f"  {url}")
    return code
