"""What each worker process is doing right now, in a small shared-memory table.

`ProcessPoolExecutor` does not say which task a worker was running when it died,
nor when a task really started (a future is submitted long before a worker takes
it). Each worker writes its row here: its pid, its numba cache folder, whether
that folder held compiled code when it was claimed, and the job it is running
with the (monotonic, system-wide) time it started. The daemon reads the table to
name the job a dead worker was running and to stop steps that run too long.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

FIELDS = 6  # pid, slot, cache_warm, job_id, started_mono_s, cache_heals
NO_JOB = -1.0


@dataclass(frozen=True)
class WorkerRow:
    pid: int
    slot: int
    cache_warm: bool
    job_id: int | None
    started_mono_s: float | None
    cache_heals: int


class WorkerBoard:
    """A fixed table of `rows` worker rows over a `multiprocessing.Array('d')` (shared with the workers)."""

    def __init__(self, array) -> None:
        self.array = array
        self.rows = len(array) // FIELDS

    @classmethod
    def create(cls, mp_context, rows: int) -> "WorkerBoard":
        return cls(mp_context.Array("d", rows * FIELDS))

    def _write(self, slot: int, values: dict[int, float]) -> None:
        if not 0 <= slot < self.rows:
            return  # more folders than rows: this worker is not named, the fallback handles it
        with self.array.get_lock():
            for offset, value in values.items():
                self.array[slot * FIELDS + offset] = value

    def register(self, slot: int, *, pid: int, cache_warm: bool) -> None:
        self._write(slot, {0: pid, 1: slot, 2: float(cache_warm), 3: NO_JOB, 4: 0.0, 5: 0.0})

    def started(self, slot: int, job_id: int, *, now_mono_s: float | None = None) -> None:
        self._write(slot, {3: float(job_id), 4: time.monotonic() if now_mono_s is None else now_mono_s})

    def finished(self, slot: int) -> None:
        self._write(slot, {3: NO_JOB, 4: 0.0})

    def cache_healed(self, slot: int) -> None:
        if 0 <= slot < self.rows:
            with self.array.get_lock():
                self.array[slot * FIELDS + 5] += 1.0
                self.array[slot * FIELDS + 2] = 0.0

    def snapshot(self) -> list[WorkerRow]:
        with self.array.get_lock():
            values = self.array.get_obj()[:]  # one copy in C (iterating the wrapper reads element by element)
        rows = []
        for i in range(self.rows):
            pid, slot, warm, job, started, heals = values[i * FIELDS:(i + 1) * FIELDS]
            if pid <= 0:
                continue
            running = job != NO_JOB
            rows.append(WorkerRow(int(pid), int(slot), bool(warm), int(job) if running else None,
                                  started if running else None, int(heals)))
        return rows

    def by_pid(self) -> dict[int, WorkerRow]:
        return {row.pid: row for row in self.snapshot()}
