"""What the runner writes to the catalog so that `kellyd status` can show the work in progress:
steps running now (`running`), worker deaths (`worker_deaths`), and a few `meta` values
(when a step last finished, when the runner started, numba cache rebuilds, datasets whose folder
went away).

The runner calls these inside its own transactions; the status command only reads.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass

from kellyd.deaths import DeathVerdict, WorkerDeath, signal_name

LAST_STEP_DONE_AT = "last_step_done_at"
RUNNER_STARTED_AT = "runner_started_at"
NUMBA_CACHE_REBUILDS = "numba_cache_rebuilds"
NUMBA_CACHE_LAST_REBUILD = "numba_cache_last_rebuild"
DATASETS_AWAY = "datasets_away"  # JSON: dataset -> why its folder is not the one laid out (`kellyd.dataset_folder`)


@dataclass(frozen=True)
class RunningStep:
    job_id: int
    dataset_id: str
    path: str
    step: str
    pid: int
    started_at: float  # wall clock, seconds since the epoch


def set_meta(db: sqlite3.Connection, key: str, value: str) -> None:
    db.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
               (key, value))


def runner_started(db: sqlite3.Connection, *, now: float) -> None:
    """A new runner: nothing runs yet (rows left by a daemon that was killed are stale)."""
    db.execute("DELETE FROM running")
    set_meta(db, RUNNER_STARTED_AT, repr(now))
    set_meta(db, DATASETS_AWAY, "{}")


def datasets_away(db: sqlite3.Connection, away: dict[str, str]) -> None:
    """The datasets whose jobs wait for their folder to come back, and why."""
    set_meta(db, DATASETS_AWAY, json.dumps(away, sort_keys=True))


def step_finished(db: sqlite3.Connection, *, now: float) -> None:
    set_meta(db, LAST_STEP_DONE_AT, repr(now))


def sync_running(db: sqlite3.Connection, steps: list[RunningStep]) -> None:
    """Make `running` hold exactly `steps` (a handful of rows: one per worker)."""
    db.execute("DELETE FROM running")
    db.executemany("INSERT INTO running (job_id, dataset_id, path, step, pid, started_at) VALUES (?, ?, ?, ?, ?, ?)",
                   [(s.job_id, s.dataset_id, s.path, s.step, s.pid, s.started_at) for s in steps])


def record_death(db: sqlite3.Connection, *, at: float, death: WorkerDeath, verdict: DeathVerdict | None,
                 dataset_id: str | None, path: str | None, step: str | None) -> None:
    db.execute(
        "INSERT INTO worker_deaths (at, pid, exitcode, signal, cause, job_id, dataset_id, path, step, charged, reason)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (at, death.pid, death.exitcode, signal_name(death.exitcode), verdict.cause if verdict else "crash",
         death.job_id, dataset_id, path, step, int(bool(verdict and verdict.charged)),
         verdict.reason if verdict else "worker process died while running no known job"))


def earlier_deaths(db: sqlite3.Connection, job_id: int, step: str) -> tuple[int, int, int]:
    """(charged crashes, timeouts, numba cache rebuilds) this job's deaths at `step` already caused."""
    rows = dict(db.execute("SELECT cause, COUNT(*) FROM worker_deaths WHERE job_id = ? AND step = ?"
                           " GROUP BY cause", (job_id, step)).fetchall())
    return rows.get("crash", 0), rows.get("timeout", 0), rows.get("numba_cache", 0)


def numba_cache_rebuilt(db: sqlite3.Connection, *, at: float, cause: str, folder: str) -> None:
    row = db.execute("SELECT value FROM meta WHERE key = ?", (NUMBA_CACHE_REBUILDS,)).fetchone()
    set_meta(db, NUMBA_CACHE_REBUILDS, str(int(row[0]) + 1 if row else 1))
    set_meta(db, NUMBA_CACHE_LAST_REBUILD, json.dumps({"at": at, "cause": cause, "folder": folder}))
