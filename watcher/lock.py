"""One writer per database: an OS lock held as long as the process that polls lives.

Two daemons on one SQLite file (a unit started twice, a terminal left open
beside systemd) would both fetch every feed and race to deliver.  The lock is
``flock`` on a file beside the database: the kernel drops it when its holder
dies, however it dies, so a SIGKILLed daemon never leaves a stale lock.  The
holder writes its process id and command into the file, so a refusal can name it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sys
from pathlib import Path
from types import TracebackType

from watcher.core.errors import StoreError


class DatabaseBusy(StoreError):
    """Another watcher process holds the database (``holder``: what it wrote)."""

    def __init__(self, message: str, holder: str) -> None:
        super().__init__(message)
        self.holder = holder


def lock_path(database: Path) -> Path:
    return database.with_name(database.name + ".lock")


class WriterLock:
    """``with WriterLock(db, role)``: this process is the database's one writer."""

    def __init__(self, database: Path, role: str) -> None:
        self.path = lock_path(database)
        self.role = role
        self._fd: int | None = None

    def acquire(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StoreError(f"cannot lock database {self.path}: {exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read(fd) or "another process"
            os.close(fd)
            raise DatabaseBusy(
                f"database {self.path.with_suffix('')} is in use by {holder}; "
                "one watcher polls and delivers per database (stop it, or give this "
                "one its own `database:`)",
                holder,
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"watcher {self.role} (pid {os.getpid()})\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing drops the flock
            self._fd = None

    def __enter__(self) -> WriterLock:
        self.acquire()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()


def _read(fd: int) -> str:
    with contextlib.suppress(OSError):
        os.lseek(fd, 0, os.SEEK_SET)
        return os.read(fd, 200).decode("utf-8", "replace").strip()
    return ""


if sys.platform == "win32":  # pragma: no cover - watcher runs on Linux
    raise ImportError("watcher.lock needs fcntl (Linux, BSD, macOS)")
