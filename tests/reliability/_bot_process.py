"""Run the real Matinee bot in a child process against the loopback double.

Crash and shutdown tests need a bot they can SIGKILL or SIGTERM without taking
pytest down with it. Run as a script, this module starts ``matinee run`` (the
production entry point: settings from the environment, logging with redaction,
signal handlers) and prints one ``MATINEE_READY`` line on stdout once the bot is
ready. :class:`BotProcessFactory` is the test-side half: it builds the
environment that points the child at the double and collects its output.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

READY_MARKER = "MATINEE_READY"
REPO_ROOT = Path(__file__).resolve().parents[2]


def _main() -> int:
    sys.path.insert(0, str(REPO_ROOT))
    from bot.bot import MatineeBot
    from bot.cli import main

    original_setup_hook = MatineeBot.setup_hook

    async def setup_hook(self: MatineeBot) -> None:
        await original_setup_hook(self)

        async def announce_ready() -> None:
            print(READY_MARKER, flush=True)

        self.add_listener(announce_ready, "on_ready")
        burst = int(os.environ.get("MATINEE_TEST_BURST", "0"))
        if burst:

            async def start_burst() -> None:
                asyncio.get_running_loop().create_task(_write_burst(self, burst))

            self.add_listener(start_burst, "on_ready")

    MatineeBot.setup_hook = setup_hook  # type: ignore[method-assign]
    try:
        return main(sys.argv[1:] or ["--env-file", os.devnull, "run"])
    finally:
        out = os.environ.get("MATINEE_TEST_BURST_OUT")
        if out:
            Path(out).write_text(json.dumps(sorted(_acknowledged)))


_acknowledged: set[str] = set()


async def _write_burst(bot: Any, rows: int) -> None:
    """A burst of batched writes (like a busy thread's comments); remembers which were acknowledged.

    A write counts as stored only when ``writer.write`` returned; the test compares
    this set with the database after a SIGTERM landed in the middle of the burst.
    """
    from bot.storage import WriterClosedError

    async def one(key: str) -> None:
        try:
            await bot.writer.write("INSERT INTO meta (key, value) VALUES (?, ?)", (key, "burst"))
        except WriterClosedError:
            return
        _acknowledged.add(key)

    for start in range(0, rows, 500):
        await asyncio.gather(*(one(f"burst:{i:06d}") for i in range(start, min(start + 500, rows))))
        if start == 0:
            print("BURST_STARTED", flush=True)


class BotProcess:
    """One child process running the bot; stdout and stderr are collected line by line."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._ready = asyncio.Event()
        self._readers = [
            asyncio.create_task(self._read(proc.stdout, self.stdout)),
            asyncio.create_task(self._read(proc.stderr, self.stderr)),
        ]

    async def _read(self, stream: asyncio.StreamReader | None, into: list[str]) -> None:
        if stream is None:
            return
        while line := await stream.readline():
            text = line.decode("utf-8", "replace").rstrip("\n")
            into.append(text)
            if text == READY_MARKER:
                self._ready.set()

    @property
    def output(self) -> str:
        return "\n".join(self.stderr + self.stdout)

    async def wait_ready(self, timeout: float = 30.0) -> None:
        waiter = asyncio.create_task(self._ready.wait())
        exited = asyncio.create_task(self.proc.wait())
        await asyncio.wait({waiter, exited}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        exited.cancel()
        if not self._ready.is_set():
            await self._drain()
            raise AssertionError(f"bot process did not become ready (rc={self.proc.returncode}):\n{self.output}")

    async def wait_exit(self, timeout: float = 30.0) -> int:
        rc = await asyncio.wait_for(self.proc.wait(), timeout)
        await self._drain()
        return rc

    async def _drain(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*self._readers, return_exceptions=True), 5)

    def send_signal(self, sig: signal.Signals) -> None:
        if self.proc.returncode is None:
            self.proc.send_signal(sig)

    async def kill(self) -> int:
        """SIGKILL: no clean-up runs, exactly like a crash or an OOM kill."""
        self.send_signal(signal.SIGKILL)
        return await self.wait_exit()

    async def terminate(self, timeout: float = 30.0) -> int:
        self.send_signal(signal.SIGTERM)
        return await self.wait_exit(timeout)


class BotProcessFactory:
    """Starts bot processes that share one database file and reviews dir (like ``run_bot``)."""

    def __init__(self, double: Any, tmp_path: Path) -> None:
        self.double = double
        self.tmp_path = tmp_path
        self.database_path = tmp_path / "matinee.db"
        self.reviews_dir = tmp_path / "reviews"
        self.reviews_dir.mkdir(exist_ok=True)
        self.token = "test-token"
        self.processes: list[BotProcess] = []

    def environment(self, **overrides: str | None) -> dict[str, str]:
        """The child's whole environment: only these settings, no `.env` (``None`` drops a variable)."""
        from tests._environment import child_environment  # lazily: this file also runs as the child script

        settings: dict[str, str | None] = {
            "HOME": str(self.tmp_path),
            "DISCORD_TOKEN": self.token,
            "DISCORD_API_BASE": self.double.api_base,
            "DISCORD_GATEWAY_URL": self.double.gateway_url,
            "DATABASE_PATH": str(self.database_path),
            "REVIEWS_DIR": str(self.reviews_dir),
            "LOG_LEVEL": "INFO",
            "FEED_ALLOW_PRIVATE_NETWORKS": "true",  # the tests' feeds are on loopback
            "WEB_PORT": "0",  # no fixed port: parallel runs would collide
        }
        return child_environment(**{**settings, **overrides})

    async def spawn(self, *args: str, **env: str) -> BotProcess:
        """Start the child without waiting for it (for start-up failures)."""
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(Path(__file__).resolve()),
            *args,
            env=self.environment(**env),
            cwd=str(self.tmp_path),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        process = BotProcess(proc)
        self.processes.append(process)
        return process

    async def start(self, **env: str) -> BotProcess:
        """Start a bot process and wait until it is ready."""
        process = await self.spawn(**env)
        await process.wait_ready()
        return process

    async def kill_all(self) -> None:
        for process in self.processes:
            if process.proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.proc.kill()
            with contextlib.suppress(Exception):
                await process.wait_exit(10)


if __name__ == "__main__":
    raise SystemExit(_main())
