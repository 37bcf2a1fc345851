"""Figure 8: the sandbox — from ``matinee sandbox`` to its address, and from Ctrl-C to exit.

Issue 13: on an installed checkout, ``make run`` without a token prints the sandbox's address
within 15 s. Each run spawns ``python -m bot sandbox --port 0`` as ``make run`` would (no
settings, no `.env`), times the address line (the sample reviews are announced, with their
threads and polls, by then), sends SIGINT and times the exit. The baseline is a process that
only imports what the sandbox imports and exits: what is left above it is the sandbox's own work.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

from bench.harness import Row, Stat, ratio_of, verdict

NUMBER = "8"
TITLE = "Sandbox"
NOTES = [
    "Each run: a fresh `python -m bot sandbox --port 0` with no settings (MATINEE_ENV_FILE=/dev/null), in a fresh "
    "temporary directory; timed from spawning the process to its address line, which it prints once the bot is "
    "connected, set up by the owner's commands, and the three sample reviews are announced with threads and polls.",
    "Baseline: spawning a process that imports the bot, every cog and the sandbox, then exits (interpreter start "
    "and imports, no work).",
    "Stop: from SIGINT (Ctrl-C) to the process's exit; it must exit 0 with nothing on stderr.",
    "The first-install time (pip from the package index) depends on the network and is not measured here.",
]
SIZES = {
    "full": {"runs": 5, "budget_seconds": 240},
    "smoke": {"runs": 1, "budget_seconds": 90},
}
PLANNED = [
    ("8a", "`matinee sandbox` → address printed", "≤ 15 s"),
    ("8b", "Ctrl-C → exit (clean)", "report"),
]
REPO_ROOT = Path(__file__).resolve().parents[2]
IMPORTS = "import bot.cli, bot.sandbox, bot.bot as b; [__import__(n) for n in b.discover_extensions()]"


def _environment(tmp: Path) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(REPO_ROOT), "TMPDIR": str(tmp),
            "MATINEE_ENV_FILE": os.devnull}  # fmt: skip


async def _imports_only(tmp: Path) -> float:
    started = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", IMPORTS, cwd=tmp, env=_environment(tmp))
    await asyncio.wait_for(proc.wait(), 60)
    if proc.returncode != 0:
        raise RuntimeError(f"importing the sandbox failed ({proc.returncode})")
    return time.perf_counter() - started


async def _one_run(tmp: Path) -> tuple[float, float]:
    started = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "sandbox", "--port", "0", cwd=tmp, env=_environment(tmp),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stderr is not None
    try:
        while True:
            line = await asyncio.wait_for(proc.stdout.readline(), 90)
            if not line:
                raise RuntimeError("the sandbox exited before printing its address")
            if b"http://127.0.0.1:" in line:
                break
        printed = time.perf_counter() - started
        stopping = time.perf_counter()
        proc.send_signal(signal.SIGINT)
        _out, err = await asyncio.wait_for(proc.communicate(), 60)
        stopped = time.perf_counter() - stopping
    except BaseException:
        proc.kill()
        await proc.wait()
        raise
    if proc.returncode != 0 or err.strip():
        raise RuntimeError(f"the sandbox did not stop cleanly (exit {proc.returncode}): {err.decode()[-200:]}")
    return printed, stopped


async def run(sizes: dict) -> list[Row]:
    printed: list[float] = []
    stopped: list[float] = []
    imports: list[float] = []
    for _ in range(sizes["runs"]):
        with tempfile.TemporaryDirectory(prefix="bench-sandbox-") as name:
            imports.append(await _imports_only(Path(name)))
            to_address, to_exit = await _one_run(Path(name))
            printed.append(to_address)
            stopped.append(to_exit)
    value, baseline = Stat.of(printed, "s"), Stat.of(imports, "s")
    address = Row(
        "8a", PLANNED[0][1], value, baseline, "imports only", ratio_of(value, baseline), PLANNED[0][2],
        verdict(value.median <= 15.0), method=f"{sizes['runs']} runs.",
    )  # fmt: skip
    stop = Row(
        "8b", PLANNED[1][1], Stat.of(stopped, "s"), None, "", None, PLANNED[1][2], "reported",
        method="Exit code 0 and an empty stderr in every run (a run that failed either is an error, not a number).",
    )  # fmt: skip
    return [address, stop]
