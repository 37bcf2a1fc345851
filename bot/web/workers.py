"""Several web worker processes on one address: ``matinee web --workers N``.

One Python process serves about one core's worth of requests (BENCHMARKS.md figure
7g measures aiohttp's own floor), so a blog on a bigger machine scales its read side
out with more processes. ``matinee web`` processes can already share one database
file; this module lets one command run several on one port.

The parent binds one listening socket per worker to the same address with
``SO_REUSEPORT``, so the kernel spreads new connections evenly across them (one
shared socket would wake every worker for each connection and let one of them take
most). It then forks a worker per socket and only supervises:

- it keeps every socket open, so connections that arrive while a worker restarts
  wait in that worker's queue instead of being refused;
- a worker that dies is started again, after a back-off if it keeps dying young,
  so a worker that cannot start does not spin the CPU;
- a worker that exits with :data:`FATAL` (it could not start at all: a database at
  the wrong schema version, say) stops every worker, since the others would too;
- SIGTERM or SIGINT stop every worker; one that ignores it is killed after a grace
  period. If the parent itself is killed (SIGKILL leaves no time to stop anyone), the
  kernel sends each worker SIGTERM, so no worker is left serving on its own.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import logging
import os
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ..backoff import Backoff

__all__ = ["FATAL", "MAX_WORKERS", "Supervisor", "bind_sockets"]

log = logging.getLogger(__name__)

FATAL = 2  # a worker's exit code for "cannot start": the same for every worker, so do not retry
MAX_WORKERS = 64
_SETTLED_SECONDS = 10.0  # a worker that lived this long was healthy: its next restart is immediate


def bind_sockets(host: str, port: int, count: int) -> list[socket.socket]:
    """``count`` listening sockets on one address (``port`` 0: the first picks it, the rest share it)."""
    found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, kind, proto, _, address = found[0]
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if len(sockets) > 1:
                address = (address[0], sockets[0].getsockname()[1], *address[2:])
            sock.bind(address)
            sock.listen(1024)
            sock.setblocking(False)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


@dataclass(slots=True)
class _Worker:
    sock: socket.socket
    backoff: Backoff = field(default_factory=lambda: Backoff(first=0.5, cap=30.0))
    pid: int | None = None
    started: float = 0.0
    restart_at: float = 0.0


class Supervisor:
    """Forks one worker per socket, restarts those that die, and stops them all on SIGTERM or SIGINT.

    ``serve`` runs in the child with its own socket and returns the child's exit
    code; the parent never runs an event loop, so forking is safe.
    """

    def __init__(
        self, sockets: list[socket.socket], serve: Callable[[socket.socket], int], *, grace_seconds: float = 10.0
    ) -> None:
        self._workers = [_Worker(sock) for sock in sockets]
        self._serve = serve
        self._grace = grace_seconds
        self._stopping = False
        self._code = 0

    @property
    def pids(self) -> list[int]:
        return [w.pid for w in self._workers if w.pid is not None]

    def run(self) -> int:
        """Supervise until told to stop (or a worker cannot start); the exit code for the command."""
        previous = {sig: signal.signal(sig, self._stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            for worker in self._workers:
                self._start(worker)
            while not self._stopping:
                self._reap()
                now = time.monotonic()
                for worker in self._workers:
                    if worker.pid is None and not self._stopping and now >= worker.restart_at:
                        self._start(worker)
                time.sleep(0.1)
            self._stop_all()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            for worker in self._workers:
                worker.sock.close()
        return self._code

    def _stop(self, signum: int, _frame: object) -> None:
        self._stopping = True

    def _start(self, worker: _Worker) -> None:
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:  # the worker
            code = 1
            try:
                for sig in (signal.SIGTERM, signal.SIGINT):
                    signal.signal(sig, signal.SIG_DFL)
                _end_with_parent(parent)
                for other in self._workers:
                    if other is not worker:
                        other.sock.close()
                code = self._serve(worker.sock)
            except BaseException:
                log.exception("a web worker failed")
            finally:
                logging.shutdown()
                os._exit(code)
        worker.pid, worker.started = pid, time.monotonic()

    def _reap(self) -> None:
        """Note every worker that ended; schedule its restart, or stop everything if it could not start."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            worker = next((w for w in self._workers if w.pid == pid), None)
            if worker is None:
                continue
            worker.pid = None
            if self._stopping:
                continue
            code = os.waitstatus_to_exitcode(status)
            if code == FATAL:
                self._stopping, self._code = True, FATAL
                continue
            lived = time.monotonic() - worker.started
            if lived >= _SETTLED_SECONDS:
                worker.backoff.reset()
                delay = 0.0
            else:
                delay = worker.backoff.next_delay()
            worker.restart_at = time.monotonic() + delay
            how = f"signal {-code}" if code < 0 else f"code {code}"
            log.warning("web worker %d ended (%s) after %.1f s; starting it again in %.1f s", pid, how, lived, delay)

    def _stop_all(self) -> None:
        for pid in self.pids:
            with contextlib.suppress(ProcessLookupError):  # it ended meanwhile
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + self._grace
        while self.pids and time.monotonic() < deadline:
            self._reap()
            time.sleep(0.05)
        for pid in self.pids:
            log.warning("web worker %d did not stop within %.0f s; killing it", pid, self._grace)
            with contextlib.suppress(ProcessLookupError):  # it ended meanwhile
                os.kill(pid, signal.SIGKILL)
        while self.pids:
            self._reap()
            time.sleep(0.05)


_PR_SET_PDEATHSIG = 1


def _end_with_parent(parent: int) -> None:
    """Ask Linux to send this worker SIGTERM when the supervisor dies; elsewhere, do without."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the supervisor died before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)
