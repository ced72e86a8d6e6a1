"""watchdog observers that only record paths.

An exception in a watchdog handler kills its thread silently, and a kernel
queue overflow only logs a warning; so the handler here does nothing but put
paths into a thread-safe inbox, overflows are caught from watchdog's logger,
and `Watcher.check` (called from the daemon loop) restarts a dead observer and
asks for a reconcile scan. The scan makes any lost event harmless.
"""

from __future__ import annotations

import logging
import os
import threading
import warnings
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from watchdog.events import (DirCreatedEvent, DirMovedEvent, FileClosedEvent, FileCreatedEvent, FileModifiedEvent,
                             FileMovedEvent, FileSystemEvent, FileSystemEventHandler)
from watchdog.observers import Observer
from watchdog.observers.polling import PollingObserverVFS


@dataclass(frozen=True)
class Change:
    path: str
    immediate: bool = False  # renamed into place: complete already
    is_directory: bool = False  # a folder appeared: scan it, its files had no events


class ChangeQueue:
    """What the observer threads hand to the daemon loop."""

    def __init__(self) -> None:
        self._items: deque[Change] = deque()
        self._lock = threading.Lock()
        self.wakeup = threading.Event()
        self.rescan_requested = threading.Event()

    def put(self, change: Change) -> None:
        with self._lock:
            self._items.append(change)
        self.wakeup.set()

    def request_rescan(self) -> None:
        self.rescan_requested.set()
        self.wakeup.set()

    def drain(self) -> list[Change]:
        with self._lock:
            items = list(self._items)
            self._items.clear()
        return items


# The events that can bring work: a file written, closed or renamed into place, a folder made or moved in.
# The observers ask the kernel for these only. Reads (the import's own hashing and copying), deletions
# (the import removing its origin) and a folder's "modified" are not work; asked for, they came to
# about seven events a file, each handed through three watchdog threads and the daemon's lock.
RECORDED_EVENTS = (FileCreatedEvent, FileModifiedEvent, FileClosedEvent, FileMovedEvent, DirCreatedEvent, DirMovedEvent)


class _Recorder(FileSystemEventHandler):
    def __init__(self, queue: ChangeQueue) -> None:
        self.queue = queue

    def on_any_event(self, event: FileSystemEvent) -> None:
        try:
            if not isinstance(event, RECORDED_EVENTS):
                return
            moved = event.event_type == "moved"
            # bytes that are not UTF-8 survive as surrogates; the path policy refuses them
            path = os.fsdecode(event.dest_path if moved else event.src_path)
            self.queue.put(Change(path, is_directory=True) if event.is_directory else Change(path, immediate=moved))
        except Exception:  # never let an exception kill the observer thread
            self.queue.request_rescan()


class _OverflowListener(logging.Handler):
    """watchdog reports inotify overflows only through its logger: turn that into a rescan."""

    def __init__(self, queue: ChangeQueue) -> None:
        super().__init__(level=logging.WARNING)
        self.queue = queue

    def emit(self, record: logging.LogRecord) -> None:
        if "overflow" in record.getMessage().lower():
            self.queue.request_rescan()


_WATCHDOG_LOGGERS = ("watchdog.observers.inotify", "watchdog.observers.inotify_c")
# watchdog 7 warns when a folder created inside a recursive watch is registered twice (it then
# replaces the callback, which is what we want); the warning is noise in a service's log.
warnings.filterwarnings("ignore", message=r"Callback with id .* already exists", category=RuntimeWarning,
                        module=r"watchdog\.observers\.inotify")


class Watcher:
    def __init__(self, roots: list[Path], queue: ChangeQueue, *, polling: bool = False,
                 poll_interval_s: float = 0.25) -> None:
        self.roots = [Path(r) for r in roots]
        self.queue = queue
        self.polling = polling
        self.poll_interval_s = poll_interval_s
        self._observer: Observer | None = None
        self._overflow = _OverflowListener(queue)
        self.restarts = 0

    def start(self) -> None:
        for name in _WATCHDOG_LOGGERS:
            logging.getLogger(name).addHandler(self._overflow)
        self._observer = self._new_observer()
        self._observer.start()

    def _new_observer(self):
        # lstat: the polling snapshot must not walk into a linked folder (or a loop) any more than inotify does.
        observer = (PollingObserverVFS(os.lstat, os.scandir, polling_interval=self.poll_interval_s) if self.polling
                    else Observer())
        observer.daemon = True
        handler = _Recorder(self.queue)
        for root in self.roots:
            root.mkdir(parents=True, exist_ok=True)
            observer.schedule(handler, str(root), recursive=True, event_filter=list(RECORDED_EVENTS))
        return observer

    def is_healthy(self) -> bool:
        obs = self._observer
        if obs is None or not obs.is_alive():
            return False
        return all(emitter.is_alive() for emitter in list(obs.emitters))

    def check(self) -> bool:
        """Restart a dead observer; True when a restart happened (and a rescan was requested)."""
        if self._observer is None or self.is_healthy():
            return False
        self._stop_observer()
        self._observer = self._new_observer()
        self._observer.start()
        self.restarts += 1
        self.queue.request_rescan()
        return True

    def _stop_observer(self) -> None:
        obs, self._observer = self._observer, None
        if obs is None:
            return
        try:
            obs.stop()
            obs.join(timeout=2.0)
        except Exception:
            pass

    def stop(self) -> None:
        self._stop_observer()
        for name in _WATCHDOG_LOGGERS:
            logging.getLogger(name).removeHandler(self._overflow)
