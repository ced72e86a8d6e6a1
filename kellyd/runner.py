"""The runner: turns ready files into jobs, runs each job's next step in the
executor, and commits every finished step to the catalog.

It lives on the daemon's main thread (or the batch command's) and never does
music work itself: that runs in the executor's workers. One loop iteration
commits all the results it collected in a single transaction; what each
outcome does to the catalog is `kellyd.commit`, what it holds per dataset
`kellyd.runtime`.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from concurrent.futures import FIRST_COMPLETED, CancelledError, Executor, Future, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Callable, Iterable

import structlog

from kellyd.handlers.base import Handler
from kellyd.catalog import Catalog, Job
from kellyd.commit import StepCommitter
from kellyd.config import Config
from kellyd.diskspace import SpaceWatch
from kellyd.export import Exporter
from kellyd import inflight
from kellyd.dataset_folder import away_reason
from kellyd.deaths import WorkerDeath, describe_exit, judge_death
from kellyd.durable import SyncLane, needs_sync
from kellyd.dask_executor import ClusterUnavailable
from kellyd.executor import submit_job
from kellyd.fairness import plan_dispatch
from kellyd.music.audio_numba import cache_root, set_aside
from kellyd.outcome import StepOutcome
from kellyd.pool_watch import deaths_after_break, overdue, running_steps
from kellyd.pathpolicy import display
from kellyd.quarantine import quarantine_file
from kellyd.runtime import Counters, DatasetRuntime, NewFile
from kellyd.sample import Sample

log = structlog.get_logger("kellyd.runner")

# Tests only: "<step>@<file>" makes the runner create <file> and wait there, forever, once a result
# of <step> is collected: its files are written and synced, its catalog commit not yet made (the
# kill -9 tests stop it there). Unset, the runner never looks at it again.
PAUSE_BEFORE_COMMIT_ENV = "KELLYD_TEST_PAUSE_BEFORE_COMMIT"
# Tests only, the same after the commit: the step's rows are committed, what follows a commit
# (removing an imported origin, telling the exporter) not yet done.
PAUSE_AFTER_COMMIT_ENV = "KELLYD_TEST_PAUSE_AFTER_COMMIT"
# The steps running now are written to the catalog (for `kellyd status`) at most this often, and at once
# when none runs any more. In a burst the set changes at every loop iteration: written each time, it cost
# a transaction per iteration, to show steps that had ended before anyone could read them.
RUNNING_SHOWN_EVERY_S = 1.0


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
        self._pause_after_commit = os.environ.get(PAUSE_AFTER_COMMIT_ENV, "").partition("@")
        self.exporter = exporter
        # Steps submitted and not committed yet: running, or finished and waiting for their files' sync.
        self.in_flight: dict[Future, Job] = {}
        self.sync_lane = SyncLane()
        self.capacity = max(2, cfg.workers * 4)
        self.counters = Counters()
        self.accepting = True
        # Jobs that were running when a worker died. Any of them may have killed it, so each
        # runs again alone: the one that breaks the pool while alone is the culprit.
        self.suspects: set[int] = set()
        self._timed_out: dict[int, int] = {}  # pid -> job id of workers stopped for running too long
        self._cache_heals: dict[int, int] = {}  # pid -> cache rebuilds the worker reported
        self._shown_running: list | None = None  # what `running` in the catalog holds now
        self.away: dict[str, str] = {}  # dataset -> why its folder is not the one laid out: its jobs wait
        self._running_shown_at_s = float("-inf")  # when it was written (monotonic)
        with self.catalog.transaction():
            inflight.runner_started(self.catalog.db, now=time.time())
        # A full datasets or state disk pauses dispatching until space returns (`kellyd.diskspace`).
        self.space = SpaceWatch([cfg.paths.datasets, cfg.paths.state])
        self.commits = StepCommitter(cfg, catalog, datasets, self.counters, self.space, exporter)
        self.commits.finish_interrupted_moves()

    @property
    def defer_splits(self) -> bool:
        """A batch places its new samples at once (`place_batch`), not as each is committed."""
        return self.commits.defer_splits

    @defer_splits.setter
    def defer_splits(self, value: bool) -> None:
        self.commits.defer_splits = value

    def reconfigure(self, cfg: Config, datasets: dict[str, DatasetRuntime]) -> None:
        """A reloaded configuration and the datasets built from it (the caller drained the runner first)."""
        self.cfg = self.commits.cfg = cfg
        self.datasets = self.commits.datasets = datasets

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
                # A sample whose job has yet to reach this step is not stale, only unfinished.
                queued = self.enqueue_samples(dataset_id, stale, (name,), now=now) if stale else 0
                if queued:
                    log.info("recompute_step", dataset=dataset_id, step=name, version=handler.version, samples=queued)
                created += queued
        return created

    # -- dispatch -------------------------------------------------------------------

    def busy(self, *, now: float) -> bool:
        """Steps in flight, or steps due now that wait for a worker (a retry waiting out its backoff is not work,
        nor are the jobs of a dataset not served now: see `served`)."""
        return bool(self.in_flight) or self.catalog.has_runnable_job(now=now, datasets=self.served())

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
        self.check_dataset_folders()
        served = self.served()
        # Retries have a lane of their own, so files never tried are not queued behind them.
        plan = plan_dispatch(room=room, retries_in_flight=sum(1 for j in self.in_flight.values() if j.attempts > 0),
                             workers=self.cfg.workers)
        jobs = self.catalog.runnable_jobs(now=now, limit=plan.retries, exclude=busy, retries=True,
                                          datasets=served) if plan.retries else []
        if plan.fresh > len(jobs):
            jobs += self.catalog.runnable_jobs(now=now, limit=plan.fresh - len(jobs), exclude=busy, retries=False,
                                               datasets=served)
        return self._submit(jobs)

    def served(self) -> list[str]:
        """The datasets whose jobs may run now: in the configuration, with the folder laid out for them. The
        jobs of a dataset taken out of the config, or whose folder went away, wait without holding up the rest."""
        return [ds_id for ds_id in self.datasets if ds_id not in self.away]

    def check_dataset_folders(self) -> dict[str, str]:
        """The datasets whose folder is not the one laid out (`kellyd.dataset_folder`), and why; logs and
        records (for `kellyd status`) when one goes or comes back."""
        away = {ds_id: reason for ds_id, rt in self.datasets.items()
                if (reason := away_reason(rt.ctx.root, rt.root_identity)) is not None}
        if away == self.away:
            return away
        for ds_id in sorted(away.keys() - self.away.keys()):
            log.error("dataset_folder_away", dataset=ds_id, reason=away[ds_id])
        for ds_id in sorted(self.away.keys() - away.keys()):
            log.info("dataset_folder_back", dataset=ds_id)
            if self.exporter is not None:  # what its manifest missed meanwhile is written now
                self.exporter.mark(ds_id)
        self.away = away
        try:
            with self.catalog.transaction():
                inflight.datasets_away(self.catalog.db, away)
        except sqlite3.OperationalError as exc:  # status is best effort; the log has it
            log.warning("datasets_away_not_recorded", error=str(exc))
        return away

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
        if shown != self._shown_running and (not shown or now_mono_s - self._running_shown_at_s >= RUNNING_SHOWN_EVERY_S):
            self._running_shown_at_s = now_mono_s
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
        away = self.check_dataset_folders()
        for job_id in sorted(self.suspects):
            job = self.catalog.pending_job(job_id)
            if job is not None and job.dataset_id in away:
                continue
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
                future = submit_job(self.executor, handler, job.sample, job.job_id, rt.ctx.root)
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
        self.commits.commit(job, StepOutcome(status, reason=verdict.reason), now, after)

    # -- results ------------------------------------------------------------------

    def collect(self, *, timeout_s: float, now_fn: Callable[[], float] = time.time) -> int:
        """Wait up to `timeout_s` for results and commit all that are done."""
        if not self.in_flight:
            return 0
        syncing = self.sync_lane.steps()
        running = [f for f in self.in_flight if f not in syncing]
        done, _ = wait(running + self.sync_lane.syncs(), timeout=timeout_s, return_when=FIRST_COMPLETED)
        synced, failed_syncs = self.sync_lane.finished([f for f in done if f not in self.in_flight])
        done = {f for f in done if f in self.in_flight}
        if getattr(self.executor, "resubmits_lost_steps", False):
            done = self._forget_lost_steps(done)
        if not done and not synced:
            return 0
        progressed = False
        alone = len(running) == 1
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
            done = {f for f in self.in_flight if f not in lost and f not in syncing and f not in synced}
            for future in lost:
                if self.in_flight[future].job_id in culprits or not culprits:
                    done.add(future)  # judged below (the culprit), or a suspect (nobody was named)
                else:
                    self.in_flight.pop(future)  # innocent: still pending in the catalog, runs again unpaid
        # Ok steps with files to sync wait for their batch's sync (off this thread); the steps whose sync
        # has finished commit now, with the rest.
        to_sync = [f for f in done if needs_sync(f)]
        if to_sync:
            self.sync_lane.start(to_sync)
        done = (done - set(to_sync)) | set(synced)
        if not done:
            return 0
        if self._pause_before_commit[1]:
            self._pause_for_test(done)
        committed_ok: set[str] = set()  # the steps committed with a result (for the test hook)
        away = self.check_dataset_folders()
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
                    outcome: StepOutcome = failed_syncs.get(future) or future.result()
                except (BrokenProcessPool, CancelledError):
                    if not alone:  # any of the jobs running may be the culprit: each runs again alone
                        self.suspects.add(job.job_id)
                        continue
                    outcome = StepOutcome("retry", reason="worker process died (crash or out of memory)")
                except Exception as exc:  # pickling or executor failure: the step did not run
                    outcome = StepOutcome("retry", reason=f"executor error {type(exc).__name__}: {exc}")
                if outcome.status != "retry" or "worker process died" not in outcome.reason:
                    self.suspects.discard(job.job_id)
                if job.dataset_id in away:  # its folder went while the step ran: it runs again once that is back
                    self.catalog.postpone_job(job.job_id, not_before=now, error=away[job.dataset_id], now=now)
                    continue
                self.commits.commit(job, outcome, now, after_commit)
                progressed = True
                if outcome.status == "ok":
                    committed_ok.add(job.handler_name)
            if progressed:  # for `kellyd status`: when the queue last moved
                inflight.step_finished(self.catalog.db, now=now)
        step, _, marker = self._pause_after_commit
        if marker and step in committed_ok:
            _pause_until_killed(marker)
        for action in after_commit:
            try:
                action()
            except OSError as exc:
                log.warning("post_commit_action_failed", error=str(exc))
        self.commits.forget_removed_origins()
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
            _pause_until_killed(marker)

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
        counts, self.commits.new_samples_since_validate = self.commits.new_samples_since_validate, {}
        return counts

    def drain(self, *, deadline_s: float) -> None:
        """Stop dispatching; commit what finishes before the deadline (monotonic)."""
        self.accepting = False
        while self.in_flight and time.monotonic() < deadline_s:
            self.collect(timeout_s=max(0.0, min(0.2, deadline_s - time.monotonic())))

    def shutdown(self) -> None:
        from kellyd.executor import terminate_workers

        terminate_workers(self.executor)
        self.sync_lane.shutdown()
        self.in_flight.clear()


def _pool_broke(future: Future) -> bool:
    if future.cancelled():
        return True
    return future.done() and isinstance(future.exception(), BrokenProcessPool)


def _pause_until_killed(marker: str) -> None:
    """The test hooks' stop (PAUSE_BEFORE_COMMIT_ENV, PAUSE_AFTER_COMMIT_ENV): say so in `marker`, then wait."""
    Path(marker).write_text(str(os.getpid()))
    while True:
        time.sleep(1.0)
