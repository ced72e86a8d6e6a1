"""The runner: turns ready files into jobs, runs each job's next step in the
executor, and commits every finished step to the catalog.

It lives on the daemon's main thread (or the batch command's) and never does
music work itself: that runs in the executor's workers. One loop iteration
commits all the results it collected in a single transaction.
"""

from __future__ import annotations

import errno
import os
import signal
import sqlite3
import time
from concurrent.futures import FIRST_COMPLETED, CancelledError, Executor, Future, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import structlog

from kellyd.handlers.base import DatasetContext, Derived, Handler
from kellyd.handlers.registry import build_chain, child_chain
from kellyd.catalog import Catalog, Job
from kellyd.config import Config, DatasetConfig
from kellyd.diskspace import SpaceWatch, is_disk_full
from kellyd.export import Exporter
from kellyd import inflight
from kellyd.deaths import WorkerDeath, describe_exit, judge_death
from kellyd.dask_executor import ClusterUnavailable
from kellyd.executor import submit_job
from kellyd.fairness import plan_dispatch
from kellyd.music.audio_numba import cache_root, set_aside
from kellyd.outcome import StepOutcome, backoff_s
from kellyd.pool_watch import deaths_after_break, overdue, running_steps
from kellyd.pathpolicy import display
from kellyd.quarantine import quarantine_file
from kellyd.routing import Route
from kellyd.sample import Sample
from kellyd.settle import Ready
from kellyd.split_state import SplitAssigner

log = structlog.get_logger("kellyd.runner")

# Tests only: "<step>@<file>" makes the runner create <file> and wait there, forever, once a result
# of <step> is collected: its files are written and synced, its catalog commit not yet made (the
# kill -9 tests stop it there). Unset, the runner never looks at it again.
PAUSE_BEFORE_COMMIT_ENV = "KELLYD_TEST_PAUSE_BEFORE_COMMIT"


@dataclass
class DatasetRuntime:
    """Everything the runner needs about one dataset."""

    dataset_id: str
    settings: DatasetConfig
    ctx: DatasetContext
    handlers: dict[str, Handler]
    splits: SplitAssigner


@dataclass(frozen=True)
class NewFile:
    """A settled file and where it goes. `on_import` None means the dataset's setting."""

    path: str
    size: int
    mtime_ns: int
    dataset_id: str
    label_dirs: tuple[str, ...]
    source_type: str = "inbox"
    on_import: str | None = None

    @classmethod
    def routed(cls, ready: Ready, route: Route) -> "NewFile":
        if route.from_staging:
            return cls(ready.path, ready.size, ready.mtime_ns, route.dataset_id, route.label_dirs, "freesound", "copy")
        return cls(ready.path, ready.size, ready.mtime_ns, route.dataset_id, route.label_dirs)


@dataclass
class Counters:
    processed: int = 0
    errors: int = 0
    duplicates: int = 0
    quarantined: int = 0
    samples_added: int = 0
    children_added: int = 0
    step_seconds: dict[str, float] = field(default_factory=dict)
    worker_deaths: int = 0


def dataset_context(cfg: Config, dataset_id: str, settings: DatasetConfig) -> DatasetContext:
    return DatasetContext(dataset_id=dataset_id, root=cfg.dataset_root(dataset_id),
                          settings={"target_model": settings.target_model}, limits=cfg.limits)


def build_runtime(cfg: Config, dataset_id: str, settings: DatasetConfig, catalog: Catalog, *,
                  clean_temp_files: bool = True) -> DatasetRuntime:
    """`clean_temp_files` only where no step can be running (start-up): a reload builds while workers write."""
    from kellyd.atomic import remove_stale_temp_files
    from kellyd.dataset import create_layout

    root = cfg.dataset_root(dataset_id)
    create_layout(root, dataset_id, settings)
    (cfg.paths.inbox / dataset_id).mkdir(exist_ok=True)  # show users where to drop files
    if clean_temp_files and (removed := remove_stale_temp_files(root)):
        log.info("stale_temp_files_removed", dataset=dataset_id, count=removed)
    ctx = dataset_context(cfg, dataset_id, settings)
    return DatasetRuntime(dataset_id, settings, ctx, build_chain(ctx, settings),
                          SplitAssigner.load(catalog, dataset_id, settings))


class Runner:
    def __init__(self, cfg: Config, catalog: Catalog, datasets: dict[str, DatasetRuntime],
                 executor_factory: Callable[[], Executor], exporter: Exporter | None) -> None:
        self.cfg = cfg
        self.catalog = catalog
        self.datasets = datasets
        self._executor_factory = executor_factory
        self.executor = executor_factory()  # a local pool starts its workers at the first step
        self._idle_since_s = time.monotonic()  # no step in flight since (monotonic)
        self._pause_before_commit = os.environ.get(PAUSE_BEFORE_COMMIT_ENV, "").partition("@")
        self.exporter = exporter
        self.in_flight: dict[Future, Job] = {}
        self.capacity = max(2, cfg.workers * 4)
        self.counters = Counters()
        self.accepting = True
        self.defer_splits = False  # a batch places its new samples at once (`Runner.place_batch`)
        # Jobs that were running when a worker died. Any of them may have killed it, so each
        # runs again alone: the one that breaks the pool while alone is the culprit.
        self.suspects: set[int] = set()
        self._timed_out: dict[int, int] = {}  # pid -> job id of workers stopped for running too long
        self._cache_heals: dict[int, int] = {}  # pid -> cache rebuilds the worker reported
        self._shown_running: list | None = None  # what `running` in the catalog holds now
        with self.catalog.transaction():
            inflight.runner_started(self.catalog.db, now=time.time())
        self._new_samples_since_validate: dict[str, int] = {}
        # A full datasets or state disk pauses dispatching until space returns (`kellyd.diskspace`).
        self.space = SpaceWatch([cfg.paths.datasets, cfg.paths.state])

    # -- jobs in ----------------------------------------------------------------

    def enqueue(self, files: Iterable[NewFile], *, now: float, chain: tuple[str, ...] | None = None) -> int:
        """Create one job per settled file, in one transaction (`chain`: only these steps)."""
        created = 0
        # On a full state disk the jobs are not written; the rescan after space returns finds the files.
        with self.space.tolerated("recording new files", now_s=time.monotonic()), self.catalog.transaction():
            for f in files:
                rt = self.datasets.get(f.dataset_id)
                if rt is None:
                    continue
                sample = Sample(dataset_id=f.dataset_id, origin_path=f.path, label_dirs=f.label_dirs,
                                source={"type": f.source_type, "on_import": f.on_import or rt.settings.on_import})
                # The catalog, not what the caller saw, decides whether the file still needs a job.
                if self.catalog.add_file_job(sample=sample, chain=chain or rt.settings.chain, size=f.size,
                                             mtime_ns=f.mtime_ns, now=now) is not None:
                    created += 1
        return created

    def enqueue_samples(self, dataset_id: str, samples: Iterable[Sample], chain: tuple[str, ...], *, now: float) -> int:
        """Jobs that run `chain` on samples already in the dataset (recompute, on-demand steps)."""
        busy = self.catalog.samples_with_pending_job(dataset_id)
        created = 0
        with self.space.tolerated("recording recompute jobs", now_s=time.monotonic()), self.catalog.transaction():
            for sample in samples:
                if sample.sample_id in busy:
                    continue
                self.catalog.add_job(sample=sample, chain=chain, now=now)
                created += 1
        return created

    def enqueue_stale_steps(self, *, now: float) -> int:
        """After a handler's version changed, recompute that step for existing samples."""
        created = 0
        for dataset_id, rt in self.datasets.items():
            for name, handler in rt.handlers.items():
                if name == "import":
                    continue
                derived = False if name in ("annotate", "augment") else None
                stale = self.catalog.stale_samples(dataset_id, name, handler.version, derived=derived)
                if stale:
                    log.info("recompute_step", dataset=dataset_id, step=name, version=handler.version, samples=len(stale))
                    created += self.enqueue_samples(dataset_id, stale, (name,), now=now)
        return created

    # -- dispatch -------------------------------------------------------------------

    def busy(self, *, now: float) -> bool:
        """Steps in flight, or steps due now that wait for a worker (a retry waiting out its backoff is not work)."""
        return bool(self.in_flight) or bool(self.catalog.runnable_jobs(now=now, limit=1))

    def dispatch(self, *, now: float) -> int:
        self.watch_workers()
        self._retire_idle_workers(time.monotonic())
        if not self.accepting or self.space.poll(now_s=time.monotonic()):
            return 0
        if self.suspects:
            return self._dispatch_suspect()
        room = self.capacity - len(self.in_flight)
        if room <= 0:
            return 0
        busy = {job.job_id for job in self.in_flight.values()}
        # Retries have a lane of their own, so files never tried are not queued behind them.
        plan = plan_dispatch(room=room, retries_in_flight=sum(1 for j in self.in_flight.values() if j.attempts > 0),
                             workers=self.cfg.workers)
        jobs = self.catalog.runnable_jobs(now=now, limit=plan.retries, exclude=busy, retries=True) if plan.retries else []
        if plan.fresh > len(jobs):
            jobs += self.catalog.runnable_jobs(now=now, limit=plan.fresh - len(jobs), exclude=busy, retries=False)
        return self._submit(jobs)

    def watch_workers(self, *, now_mono_s: float | None = None, now_wall_s: float | None = None) -> None:
        """Stop steps past `limits.step_timeout_s` (with their worker), and write what runs to the catalog."""
        from kellyd.executor import board_of

        board = board_of(self.executor)
        if board is None:
            return
        now_mono_s = time.monotonic() if now_mono_s is None else now_mono_s
        now_wall_s = time.time() if now_wall_s is None else now_wall_s
        rows = board.snapshot()
        timeout_s = self.cfg.limits.step_timeout_s
        for row in overdue(rows, now_mono_s=now_mono_s, timeout_s=timeout_s):
            if row.pid in self._timed_out:
                continue
            self._timed_out[row.pid] = row.job_id
            log.warning("step_timeout", job=row.job_id, pid=row.pid, timeout_s=timeout_s,
                        running_s=round(now_mono_s - row.started_mono_s, 1))
            try:
                os.kill(row.pid, signal.SIGKILL)  # the pool breaks; `collect` sorts out who pays
            except ProcessLookupError:
                pass
        jobs = {job.job_id: job for job in self.in_flight.values()}
        steps = running_steps(rows, jobs, now_mono_s=now_mono_s, now_wall_s=now_wall_s)
        shown = [(s.job_id, s.pid) for s in steps]
        for row in rows:
            if row.cache_heals > self._cache_heals.get(row.pid, 0):
                self._cache_heals[row.pid] = row.cache_heals
                self._note_cache_rebuild("numba cache unreadable (set aside by the worker)", row.slot, now_wall_s)
        if shown != self._shown_running:
            try:
                with self.catalog.transaction():
                    inflight.sync_running(self.catalog.db, steps)
                self._shown_running = shown
            except sqlite3.OperationalError as exc:  # status is best effort; the work goes on
                self._shown_running = shown  # tried once for this state: no warning on every tick
                log.warning("running_steps_not_recorded", error=str(exc))

    def _retire_idle_workers(self, now_mono_s: float) -> None:
        """Shut the pool's workers down after `executor.idle_workers_s` without a step; the next step starts new ones."""
        from kellyd.executor import has_workers, retire_workers

        if self.in_flight or self.suspects:
            self._idle_since_s = now_mono_s
            return
        if now_mono_s - self._idle_since_s < self.cfg.executor.idle_workers_s or not has_workers(self.executor):
            return
        retire_workers(self.executor)
        self.executor = self._executor_factory()
        self._shown_running = None
        log.info("workers_retired", idle_s=round(now_mono_s - self._idle_since_s, 1))

    def _note_cache_rebuild(self, cause: str, slot: int | None, now: float) -> None:
        folder = "" if slot is None else str(cache_root(self.cfg.paths.state) / f"w{slot}")
        log.warning("numba_cache_rebuilt", cause=cause, folder=folder)
        try:
            with self.catalog.transaction():
                inflight.numba_cache_rebuilt(self.catalog.db, at=now, cause=cause, folder=folder)
        except sqlite3.OperationalError as exc:
            log.warning("numba_cache_rebuild_not_recorded", error=str(exc))

    def _dispatch_suspect(self) -> int:
        if self.in_flight:
            return 0
        for job_id in sorted(self.suspects):
            job = self.catalog.pending_job(job_id)
            if job is not None and job.dataset_id in self.datasets:  # a removed dataset's jobs wait, not all
                return self._submit([job])
            self.suspects.discard(job_id)
        return 0

    def _submit(self, jobs: list[Job]) -> int:
        submitted = 0
        for job in jobs:
            rt = self.datasets.get(job.dataset_id)
            if rt is None:
                continue  # dataset removed from the config: its jobs wait for it
            handler = self._handler_for(rt, job)
            try:
                future = submit_job(self.executor, handler, job.sample, job.job_id)
            except ClusterUnavailable:  # the Dask executor connects again by itself; the job waits
                return submitted
            except (BrokenProcessPool, RuntimeError):
                if not self.in_flight:  # else `collect` meets the broken futures and replaces the pool
                    self._replace_executor()
                return submitted
            self.in_flight[future] = job
            submitted += 1
        return submitted

    def _handler_for(self, rt: DatasetRuntime, job: Job) -> Handler:
        name = job.handler_name
        handler = rt.handlers.get(name)
        if handler is None:
            from kellyd.handlers.registry import build_handler

            handler = rt.handlers[name] = build_handler(name, rt.ctx, rt.settings)
        return handler

    def _replace_executor(self) -> None:
        from kellyd.executor import terminate_workers

        log.warning("executor_replaced", reason="worker pool broke")
        terminate_workers(self.executor)
        self.executor = self._executor_factory()

    def _stop_broken_pool(self, now: float) -> list[WorkerDeath]:
        """After a worker died: stop the pool, start a new one, and say who died running what."""
        from kellyd.executor import board_of, terminate_workers

        board = board_of(self.executor)
        rows = board.by_pid() if board is not None else {}
        exit_codes = terminate_workers(self.executor)
        deaths = deaths_after_break(exit_codes, rows, self._timed_out)
        jobs = {job.job_id: job for job in self.in_flight.values()}
        for death in deaths:
            if death.job_id not in jobs:  # died between steps, or while starting
                try:
                    with self.catalog.transaction():
                        inflight.record_death(self.catalog.db, at=now, death=death, verdict=None, dataset_id=None,
                                              path=None, step=None)
                except sqlite3.OperationalError as exc:  # a full state disk: the log still has it
                    log.warning("worker_death_not_recorded", error=str(exc))
            log.warning("worker_died", pid=death.pid, exit=describe_exit(death.exitcode), job=death.job_id,
                        timed_out=death.timed_out)
        self._timed_out.clear()
        self._cache_heals.clear()
        self._shown_running = None
        self.executor = self._executor_factory()
        log.warning("executor_replaced", reason="worker pool broke", deaths=len(deaths))
        return deaths

    def _after_death(self, job: Job, death: WorkerDeath, now: float, after: list) -> None:
        """The job whose worker died: record the death, then retry, rebuild the cache, or quarantine."""
        name = job.handler_name
        crashes, timeouts, rebuilds = inflight.earlier_deaths(self.catalog.db, job.job_id, name)
        verdict = judge_death(death, step=name, audio_step=job.sample.kind == "audio", earlier_deaths=crashes,
                              earlier_timeouts=timeouts, earlier_cache_rebuilds=rebuilds,
                              max_attempts=self.cfg.executor.max_attempts,
                              step_timeout_s=self.cfg.limits.step_timeout_s)
        inflight.record_death(self.catalog.db, at=now, death=death, verdict=verdict, dataset_id=job.dataset_id,
                              path=job.sample.file_path or job.origin_path, step=name)
        self.counters.worker_deaths += 1
        self.suspects.discard(job.job_id)
        if verdict.action == "rebuild_cache":
            folder = cache_root(self.cfg.paths.state) / f"w{death.slot}"
            try:
                aside = set_aside(folder, now_s=now)
            except OSError as exc:  # the step still runs again; its worker then compiles or crashes again
                aside = None
                log.warning("numba_cache_not_set_aside", folder=str(folder), error=str(exc))
            log.warning("numba_cache_set_aside", folder=str(folder), moved_to=str(aside), job=job.job_id,
                        step=name, reason=verdict.reason)
            inflight.numba_cache_rebuilt(self.catalog.db, at=now, cause=verdict.reason, folder=str(folder))
            self.catalog.postpone_job(job.job_id, not_before=now, error=verdict.reason, now=now)
            return
        status = "invalid" if verdict.action == "quarantine" else "retry"
        self._commit_guarded(job, StepOutcome(status, reason=verdict.reason), now, after)

    # -- results ------------------------------------------------------------------

    def collect(self, *, timeout_s: float, now_fn: Callable[[], float] = time.time) -> int:
        """Wait up to `timeout_s` for results and commit all that are done."""
        if not self.in_flight:
            return 0
        done, _ = wait(list(self.in_flight), timeout=timeout_s, return_when=FIRST_COMPLETED)
        if getattr(self.executor, "resubmits_lost_steps", False):
            done = self._forget_lost_steps(done)
        if not done:
            return 0
        progressed = False
        alone = len(self.in_flight) == 1
        now = now_fn()
        after_commit: list[Callable[[], None]] = []
        culprits: dict[int, WorkerDeath] = {}
        if any(_pool_broke(f) for f in done):
            # Every step in flight is lost with the pool. The board names the job each dead worker
            # ran: that job pays; the others run again unpaid. Unnamed deaths fall back to suspects.
            deaths = self._stop_broken_pool(now)
            wait(list(self.in_flight), timeout=5.0)  # the old pool marks its futures failed as it goes
            culprits = {d.job_id: d for d in deaths if d.job_id is not None}
            if not any(job.job_id in culprits for job in self.in_flight.values()):
                culprits = {}
            lost = [f for f in self.in_flight if not f.done() or _pool_broke(f)]
            done = {f for f in self.in_flight if f not in lost}
            for future in lost:
                if self.in_flight[future].job_id in culprits or not culprits:
                    done.add(future)  # judged below (the culprit), or a suspect (nobody was named)
                else:
                    self.in_flight.pop(future)  # innocent: still pending in the catalog, runs again unpaid
        if self._pause_before_commit[1]:
            self._pause_for_test(done)
        # A commit that fails on a full disk rolls back: the jobs stay pending and run again once
        # space returns, and nothing that follows a commit (removing an origin) happens.
        with self.space.tolerated("committing results", now_s=time.monotonic(), undo=after_commit.clear), \
                self.catalog.transaction():
            for future in done:
                job = self.in_flight.pop(future)
                if job.job_id in culprits and _pool_broke(future):
                    self._after_death(job, culprits[job.job_id], now, after_commit)
                    continue
                try:
                    if not future.done():
                        raise BrokenProcessPool("lost with the pool")
                    outcome: StepOutcome = future.result()
                except (BrokenProcessPool, CancelledError):
                    if not alone:  # any of the jobs running may be the culprit: each runs again alone
                        self.suspects.add(job.job_id)
                        continue
                    outcome = StepOutcome("retry", reason="worker process died (crash or out of memory)")
                except Exception as exc:  # pickling or executor failure: the step did not run
                    outcome = StepOutcome("retry", reason=f"executor error {type(exc).__name__}: {exc}")
                if outcome.status != "retry" or "worker process died" not in outcome.reason:
                    self.suspects.discard(job.job_id)
                self._commit_guarded(job, outcome, now, after_commit)
                progressed = True
            if progressed:  # for `kellyd status`: when the queue last moved
                inflight.step_finished(self.catalog.db, now=now)
        for action in after_commit:
            try:
                action()
            except OSError as exc:
                log.warning("post_commit_action_failed", error=str(exc))
        return len(done)

    def _forget_lost_steps(self, done: set[Future]) -> set[Future]:
        """Steps a Dask client cancelled when it lost its scheduler: no worker was at fault, and their
        jobs are still pending in the catalog, so they are dispatched again, uncounted."""
        lost = {f for f in done if f.cancelled()}
        for future in lost:
            job = self.in_flight.pop(future)
            log.warning("step_resubmitted", reason="lost with the Dask scheduler connection", job=job.job_id,
                        step=job.handler_name, path=display(job.sample.file_path or job.origin_path))
        return done - lost

    def _pause_for_test(self, done) -> None:
        """See PAUSE_BEFORE_COMMIT_ENV: stop here, files written, commit not made, until killed."""
        step, _, marker = self._pause_before_commit
        if any(self.in_flight[f].handler_name == step and f.done() and not f.cancelled() and f.exception() is None
               and f.result().status == "ok" for f in done if f in self.in_flight):
            Path(marker).write_text(str(os.getpid()))
            while True:
                time.sleep(1.0)

    def _commit_guarded(self, job: Job, outcome: StepOutcome, now: float, after: list) -> None:
        """Commit one job inside a savepoint. An unexpected failure (a name the file system or SQLite
        refuses...) undoes only this job's rows and quarantines it with the reason; the other results
        of the batch still commit. A full disk is left to `SpaceWatch` (the whole batch waits)."""
        mine: list[Callable[[], None]] = []
        db = self.catalog.db
        db.execute("SAVEPOINT job_commit")
        try:
            self._commit(job, outcome, now, mine)
        except Exception as exc:
            db.execute("ROLLBACK TO job_commit")
            db.execute("RELEASE job_commit")
            if is_disk_full(exc):
                raise
            log.exception("commit_failed", job=job.job_id, step=job.handler_name,
                          path=display(job.sample.file_path or job.origin_path))
            self._commit_failed(job, f"could not record the {job.handler_name} step: {type(exc).__name__}: {exc}",
                                now, after)
            return
        db.execute("RELEASE job_commit")
        after.extend(mine)

    def _commit_failed(self, job: Job, reason: str, now: float, after: list) -> None:
        """Quarantine a job whose result could not be committed; if even that fails, retry it later."""
        mine: list[Callable[[], None]] = []
        db = self.catalog.db
        db.execute("SAVEPOINT job_failed")
        try:
            rt = self.datasets[job.dataset_id]
            self._quarantine(rt, job, job.handler_name, reason, now, mine, log.bind(job=job.job_id))
        except Exception as exc:
            db.execute("ROLLBACK TO job_failed")
            db.execute("RELEASE job_failed")
            if is_disk_full(exc):
                raise
            log.error("commit_failed_retry_later", job=job.job_id, error=f"{type(exc).__name__}: {exc}")
            self.catalog.retry_job(job.job_id, not_before=now + backoff_s(job.attempts + 1), error=reason, now=now)
            return
        db.execute("RELEASE job_failed")
        after.extend(mine)

    def refuse(self, f: NewFile, reason: str, *, now: float) -> bool:
        """Quarantine a settled file that the path policy refuses before any job exists (a link, a name
        that is not UTF-8). False when that failed (logged; the file stays and is seen again)."""
        rt = self.datasets.get(f.dataset_id)
        if rt is None:
            return False
        copy = (f.on_import or rt.settings.on_import) == "copy"
        bound = log.bind(path=display(f.path), dataset=f.dataset_id)
        try:
            entry = quarantine_file(Path(f.path), quarantine_root=self.cfg.quarantine_dir, dataset_id=f.dataset_id,
                                    handler="import", reason=reason, at=now, copy=copy, origin_path=f.path)
            with self.catalog.transaction():
                self.catalog.add_quarantine(entry)
        except Exception as exc:  # one path never stops the loop
            bound.error("refuse_failed", reason=reason, error=f"{type(exc).__name__}: {exc}")
            return False
        self.counters.errors += 1
        self.counters.quarantined += 1
        bound.warning("quarantined", reason=reason, quarantine_path=entry.quarantine_path)
        return True

    def _commit(self, job: Job, outcome: StepOutcome, now: float, after: list) -> None:
        rt = self.datasets[job.dataset_id]
        name = job.handler_name
        self.counters.step_seconds[name] = self.counters.step_seconds.get(name, 0.0) + outcome.elapsed_s
        bound = log.bind(job=job.job_id, step=name, sample_id=job.sample.sample_id or None,
                         path=job.sample.file_path or job.origin_path)
        if outcome.status == "ok":
            self._commit_ok(rt, job, outcome.result, now, after, bound)
            return
        if outcome.status == "retry" and outcome.disk_full:
            self._wait_for_space(job, outcome.reason, now, bound)
            return
        if outcome.status == "retry":
            attempts = self.catalog.retry_job(job.job_id, not_before=now + (outcome.retry_after_s or backoff_s(job.attempts + 1)),
                                              error=outcome.reason, now=now)
            if attempts < self.cfg.executor.max_attempts:
                bound.warning("step_retry", reason=outcome.reason, attempts=attempts)
                return
            outcome = StepOutcome("invalid", reason=f"gave up after {attempts} attempts: {outcome.reason}")
        if self._end_if_vanished(job, outcome.reason, now, bound):
            return
        self.counters.errors += 1
        self._quarantine(rt, job, name, outcome.reason, now, after, bound)

    def _commit_ok(self, rt: DatasetRuntime, job: Job, result, now: float, after: list, bound) -> None:
        name = job.handler_name
        children: tuple[Sample, ...] = ()
        if isinstance(result, Derived):
            result, children = result.parent, result.children
        sample: Sample = result
        if name == "import":
            existing = self.catalog.sample_by_sha(rt.dataset_id, sample.sha256)
            if existing is not None:
                self._commit_duplicate(rt, job, sample, existing, now, after, bound)
                return
            self._new_samples_since_validate[rt.dataset_id] = self._new_samples_since_validate.get(rt.dataset_id, 0) + 1
            self.counters.samples_added += 1
            self._after_import(job, sample, after)
        else:
            sample = self._with_catalog_fields(sample)
        if sample.split is None and not self.defer_splits and (name != "import" or "annotate" not in job.chain):
            # The split is chosen once the labels are known, so it can be stratified.
            sample = sample.with_changes(split=rt.splits.assign(sample, self.catalog))
        self.catalog.put_sample(sample, now=now, group_key=rt.splits.group_of(sample), label=rt.splits.label_of(sample))
        self.catalog.record_step(rt.dataset_id, sample.sample_id, name, rt.handlers[name].version, now)
        finished = job.step + 1 >= len(job.chain)
        self.catalog.advance_job(job.job_id, sample=sample, now=now, finished=finished)
        for child in children:
            if self.catalog.sample_by_sha(rt.dataset_id, child.sha256) is not None:
                continue
            self.catalog.put_sample(child, now=now, label=rt.splits.label_of(child))
            chain = child_chain(rt.settings.chain)
            if child.features_path and "features" in rt.handlers:  # computed by the step that made the child
                self.catalog.record_step(rt.dataset_id, child.sample_id, "features", rt.handlers["features"].version, now)
                chain = tuple(step for step in chain if step != "features")
            if chain:
                self.catalog.add_job(sample=child, chain=chain, now=now)
            self.counters.children_added += 1
        if finished:
            self.counters.processed += 1
            bound.info("sample_done", dataset=rt.dataset_id)
        self._mark_after(after, rt.dataset_id, [sample.sample_id, *(c.sample_id for c in children)])

    def _mark_after(self, after: list, dataset_id: str, sample_ids: list[str]) -> None:
        """Tell the exporter once the transaction has committed: it must never read a change before it is there."""
        if self.exporter is not None:
            exporter = self.exporter
            after.append(lambda: exporter.mark(dataset_id, sample_ids))

    def _with_catalog_fields(self, sample: Sample) -> Sample:
        """Names and split belong to the catalog, not to a step: a duplicate may have added a name
        (or a batch placed the split) while this sample's step was running."""
        current = self.catalog.sample(sample.dataset_id, sample.sample_id)
        if current is None:
            return sample
        names = tuple(dict.fromkeys((*current.original_names, *sample.original_names)))
        return sample.with_changes(original_names=names, split=current.split or sample.split)

    def _after_import(self, job: Job, sample: Sample, after: list) -> None:
        if job.sample.source.get("on_import") == "move":
            origin = Path(job.origin_path)
            self.catalog.db.execute("DELETE FROM files WHERE path = ?", (job.origin_path,))
            after.append(lambda: self._remove_imported_origin(job, origin))

    def _remove_imported_origin(self, job: Job, origin: Path) -> None:
        """After an import that moves: remove the origin. Where the daemon cannot (a folder it may not
        write), the file stays, and the catalog remembers it as imported so that rescans leave it alone
        until it changes: one warning, not one import per rescan."""
        try:
            _remove_origin(origin)
            return
        except OSError as exc:
            log.warning("origin_not_removed", path=display(job.origin_path), job=job.job_id, error=str(exc),
                        hint="the file is imported; kellyd cannot remove it from the inbox (no write permission "
                             "on its folder?), leaves it there and will not import it again unless it changes")
        try:
            st = os.stat(origin)
        except FileNotFoundError:
            return  # only its sidecar stayed behind
        try:
            with self.catalog.transaction():
                self.catalog.note_file(job.origin_path, size=st.st_size, mtime_ns=st.st_mtime_ns, job_id=job.job_id,
                                       now=time.time())
        except sqlite3.Error as exc:  # the next rescan imports it again, as a duplicate: nothing is lost
            log.warning("origin_not_remembered", path=display(job.origin_path), error=str(exc))

    def _commit_duplicate(self, rt: DatasetRuntime, job: Job, sample: Sample, existing: Sample, now: float,
                          after: list, bound) -> None:
        names = tuple(dict.fromkeys((*existing.original_names, *sample.original_names)))
        merged = existing.with_changes(original_names=names)
        self.catalog.put_sample(merged, now=now)
        self.catalog.end_job(job.job_id, state="duplicate", now=now, error=f"same content as {existing.sample_id}")
        if sample.file_path != existing.file_path:
            copy = rt.ctx.root / sample.file_path
            if (rt.ctx.root / existing.file_path).exists():
                after.append(lambda: _remove_origin(copy))
            else:  # a user deleted the sample's raw file: this copy (the same bytes) takes its place
                after.append(lambda: _restore_raw(copy, rt.ctx.root / existing.file_path, existing, bound))
                self._redo_lost_outputs(rt, merged, now, bound)
        self._after_import(job, sample, after)
        self.counters.duplicates += 1
        self.counters.processed += 1
        bound.info("duplicate", same_as=existing.sample_id)
        self._mark_after(after, rt.dataset_id, [existing.sample_id])

    def _redo_lost_outputs(self, rt: DatasetRuntime, sample: Sample, now: float, bound) -> None:
        """Steps whose recorded output is missing from the dataset run again (the raw file is back)."""
        lost_features = sample.features_path and not (rt.ctx.root / sample.features_path).exists()
        if lost_features and "features" in rt.settings.chain:
            self.catalog.add_job(sample=sample, chain=("features",), now=now)
            bound.info("recompute_step", step="features", reason="features file missing")

    def _end_if_vanished(self, job: Job, reason: str, now: float, bound) -> bool:
        """A file gone before its import leaves nothing to quarantine and is not an error. Gone because an
        earlier job imported (moved) it: this job was a duplicate of that one. Else: a logged skip."""
        if _imported(job) or os.path.lexists(job.origin_path):
            return False
        self.catalog.forget_file(job.origin_path, job_id=job.job_id)
        earlier = self.catalog.imported_before(job.origin_path, job_id=job.job_id)
        if earlier is not None:
            by_job, sample_id = earlier
            self.catalog.end_job(job.job_id, state="duplicate", now=now,
                                 error=f"already imported by job {by_job} as {sample_id}")
            bound.info("origin_already_imported", by_job=by_job, same_as=sample_id)
        else:
            self.catalog.end_job(job.job_id, state="vanished", now=now, error=reason)
            bound.warning("file_vanished", reason=reason)
        return True

    def _quarantine(self, rt: DatasetRuntime, job: Job, step: str, reason: str, now: float, after: list, bound) -> None:
        """Move the failing file out of the way with its reason; forget the sample if it was imported."""
        imported = _imported(job)
        path = rt.ctx.root / job.sample.file_path if imported and job.sample.file_path else Path(job.origin_path)
        copy = not imported and job.sample.source.get("on_import") == "copy"
        try:
            entry = quarantine_file(path, quarantine_root=self.cfg.quarantine_dir, dataset_id=rt.dataset_id,
                                    handler=step, reason=reason, at=now, copy=copy, origin_path=job.origin_path)
        except OSError as exc:
            if not is_disk_full(exc):
                raise
            # No room to put the file aside: it stays where it is and its step runs again later.
            self._wait_for_space(job, f"quarantine needs space ({exc}); first: {reason}", now, bound)
            return
        self.catalog.add_quarantine(entry)
        self.catalog.end_job(job.job_id, state="quarantined", now=now, error=reason)
        if not imported and not copy:
            self.catalog.db.execute("DELETE FROM files WHERE path = ?", (job.origin_path,))
        if imported and job.sample.sample_id:
            self.catalog.db.execute("DELETE FROM samples WHERE dataset_id = ? AND sample_id = ?",
                                    (rt.dataset_id, job.sample.sample_id))
            self.catalog.db.execute("DELETE FROM steps WHERE dataset_id = ? AND sample_id = ?",
                                    (rt.dataset_id, job.sample.sample_id))
            self._mark_after(after, rt.dataset_id, [job.sample.sample_id])
        self.counters.quarantined += 1
        bound.warning("quarantined", reason=reason, quarantine_path=entry.quarantine_path)

    def _wait_for_space(self, job: Job, reason: str, now: float, bound) -> None:
        """The step failed on a full disk: pause, and run it again once space returns, uncounted."""
        self.space.note_full(reason, now_s=time.monotonic())
        self.catalog.postpone_job(job.job_id, not_before=now, error=reason, now=now)
        bound.warning("step_waits_for_space", reason=reason)

    def place_batch(self, dataset_id: str, *, now: float) -> list[Sample]:
        """Give every original sample that has no split yet its split, all at once."""
        rt = self.datasets[dataset_id]
        waiting = [s for s in self.catalog.samples(dataset_id) if s.split is None and not s.parent_id]
        chosen = rt.splits.assign_batch(sorted(waiting, key=lambda s: s.sample_id), self.catalog)
        placed = [s.with_changes(split=chosen[s.sample_id]) for s in waiting]
        with self.catalog.transaction():
            for sample in placed:
                self.catalog.put_sample(sample, now=now, group_key=rt.splits.group_of(sample),
                                        label=rt.splits.label_of(sample))
        if self.exporter is not None:
            self.exporter.mark(dataset_id, [s.sample_id for s in placed])
        return placed

    # -- state ------------------------------------------------------------------------

    def idle(self) -> bool:
        return not self.in_flight and self.catalog.pending_count() == 0

    def take_new_sample_counts(self) -> dict[str, int]:
        counts, self._new_samples_since_validate = self._new_samples_since_validate, {}
        return counts

    def drain(self, *, deadline_s: float) -> None:
        """Stop dispatching; commit what finishes before the deadline (monotonic)."""
        self.accepting = False
        while self.in_flight and time.monotonic() < deadline_s:
            self.collect(timeout_s=max(0.0, min(0.2, deadline_s - time.monotonic())))

    def shutdown(self) -> None:
        from kellyd.executor import terminate_workers

        terminate_workers(self.executor)
        self.in_flight.clear()


def _imported(job: Job) -> bool:
    """Has the job's file been placed in the dataset (its step now reads the dataset's copy)?"""
    return job.step > 0 or job.chain[0] != "import"


def _restore_raw(copy: Path, target: Path, sample: Sample, bound) -> None:
    """Move `copy` (and its sidecar, if the target has none) to `target`, the sample's lost raw file."""
    if not copy.exists():
        return  # an identical copy of the same batch got there first
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(copy, target)
    sidecar, target_sidecar = copy.with_name(copy.name + ".json"), target.with_name(target.name + ".json")
    if sidecar.exists():
        if target_sidecar.exists():
            sidecar.unlink()
        else:
            os.replace(sidecar, target_sidecar)
    bound.info("raw_file_restored", sample_id=sample.sample_id, file_path=sample.file_path)


def _pool_broke(future: Future) -> bool:
    if future.cancelled():
        return True
    return future.done() and isinstance(future.exception(), BrokenProcessPool)


def _remove_origin(path: Path) -> None:
    for p in (path, path.with_name(path.name + ".json")):
        try:
            os.unlink(p)
        except FileNotFoundError:
            pass
        except OSError as exc:
            if exc.errno != errno.ENAMETOOLONG:  # a sidecar beside a name at NAME_MAX cannot exist
                raise
