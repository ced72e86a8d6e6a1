"""Reading the worker board: overdue steps, running steps for status, and who died running what."""

from __future__ import annotations

import multiprocessing
import signal

from kellyd.catalog import Job
from kellyd.pool_watch import deaths_after_break, overdue, running_steps
from kellyd.sample import Sample
from kellyd.worker_board import WorkerBoard, WorkerRow


def row(pid, job=None, started=None, slot=0, warm=False):
    return WorkerRow(pid, slot, warm, job, started, 0)


def test_overdue_only_steps_past_the_timeout():
    rows = [row(1, 10, 100.0), row(2, 11, 104.0), row(3)]
    assert [r.pid for r in overdue(rows, now_mono_s=110.0, timeout_s=8.0)] == [1]


def test_running_steps_carry_wall_clock_start_times():
    job = Job(10, "mix", "/in/a.mid", ("import", "annotate"), 1, Sample(dataset_id="mix", origin_path="/in/a.mid"), 0)
    steps = running_steps([row(1, 10, 95.0), row(2, 99, 96.0)], {10: job}, now_mono_s=100.0, now_wall_s=5000.0)
    assert [(s.job_id, s.step, s.pid, s.started_at) for s in steps] == [(10, "annotate", 1, 4995.0)]


def test_a_dead_worker_is_named_with_its_job_and_pool_stopped_ones_are_not_deaths():
    rows = {1: row(1, 10, 1.0, slot=0, warm=True), 2: row(2, 11, 1.0, slot=1), 3: row(3, 12, 1.0, slot=2)}
    codes = {1: -signal.SIGSEGV, 2: -signal.SIGTERM, 3: -signal.SIGKILL}
    deaths = deaths_after_break(codes, rows, timed_out={3: 12})
    assert [(d.pid, d.job_id, d.exitcode, d.slot, d.cache_warm, d.timed_out) for d in deaths] == [
        (1, 10, -signal.SIGSEGV, 0, True, False), (3, 12, -signal.SIGKILL, 2, False, True)]


def test_board_rows_round_trip_through_shared_memory():
    board = WorkerBoard.create(multiprocessing.get_context("forkserver"), 3)
    board.register(1, pid=4242, cache_warm=True)
    board.started(1, 77, now_mono_s=12.5)
    assert board.snapshot() == [WorkerRow(4242, 1, True, 77, 12.5, 0)]
    board.cache_healed(1)
    board.finished(1)
    assert board.snapshot() == [WorkerRow(4242, 1, False, None, None, 1)]
    board.register(9, pid=1, cache_warm=False)  # beyond the table: ignored, not an error
    assert len(board.snapshot()) == 1
