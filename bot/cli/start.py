"""``matinee start``: what ``make run`` runs. The real bot with a token, the sandbox without one.

Settings are read exactly as ``matinee run`` reads them (the environment over ``.env``, or
``--env-file``/``$MATINEE_ENV_FILE``): with a ``DISCORD_TOKEN`` this *is* ``matinee run``;
without one it starts ``matinee sandbox`` and says so. ``matinee run`` itself never falls
back to the sandbox, so a production service with a forgotten token fails loudly instead.
"""

from __future__ import annotations

import argparse

from . import run, sandbox
from ._common import load_or_exit


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "start",
        help="run the bot if DISCORD_TOKEN is set, else the local sandbox (what `make run` does)",
        description="With DISCORD_TOKEN set (environment or .env) this is `matinee run`; without it, "
        "`matinee sandbox` (the options below apply to the sandbox).",
        epilog="Examples:\n  matinee start            # what `make run` runs\n"
        "  matinee start --open     # no token: the sandbox, opened in the browser",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sandbox.add_sandbox_arguments(parser)
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    settings = load_or_exit(args.env_file, require_token=False,
                            log_level=None if args.verbose else sandbox.QUIET_LOG_LEVEL)  # fmt: skip
    if settings.discord_token:
        return run.handle(args)
    return sandbox.run_sandbox(settings, args, reason="No DISCORD_TOKEN is set, so this is the ")
