"""One daemon per state folder and per datasets folder: exclusive locks on
`<state>/kellyd.lock` and `<datasets>/.kellyd.lock`.

The second lock stops two daemons with different state folders from sharing one
datasets folder, where each would take the other's temporary files for stale
leftovers and delete them."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from kellyd.errors import AlreadyRunning

LOCK_NAME = "kellyd.lock"
DATASETS_LOCK_NAME = ".kellyd.lock"


class StateLock:
    what = "state folder"
    hint = "stop it first (or point --config at another state folder)"

    def __init__(self, state_dir: Path) -> None:
        self.path = Path(state_dir) / LOCK_NAME
        self._fd: int | None = None

    def acquire(self, *, purpose: str = "daemon") -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 200).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise AlreadyRunning(f"another kellyd ({holder}) is using the {self.what} {self.path.parent}; "
                                 f"{self.hint}") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()}, {purpose}".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class DatasetsLock(StateLock):
    """The same lock on the datasets folder; `purpose` should name the holder's state folder."""

    what = "datasets folder"
    hint = "two daemons must not share a datasets folder: stop it, or give this one its own [paths] datasets"

    def __init__(self, datasets_dir: Path) -> None:
        self.path = Path(datasets_dir) / DATASETS_LOCK_NAME
        self._fd = None


def lock_holder(state_dir: Path) -> str | None:
    """Who holds the lock ('pid 123, daemon'), or None when nobody does."""
    path = Path(state_dir) / LOCK_NAME
    if not path.exists():
        return None
    fd = os.open(path, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return os.read(fd, 200).decode(errors="replace").strip() or "unknown"
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
