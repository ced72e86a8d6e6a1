"""A full disk is a pause, not a failure: work waits until space returns.

A step, a quarantine or a catalog commit that fails because the datasets or
state folder is full (ENOSPC, EDQUOT, SQLite's "database or disk is full")
must neither quarantine the file nor count as an attempt nor end the daemon.
`SpaceWatch` remembers that the disk filled up, tells the runner to stop
dispatching, and measures free space with `os.statvfs` at a modest interval
until enough has come back.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Sequence

import structlog

log = structlog.get_logger("kellyd.diskspace")

DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
CHECK_EVERY_S = 2.0
# Work resumes once this much more space is free than when the disk filled up, so a
# disk that gains a few bytes does not flap between full and not.
RESUME_MARGIN_BYTES = 4 * 1024 * 1024


def is_disk_full(exc: BaseException) -> bool:
    """True for the errors a full disk raises (OS or SQLite), whatever wraps them."""
    if isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS:
        return True
    if isinstance(exc, sqlite3.Error):
        return getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or "disk is full" in str(exc)
    return False


def free_bytes(folder: Path) -> int | None:
    """Bytes an unprivileged writer may still use under `folder`, or None if it cannot be measured."""
    try:
        st = os.statvfs(folder)
    except OSError:
        return None
    return st.f_bavail * st.f_frsize


class SpaceWatch:
    """Whether work must wait for disk space, for the folders the daemon writes."""

    def __init__(self, folders: Sequence[Path], *, check_every_s: float = CHECK_EVERY_S,
                 on_resume: Callable[[], None] | None = None) -> None:
        self.folders = tuple(Path(f) for f in folders)
        self.check_every_s = check_every_s
        self.on_resume = on_resume
        # folder -> free bytes needed before work resumes; empty while not paused.
        self._needed: dict[Path, int] = {}
        self._next_check_s = 0.0
        self.pauses = 0

    @property
    def paused(self) -> bool:
        return bool(self._needed)

    def note_full(self, error: str, *, now_s: float) -> None:
        """A write failed for lack of space: pause until the fullest folder gains some back."""
        measured = {f: free_bytes(f) for f in self.folders}
        known = {f: b for f, b in measured.items() if b is not None}
        # The error rarely says which folder filled up; the one with the least room left did.
        fullest = min(known, key=known.__getitem__) if known else self.folders[0]
        needed = (known.get(fullest) or 0) + RESUME_MARGIN_BYTES
        first = not self._needed
        self._needed[fullest] = max(self._needed.get(fullest, 0), needed)
        self._next_check_s = now_s + self.check_every_s
        if first:
            self.pauses += 1
            log.error("disk_full", folder=str(fullest), free_bytes=known.get(fullest), error=error,
                      hint="work waits (nothing is quarantined) and resumes when space is freed")

    def poll(self, *, now_s: float) -> bool:
        """True while work must wait; measures free space at most every `check_every_s`."""
        if not self._needed or now_s < self._next_check_s:
            return self.paused
        self._next_check_s = now_s + self.check_every_s
        short = {f: n for f, n in self._needed.items() if (free_bytes(f) or 0) < n}
        if not short:
            log.info("disk_space_back", folders=[str(f) for f in self._needed],
                     free_bytes={str(f): free_bytes(f) for f in self._needed})
            self._needed.clear()
            if self.on_resume is not None:
                self.on_resume()
        return self.paused

    @contextmanager
    def tolerated(self, what: str, *, now_s: float, undo: Callable[[], None] | None = None) -> Iterator[None]:
        """Run a block whose disk-full error must not escape: it is noted, `undo` runs, the caller goes on.

        Put it outside `Catalog.transaction()`, so the transaction has rolled back when it runs.
        """
        try:
            yield
        except Exception as exc:
            if not is_disk_full(exc):
                raise
            if undo is not None:
                undo()
            self.note_full(f"{what}: {type(exc).__name__}: {exc}", now_s=now_s)
