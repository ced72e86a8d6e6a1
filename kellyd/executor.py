"""Where music work runs: a local process pool, or a Dask cluster.

Both are `concurrent.futures.Executor`s, so the runner does not know which one
it has. Workers are started with `forkserver` (never `fork` from a process with
watchdog threads) and run at a lower priority than the daemon.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import Executor, ProcessPoolExecutor
from pathlib import Path

from kellyd.config import Config
from kellyd.errors import ConfigError

WORKER_NICE = 5
BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def worker_init(state_dir: str, log_format: str, log_level: str) -> None:
    """Run once in each worker process."""
    try:
        os.nice(WORKER_NICE)
    except OSError:
        pass
    from kellyd.log import configure_logging
    from kellyd.music.audio_numba import configure_numba_cache

    configure_numba_cache(Path(state_dir))

    configure_logging(log_format, log_level)


def make_executor(cfg: Config, *, workers: int | None = None) -> Executor:
    if cfg.executor.kind == "dask":
        try:
            from distributed import Client
        except ImportError:
            raise ConfigError("executor.kind", "'dask' needs the distributed package: pip install 'kellyd[dask]'") from None
        if not cfg.executor.address:
            raise ConfigError("executor.address", "a Dask scheduler address such as 'tcp://host:8786' is required")
        return Client(cfg.executor.address).get_executor()
    # One BLAS thread per worker: the pool already uses every core, and nested
    # BLAS threads made each worker 2-3x slower. Workers inherit this environment.
    for name in BLAS_THREAD_VARIABLES:
        os.environ.setdefault(name, "1")
    log_format = "json" if cfg.logging.format == "auto" else cfg.logging.format
    return ProcessPoolExecutor(
        max_workers=workers or cfg.workers,
        mp_context=multiprocessing.get_context("forkserver"),
        initializer=worker_init,
        initargs=(str(cfg.paths.state), log_format, cfg.logging.level),
    )


def terminate_workers(executor: Executor) -> None:
    """Stop a process pool now, killing tasks still running (they resume from the catalog)."""
    processes = dict(getattr(executor, "_processes", None) or {})  # ProcessPoolExecutor internals
    executor.shutdown(wait=False, cancel_futures=True)
    for proc in processes.values():
        if proc.is_alive():
            proc.terminate()
    for proc in processes.values():
        proc.join(timeout=2.0)
        if proc.is_alive():
            proc.kill()
            proc.join(timeout=1.0)


def warm_worker() -> int:
    """Import what the first steps need, so the first dropped file pays no start-up cost."""
    import kellyd.handlers.annotate  # noqa: F401
    import kellyd.handlers.importer  # noqa: F401
    import kellyd.music.audio_io  # noqa: F401
    import kellyd.music.midi_io  # noqa: F401

    return os.getpid()


def warm_up(executor: Executor, workers: int) -> None:
    """Start every worker process now rather than at the first file."""
    for future in [executor.submit(warm_worker) for _ in range(workers)]:
        try:
            future.result(timeout=60)
        except Exception:  # a worker that cannot start shows up on the first real step
            return
