"""``matinee doctor``: check settings, database and integrations; print the invite URL."""

from __future__ import annotations

import argparse
import asyncio

from ..preflight import invite_url, run_checks
from ._common import load_or_exit


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("doctor", help="check the configuration and print the invite URL")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    settings = load_or_exit(args.env_file, require_token=False)
    results = asyncio.run(run_checks(settings))
    width = max(len(r.name) for r in results)
    for result in results:
        status = "ok  " if result.ok else "FAIL"
        print(f"[{status}] {result.name.ljust(width)}  {result.detail}")
    url, real = invite_url(settings)
    print()
    print("Invite Matinee with:" if real else "Invite URL (set DISCORD_TOKEN to fill in the application id):")
    print(f"  {url}")
    return 0 if all(r.ok or r.optional for r in results) else 1
