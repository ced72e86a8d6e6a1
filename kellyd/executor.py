"""Where music work runs: a local process pool, or a Dask cluster.

Both are `concurrent.futures.Executor`s, so the runner does not know which one
it has. Workers are started with `forkserver` (never `fork` from a process with
watchdog threads) and run at a lower priority than the daemon.

Workers start when the first step is submitted, import only what their steps
need (a MIDI-only dataset never loads librosa or numba), and are retired after
`executor.idle_workers_s` without work (a new pool starts in about half a second),
so an idle daemon holds no worker memory.
Each step's files are made durable together before its catalog commit: a
Dask worker, which may write through another machine's view of the folders,
syncs them before its outcome returns; a local worker leaves them to the
daemon, which syncs the steps it collects together before committing them
(`run_durable_step`, `kellyd.durable`).
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import time
import signal
from concurrent.futures import Executor, ProcessPoolExecutor
from pathlib import Path

from kellyd.config import Config
from kellyd.errors import ConfigError, TemporaryFailure
from kellyd.worker_board import WorkerBoard

WORKER_NICE = 5
BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


_board = None  # this worker's WorkerBoard, and its row (= its numba cache folder's slot)
_slot = -1
_cache_folder: Path | None = None


def worker_init(state_dir: str, log_format: str, log_level: str, board_array=None) -> None:
    """Run once in each worker process: claim a numba cache folder of its own, join the board."""
    global _board, _slot, _cache_folder
    # Ctrl-C in a terminal signals the whole process group. The daemon decides when its
    # workers stop (it drains, then shuts the pool down); a worker must not die of it with a
    # KeyboardInterrupt traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        os.nice(WORKER_NICE)
    except OSError:
        pass
    from kellyd.log import configure_logging
    from kellyd.music.audio_numba import cache_root, claim_worker_cache, holds_compiled_code

    configure_logging(log_format, log_level)
    _slot, _cache_folder = claim_worker_cache(cache_root(state_dir))
    if board_array is not None:
        from kellyd.worker_board import WorkerBoard

        _board = WorkerBoard(board_array)
        _board.register(_slot, pid=os.getpid(), cache_warm=holds_compiled_code(_cache_folder))


class CacheHealing:
    """Runs a handler; if numba fails to read this worker's cache, sets the folder aside and runs
    the step once more (numba then compiles afresh). The step is not blamed on the file."""

    def __init__(self, handler) -> None:
        self.handler = handler
        self.name = handler.name
        self.version = handler.version

    def __call__(self, sample):
        from kellyd.music.audio_numba import is_cache_failure, set_aside

        try:
            return self.handler(sample)
        except Exception as exc:
            if _cache_folder is None or not is_cache_failure(exc):
                raise
            aside = set_aside(_cache_folder, now_s=time.time())
            import structlog

            structlog.get_logger("kellyd.worker").warning(
                "numba_cache_set_aside", reason=f"{type(exc).__name__}: {exc}"[:300], folder=str(_cache_folder),
                moved_to=str(aside), pid=os.getpid())
            if _board is not None:
                _board.cache_healed(_slot)
        try:
            return self.handler(sample)
        except Exception as exc:
            if is_cache_failure(exc):
                raise TemporaryFailure(f"numba cache still unreadable after a rebuild: {type(exc).__name__}") from None
            raise


def run_durable_step(handler, sample, dataset_root: Path | None = None, *, defer_sync: bool = False):
    """Run one step; if it succeeded, fsync the files it wrote (each folder once) before returning,
    so the catalog commit that follows never makes visible a file that is not on disk.

    With `defer_sync` the files are left for the committer to sync (the outcome's `unsynced`):
    a worker of the local pool shares the daemon's file systems, and the daemon syncs every step
    it collects together (`kellyd.durable`) while the worker goes on.

    `dataset_root`: the dataset's folder, which the step's writes never make again
    (`kellyd.atomic.writes_inside`); a step that failed while it was gone is retried, not blamed on
    the file (its input went with the folder).
    """
    from kellyd.atomic import write_group, writes_inside
    from kellyd.outcome import outcome_for, run_step

    with write_group() as group, writes_inside(dataset_root):
        outcome = run_step(handler, sample, dataset_root=dataset_root)
        if outcome.status != "ok":
            return outcome
        if defer_sync:
            return dataclasses.replace(outcome, unsynced=group.unsynced())
        try:
            group.sync()
        except OSError as exc:  # a full disk waits for space; other errors map as a handler's would
            return dataclasses.replace(outcome_for(exc), elapsed_s=outcome.elapsed_s)
    return outcome


def run_job(handler, sample, job_id: int, dataset_root: Path | None = None):
    """The task a worker of the local pool runs: one step of one job, marked on the board while it
    runs; its files are synced by the daemon with the others it commits at once."""
    if _board is not None:
        _board.started(_slot, job_id)
    try:
        return run_durable_step(CacheHealing(handler), sample, dataset_root, defer_sync=True)
    finally:
        if _board is not None:
            _board.finished(_slot)


def make_executor(cfg: Config, *, workers: int | None = None) -> Executor:
    if cfg.executor.kind == "dask":
        try:
            import distributed  # noqa: F401 - only to say clearly when the extra is missing
        except ImportError:
            raise ConfigError("executor.kind", "'dask' needs the distributed package: pip install 'kellyd[dask]'") from None
        if not cfg.executor.address:
            raise ConfigError("executor.address", "a Dask scheduler address such as 'tcp://host:8786' is required")
        from kellyd.dask_executor import make_dask_executor

        return make_dask_executor(cfg.executor.address, read_folders=[cfg.paths.inbox, cfg.paths.staging],
                                  write_folders=[cfg.paths.datasets])
    # One BLAS thread per worker: the pool already uses every core, and nested
    # BLAS threads made each worker 2-3x slower. Workers inherit this environment.
    for name in BLAS_THREAD_VARIABLES:
        os.environ.setdefault(name, "1")
    log_format = "json" if cfg.logging.format == "auto" else cfg.logging.format
    context = multiprocessing.get_context("forkserver")
    max_workers = workers or cfg.workers
    # Rows for every folder slot a worker can claim: a replacement pool starts while old
    # folders' locks may still be held for a moment.
    board = WorkerBoard.create(context, max_workers * 2 + 2)
    executor = ProcessPoolExecutor(
        max_workers=max_workers,
        mp_context=context,
        initializer=worker_init,
        initargs=(str(cfg.paths.state), log_format, cfg.logging.level, board.array),
    )
    executor.kellyd_board = board
    return executor


def board_of(executor: Executor) -> WorkerBoard | None:
    return getattr(executor, "kellyd_board", None)


def submit_job(executor: Executor, handler, sample, job_id: int, dataset_root: Path | None = None):
    """Submit one step; a pool with a board runs it through `run_job` so the board shows it."""
    if board_of(executor) is not None:
        return executor.submit(run_job, handler, sample, job_id, dataset_root)
    return executor.submit(run_durable_step, handler, sample, dataset_root)  # positional: a Dask task takes no keywords


def has_workers(executor: Executor) -> bool:
    """Does this local pool hold worker processes now? (Always False for other executors.)"""
    return bool(getattr(executor, "_processes", None))  # ProcessPoolExecutor internals


def retire_workers(executor: Executor) -> None:
    """Shut an idle pool down: its workers finish (they have no step) and exit."""
    executor.shutdown(wait=True, cancel_futures=True)


def terminate_workers(executor: Executor) -> dict[int, int | None]:
    """Stop a process pool now, killing tasks still running (they resume from the catalog).

    Returns each worker's exit code by pid (negative: the signal that ended it), read before
    this function terminates the survivors, so a worker that crashed shows its own signal.
    """
    processes = dict(getattr(executor, "_processes", None) or {})  # ProcessPoolExecutor internals
    early_codes = {pid: proc.exitcode for pid, proc in processes.items()}
    executor.shutdown(wait=False, cancel_futures=True)
    for proc in processes.values():
        if proc.is_alive():
            proc.terminate()
    for proc in processes.values():
        proc.join(timeout=2.0)
        if proc.is_alive():
            proc.kill()
            proc.join(timeout=1.0)
    # A worker that was dying at the first look (its status not passed on by the forkserver yet)
    # shows its own signal after the join; one that was alive shows the SIGTERM sent here.
    return {pid: code if code is not None else processes[pid].exitcode for pid, code in early_codes.items()}
