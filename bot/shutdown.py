"""Bounded graceful shutdown: one budget shared by every step, and a watchdog behind it.

Docker sends SIGKILL 10 s after SIGTERM (systemd after 90 s), and a SIGKILL in
the middle of a flush is exactly what a graceful shutdown exists to avoid. So
Matinee promises to exit within :data:`SHUTDOWN_SECONDS` of the signal:

* :class:`ShutdownBudget` is the deadline. ``MatineeBot.close`` runs its steps
  (unload cogs, close the gateway, finish handlers in flight, flush the writer,
  close clients, close the database) through :meth:`ShutdownBudget.step`, each
  with its own cap and never past the deadline. A step that runs out of time is
  cancelled, logged as cut short, and the shutdown goes on: a stuck HTTP close
  must not cost the comments still queued for the database.
* :class:`Watchdog` is the backstop for what cooperation cannot bound (a thread
  stuck in a DNS look-up that interpreter exit would join, say): if the process
  is still alive at :data:`WATCHDOG_SECONDS`, it says so and exits with status 1.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import threading
import time
from collections.abc import Awaitable, Callable

__all__ = ["CLOSE_SECONDS", "SHUTDOWN_SECONDS", "WATCHDOG_SECONDS", "ShutdownBudget", "Watchdog"]

log = logging.getLogger(__name__)

SHUTDOWN_SECONDS = 8.0  # SIGTERM to process exit; Docker's SIGKILL comes at 10 s
# What MatineeBot.close may spend; the rest is for asyncio's teardown and interpreter exit.
CLOSE_SECONDS = 6.5
# When the watchdog gives up: before SHUTDOWN_SECONDS, which counts from the signal's
# sending, not from its handler running on a busy event loop.
WATCHDOG_SECONDS = 7.5
# A step cut short is cancelled; this is how long it then gets to unwind before we move on.
UNWIND_SECONDS = 0.25


class ShutdownBudget:
    """A deadline for a shutdown, and a log of how each step used it."""

    def __init__(self, seconds: float = CLOSE_SECONDS, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.started = clock()
        self.deadline = self.started + seconds
        self.cut_short: list[str] = []

    def remaining(self) -> float:
        return max(0.0, self.deadline - self._clock())

    def elapsed(self) -> float:
        return self._clock() - self.started

    def allowance(self, *, cap: float | None = None, keep: float = 0.0) -> float:
        """Seconds a step may take: what is left after ``keep`` (reserved for later steps), at most ``cap``."""
        seconds = self.remaining() - keep
        if cap is not None:
            seconds = min(seconds, cap)
        return max(0.0, seconds)

    async def step(self, name: str, work: Awaitable[object], *, cap: float | None = None, keep: float = 0.0) -> bool:
        """Await ``work`` within :meth:`allowance`; True if it finished, False if cut short or failed.

        A step that overruns is cancelled and given :data:`UNWIND_SECONDS` to
        unwind; one that raises is logged. Either way the shutdown goes on.
        """
        seconds = self.allowance(cap=cap, keep=keep)
        started = self._clock()
        task = asyncio.ensure_future(work)
        try:
            done, _ = await asyncio.wait({task}, timeout=seconds)
        except asyncio.CancelledError:
            task.cancel()
            raise
        took = self._clock() - started
        if not done:
            task.cancel()
            await asyncio.wait({task}, timeout=UNWIND_SECONDS)
            self.cut_short.append(name)
            log.warning("shutdown: %s cut short after %.2f s (its share of the budget)", name, took)
            return False
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("shutdown: %s failed after %.2f s", name, took, exc_info=exc)
            return False
        log.info("shutdown: %s took %.2f s", name, took)
        return True


class Watchdog:
    """Exits the process if it is still alive ``seconds`` after :meth:`arm` (a daemon timer thread)."""

    def __init__(self, seconds: float = WATCHDOG_SECONDS, *, exit: Callable[[int], object] = os._exit) -> None:
        self.seconds = seconds
        self._exit = exit
        self._timer: threading.Timer | None = None

    def arm(self) -> None:
        if self._timer is None:
            self._timer = threading.Timer(self.seconds, self._fire)
            self._timer.daemon = True
            self._timer.start()

    def disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()

    def _fire(self) -> None:
        alive = sorted(t.name for t in threading.enumerate() if t is not threading.current_thread())
        log.error(
            "shutdown took longer than %.0f s; exiting now (threads still running: %s)",
            self.seconds,
            ", ".join(alive) or "none",
        )
        for stream in (*logging.getLogger().handlers, sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):  # exiting anyway
                stream.flush()
        self._exit(1)
