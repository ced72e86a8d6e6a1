"""Reading the worker board: steps running too long, what runs now, and who died.

Pure functions over `WorkerRow`s, so the decisions are tested without processes.
"""

from __future__ import annotations

from typing import Mapping

from kellyd.catalog import Job
from kellyd.deaths import STOPPED_BY_POOL, WorkerDeath
from kellyd.inflight import RunningStep
from kellyd.worker_board import WorkerRow


def overdue(rows: list[WorkerRow], *, now_mono_s: float, timeout_s: float) -> list[WorkerRow]:
    """Workers whose current step started more than `timeout_s` ago."""
    return [r for r in rows if r.job_id is not None and r.started_mono_s is not None
            and now_mono_s - r.started_mono_s > timeout_s]


def running_steps(rows: list[WorkerRow], jobs: Mapping[int, Job], *, now_mono_s: float,
                  now_wall_s: float) -> list[RunningStep]:
    """The steps workers are running now, with wall-clock start times (for `kellyd status`)."""
    steps = []
    for r in rows:
        job = jobs.get(r.job_id) if r.job_id is not None else None
        if job is None or r.started_mono_s is None:
            continue
        steps.append(RunningStep(job.job_id, job.dataset_id, job.sample.file_path or job.origin_path,
                                 job.handler_name, r.pid, now_wall_s - (now_mono_s - r.started_mono_s)))
    return sorted(steps, key=lambda s: s.job_id)


def deaths_after_break(exit_codes: Mapping[int, int | None], rows: Mapping[int, WorkerRow],
                       timed_out: Mapping[int, int]) -> list[WorkerDeath]:
    """The workers that died on their own (or that the daemon stopped for a timeout), each with the
    job the board says it was running. Workers the pool stopped after the fact are not deaths."""
    deaths = []
    for pid, code in sorted(exit_codes.items()):
        if pid in timed_out:
            row = rows.get(pid)
            deaths.append(WorkerDeath(pid, code, timed_out[pid], row.slot if row else None,
                                      row.cache_warm if row else False, timed_out=True))
        elif code not in STOPPED_BY_POOL and code != 0:
            row = rows.get(pid)
            if code > 0 and (row is None or row.job_id is None):
                continue  # an idle worker that exited because the pool broke under it: not a death
            deaths.append(WorkerDeath(pid, code, row.job_id if row else None, row.slot if row else None,
                                      row.cache_warm if row else False))
    return deaths
