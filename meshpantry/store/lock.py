"""The single-writer lock of a data directory.

Only one process may write a store: two writers could each hand out the same
``seq`` of the device's chain, which is a fork. The writer holds an exclusive
``flock`` on a lock file beside the database for as long as the store is open.
The kernel drops the lock when the process dies, however it dies, so a killed
node never leaves a stale lock behind. The holder writes its pid into the file
so that the next process can say who is in the way.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from .errors import StoreLocked


class WriterLock:
    """An exclusive lock on ``path``, held from :meth:`acquire` to :meth:`release`."""

    def __init__(self, path: Path, directory: Path) -> None:
        self.path = path
        self.directory = directory
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock without waiting.

        Raises :class:`StoreLocked` naming the holder's pid if another process
        (or another open store in this process) holds it.
        """
        assert self._fd is None, "lock already held"
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _read_pid(fd)
            os.close(fd)
            raise StoreLocked(self.directory, pid) from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        self._fd = fd

    def release(self) -> None:
        """Drop the lock (idempotent). The pid stays in the file; it is only
        trusted while the lock is held."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _read_pid(fd: int) -> int | None:
    text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    return int(text) if text.isdigit() else None


def holder(path: Path) -> int | None:
    """The pid holding the lock at ``path`` now (0 when unknown), or None
    when nobody holds it. Takes and drops the lock at once to look, so it is
    for waiting on a holder to go, never for deciding who may write."""
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_pid(fd) or 0
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
