"""Can this process create, or open for writing, the database at a path? Said in words.

Why: SQLite reports a read-only directory as "attempt to write a readonly database"
or "unable to open database file", sometimes only at the first write, and a parent
that is a file surfaces as ``FileExistsError`` from ``mkdir``. An operator needs to
know *which* part is wrong (the path, the directory or the file) and that nothing
is corrupt. :func:`database_access_problem` looks before SQLite does; ``Database.open``,
``matinee run`` (before it takes the database's lock) and ``matinee doctor`` all ask it.

WAL mode writes ``-wal`` and ``-shm`` files beside the database, so the directory
must be writable even when the database file already exists.
"""

from __future__ import annotations

import contextlib
import errno
import os
import pwd
from pathlib import Path

__all__ = ["database_access_problem"]


def _user() -> str:
    uid = os.geteuid()
    try:
        return f"user {pwd.getpwuid(uid).pw_name}"
    except KeyError:
        return f"uid {uid}"


def _read_only_file_system(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _not_writable(directory: Path) -> str:
    """Why ``directory`` cannot be written, as the end of a sentence about it."""
    if _read_only_file_system(directory):
        return "is on a read-only file system"
    return f"is not writable by {_user()}"


def database_access_problem(path: Path | str) -> str | None:
    """Why the database at ``path`` cannot be created or opened for writing; None when it can.

    Looks only: creates nothing, changes nothing (the file is opened for writing and
    closed again, which changes neither its contents nor its times).
    """
    path = Path(path)
    if path.is_dir():
        return f"DATABASE_PATH {path} is a directory, not a file; name a file in it, such as {path / 'matinee.db'}"
    directory = path.parent
    existing = directory
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is a file, not a directory, so the database {path} cannot be created inside it"
    if existing != directory:
        if not os.access(existing, os.W_OK | os.X_OK):
            reason = f"{existing} {_not_writable(existing)}"
            return f"the directory {directory} does not exist and cannot be created: {reason}"
        return None  # Database.open creates the directories, then the file
    if not os.access(directory, os.W_OK | os.X_OK):
        what = "keeps its -wal and -shm files" if path.exists() else "creates the database and its -wal and -shm files"
        return f"the database's directory {directory} {_not_writable(directory)} (Matinee {what} there)"
    if path.exists():
        try:
            fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        except OSError as exc:
            if exc.errno == errno.EROFS:
                return f"the database file {path} is on a read-only file system"
            if exc.errno in (errno.EACCES, errno.EPERM):
                return f"the database file {path} is read-only for {_user()}; Matinee needs to write to it"
            return f"the database file {path} cannot be opened for writing: {exc.strerror or exc}"
        with contextlib.suppress(OSError):
            os.close(fd)
    return None

