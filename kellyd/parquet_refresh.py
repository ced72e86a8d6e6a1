"""Keep `manifest.parquet` up to date from the daemon without loading pyarrow into it.

pyarrow adds about 60 MB to a process; the daemon idles at a few tens of MB. So each refresh is
a short-lived `python -m kellyd.manifest_parquet` process that reads the catalog (read-only) and
rewrites the shards that changed. One runs at a time, on a thread of its own, once requests have
been quiet for QUIET_S (at most MAX_DELAY_S after the first): requests are merged, so a burst costs
a few runs, not one per manifest write, and the export thread never waits for one. While the daemon
has work, a refresh waits for the end of the burst (or MAX_DELAY_S), not for a pause in requests.
A failed run is logged and retried at the next change.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import structlog

log = structlog.get_logger("kellyd.parquet")

# No limit on a run: a first write at a million samples reads every features file (most of an hour);
# it saves its progress as it goes, and `stop` ends it at shutdown.
RUN_TIMEOUT_S: float | None = None
# At shutdown a run still going after this is ended: its shards are whole (each renamed into place)
# and the state is written last, so the next start finishes the job (`parquet_behind`).
STOP_WAIT_S = 10.0
# A refresh starts once requests have been quiet this long, or this long after the first one waiting:
# a burst of files costs one process start, not one per manifest write, and the table lags a
# continuous stream by at most MAX_DELAY_S.
QUIET_S = 3.0
MAX_DELAY_S = 30.0
STDERR_TAIL_CHARS = 2000
# The table is a view for readers: its refresh yields the cores to the steps (a first write at a
# million samples reads every features file).
REFRESH_NICE = 10
STATE_NAME = "manifest.parquet.state.json"  # beside manifest.parquet/: the newest catalog change it shows


def parquet_behind(catalog, dataset_id: str, root: Path) -> bool:
    """Whether manifest.parquet shows an older catalog than there is (a change, or a sample deleted since),
    or is missing while samples exist."""
    newest = catalog.db.execute("SELECT MAX(updated_at) FROM samples WHERE dataset_id = ?",
                                (dataset_id,)).fetchone()[0]
    state = parquet_state(root)
    if state is None:
        return newest is not None
    deleted, _ = catalog.deletions_since(dataset_id, deletions_seen(state))
    return state.get("changed_at") != newest or bool(deleted)


def parquet_state(root: Path) -> dict | None:
    """manifest.parquet's state file (which catalog change and deletion its shards show), None if unreadable."""
    try:
        state = json.loads((Path(root) / STATE_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) else None


def deletions_seen(state: dict) -> int:
    seen = state.get("deletions_seen", 0)
    return seen if isinstance(seen, int) and not isinstance(seen, bool) else 0


def refresh_command(catalog_path: Path, dataset_id: str, root: Path) -> list[str]:
    return [sys.executable, "-m", "kellyd.manifest_parquet", "--catalog", str(catalog_path),
            "--dataset", dataset_id, "--root", str(root), "--nice", str(REFRESH_NICE)]


class ParquetRefresher:
    """Runs the refresh process for the datasets asked for, one at a time, on its own thread."""

    def __init__(self, catalog_path: Path, *, timeout_s: float | None = RUN_TIMEOUT_S, quiet_s: float = QUIET_S,
                 max_delay_s: float = MAX_DELAY_S) -> None:
        self.catalog_path = Path(catalog_path)
        self.timeout_s = timeout_s
        self.quiet_s = quiet_s
        self.max_delay_s = max_delay_s
        self._first_at = self._last_at = 0.0
        self._pending: dict[str, Path] = {}
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._busy = False
        self._daemon_busy = False  # see `set_daemon_busy`
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._proc: subprocess.Popen | None = None
        self.runs = 0
        self.failures = 0

    def request(self, dataset_id: str, root: Path) -> None:
        """Ask for a refresh of `dataset_id` (merged with any request not yet started)."""
        with self._lock:
            if self._stopping:
                return
            now = time.monotonic()
            if not self._pending:
                self._first_at = now
            self._last_at = now
            self._pending[dataset_id] = Path(root)
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="kellyd-parquet", daemon=True)
                self._thread.start()
            self._wake.notify_all()

    def set_daemon_busy(self, busy: bool) -> None:
        """Whether the daemon has work (files found, settling or in steps). While it does, a refresh waits
        for the end of the burst, not for QUIET_S without requests: a manifest write that took long
        leaves such a gap in the middle of a burst, and the refresh process would take a core from the
        steps. MAX_DELAY_S still holds, so a stream that never pauses is shown every MAX_DELAY_S."""
        with self._lock:
            if busy != self._daemon_busy:
                self._daemon_busy = busy
                self._wake.notify_all()

    def _due(self) -> float:
        """When the waiting requests are to be run (monotonic seconds); the caller holds the lock."""
        latest = self._first_at + self.max_delay_s
        return latest if self._daemon_busy else min(self._last_at + self.quiet_s, latest)

    def _loop(self) -> None:
        while True:
            with self._lock:
                while not self._pending and not self._stopping:
                    self._wake.wait()
                if not self._pending:
                    return  # stopping, nothing left
                while not self._stopping:
                    due = self._due()
                    if time.monotonic() >= due:
                        break
                    self._wake.wait(due - time.monotonic())
                dataset_id, root = next(iter(self._pending.items()))
                del self._pending[dataset_id]
                self._busy = True
            try:
                self._run_one(dataset_id, root)
            finally:
                with self._lock:
                    self._busy = False
                    self._wake.notify_all()

    def _run_one(self, dataset_id: str, root: Path) -> None:
        self.runs += 1
        try:
            with self._lock:
                proc = self._proc = subprocess.Popen(
                    refresh_command(self.catalog_path, dataset_id, root), text=True, stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            try:
                stdout, stderr = proc.communicate(timeout=self.timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()
                raise
        except (OSError, subprocess.TimeoutExpired) as exc:
            self.failures += 1
            log.error("parquet_failed", dataset=dataset_id, error=str(exc), retry="at the next change")
            return
        finally:
            with self._lock:
                self._proc = None
                stopping = self._stopping
        if proc.returncode != 0:
            if stopping and proc.returncode < 0:
                return  # ended by `stop`, which said so
            self.failures += 1
            log.error("parquet_failed", dataset=dataset_id, exitcode=proc.returncode,
                      error=stderr[-STDERR_TAIL_CHARS:].strip(), retry="at the next change")
            return
        try:
            done = json.loads(stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            done = {}
        log.debug("parquet_written", dataset=dataset_id, shards=len(done.get("written", [])), rows=done.get("rows"))

    def wait_idle(self, timeout_s: float) -> bool:
        """True once nothing is pending or running (within `timeout_s`)."""
        with self._lock:
            return self._wake.wait_for(lambda: not self._pending and not self._busy, timeout=timeout_s)

    def stop(self, timeout_s: float = STOP_WAIT_S) -> None:
        """Finish what was asked for within `timeout_s`, then end the run still going (if any) and the thread."""
        with self._lock:
            self._stopping = True
            self._wake.notify_all()
            thread = self._thread
        if thread is None:
            return
        thread.join(timeout=timeout_s)
        if thread.is_alive():
            with self._lock:
                self._pending.clear()
                if self._proc is not None:
                    log.warning("parquet_cut_short", reason="shutdown", finish="at the next start")
                    self._proc.kill()
            thread.join()
