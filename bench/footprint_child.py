"""One Matinee start, measured from the inside: ``python -m bench.footprint_child ...``.

Runs in its own process so the resident memory it reports is the bot's alone
(the Discord double lives in the parent). Prints one JSON line:
``{"ready_seconds": ..., "rss_bytes": ..., "cogs": [...]}``. ``ready_seconds``
runs from the parent's spawn timestamp (so interpreter start and imports
count) to ``on_ready``, minus discord.py's ``guild_ready_timeout`` wait.
"""

from __future__ import annotations

import time

SPAWNED_AT_FALLBACK = time.time()

import argparse  # noqa: E402 - the clock above must start before any import work
import asyncio  # noqa: E402
import contextlib  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402


def rss_bytes() -> int:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


async def start(args: argparse.Namespace) -> dict:
    from bot.bot import MatineeBot
    from bot.settings import Secret, Settings

    settings = Settings(
        discord_token=Secret(args.token),
        discord_api_base=args.api_base,
        discord_gateway_url=args.gateway,
        database_path=Path(args.database),
        reviews_dir=Path(args.reviews_dir),
        log_level="WARNING",
        web_port=0,
    )
    bot = MatineeBot(settings, sync="auto", guild_ready_timeout=args.guild_ready_timeout)
    runner = asyncio.create_task(bot.start(args.token))
    waiter = asyncio.create_task(bot.wait_until_ready())
    done, _ = await asyncio.wait({runner, waiter}, timeout=120, return_when=asyncio.FIRST_COMPLETED)
    ready_at = time.time()
    rss = rss_bytes()
    if waiter not in done:
        if runner in done:
            runner.result()
        raise TimeoutError("the bot did not become ready in 120 s")
    result = {
        "ready_seconds": ready_at - args.spawned_at - args.guild_ready_timeout,
        "rss_bytes": rss,
        "guilds": len(bot.guilds),
        "cogs": sorted(bot.cogs),
        "failed_extensions": dict(getattr(bot, "failed_extensions", {})),
    }
    await bot.close()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await asyncio.wait_for(runner, 10)
    return result


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database", required=True)
    parser.add_argument("--reviews-dir", required=True)
    parser.add_argument("--api-base", required=True)
    parser.add_argument("--gateway", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--spawned-at", type=float, default=SPAWNED_AT_FALLBACK)
    parser.add_argument("--guild-ready-timeout", type=float, default=0.2)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    result = asyncio.run(start(args))
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
