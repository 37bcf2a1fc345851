"""Who is using the database file: a lock on ``<database>.lock`` held for a process's whole life.

``matinee restore`` must never replace the database under a running bot: the bot would keep
writing to the replaced file, and its write-ahead log could be applied to the wrong database.
So ``matinee run`` holds an exclusive ``flock`` on the lock file from start to exit, and
``matinee restore`` takes the same lock: whichever comes second fails at once, naming the
holder's pid. The kernel drops an ``flock`` when its process ends, however it ends (SIGKILL,
OOM, a power cut), so a crashed bot leaves a lock *file* but never a lock that blocks anything.
The file is never deleted: deleting a lock file that another process has just opened would let
two processes each hold "the" lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from types import TracebackType

from .database import StorageError

__all__ = ["DatabaseInUseError", "DatabaseLock", "lock_path"]


class DatabaseInUseError(StorageError):
    """Another Matinee process holds the database's lock."""


def lock_path(database: Path | str) -> Path:
    return Path(f"{database}.lock")


class DatabaseLock:
    """An exclusive, non-blocking lock on ``database``'s lock file; use it as a context manager.

    ``role`` (e.g. ``"matinee run"``) is written into the file with the pid, so the
    process that is refused can say who holds the lock.
    """

    def __init__(self, database: Path | str, role: str) -> None:
        self.database = Path(database)
        self.path = lock_path(database)
        self.role = role
        self._fd: int | None = None

    def acquire(self) -> None:
        if self._fd is not None:
            raise RuntimeError("the lock is already held")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise StorageError(f"cannot create {self.path} next to the database: {exc.strerror or exc}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise DatabaseInUseError(
                f"{self.database} is in use by {holder or 'another Matinee process'}; stop it first"
            ) from None
        except OSError as exc:
            os.close(fd)
            raise StorageError(f"cannot lock {self.path}: {exc.strerror or exc}") from exc
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {self.role}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)  # the pid inside would otherwise outlive this process
        os.close(fd)  # closing the last descriptor releases the flock

    def __enter__(self) -> DatabaseLock:
        self.acquire()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


def _read_holder(fd: int) -> str | None:
    """``"matinee run (pid 1234)"`` from the lock file, or None if it says nothing usable."""
    try:
        text = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
    except OSError:
        return None
    pid, _, role = text.partition(" ")
    if not pid.isdigit():
        return None
    return f"{role or 'a Matinee process'} (pid {pid})"
