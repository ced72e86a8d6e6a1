"""The runner: turns ready files into jobs, runs each job's next step in the
executor, and commits every finished step to the catalog.

It lives on the daemon's main thread (or the batch command's) and never does
music work itself: that runs in the executor's workers. One loop iteration
commits all the results it collected in a single transaction.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import structlog

from kellyd.handlers.base import DatasetContext, Derived, Handler
from kellyd.handlers.registry import build_chain, child_chain
from kellyd.catalog import Catalog, Job
from kellyd.config import Config, DatasetConfig
from kellyd.export import Exporter
from kellyd.outcome import StepOutcome, backoff_s, run_step
from kellyd.quarantine import quarantine_file
from kellyd.routing import Route
from kellyd.sample import Sample
from kellyd.settle import Ready
from kellyd.split_state import SplitAssigner

log = structlog.get_logger("kellyd.runner")


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


def build_runtime(cfg: Config, dataset_id: str, settings: DatasetConfig, catalog: Catalog) -> DatasetRuntime:
    from kellyd.atomic import remove_stale_temp_files
    from kellyd.dataset import create_layout

    root = cfg.dataset_root(dataset_id)
    create_layout(root, dataset_id, settings)
    (cfg.paths.inbox / dataset_id).mkdir(exist_ok=True)  # show users where to drop files
    if removed := remove_stale_temp_files(root):
        log.info("stale_temp_files_removed", dataset=dataset_id, count=removed)
    ctx = DatasetContext(dataset_id=dataset_id, root=root, settings={"target_model": settings.target_model})
    return DatasetRuntime(dataset_id, settings, ctx, build_chain(ctx, settings),
                          SplitAssigner.load(catalog, dataset_id, settings))


class Runner:
    def __init__(self, cfg: Config, catalog: Catalog, datasets: dict[str, DatasetRuntime],
                 executor_factory: Callable[[], Executor], exporter: Exporter | None) -> None:
        self.cfg = cfg
        self.catalog = catalog
        self.datasets = datasets
        self._executor_factory = executor_factory
        self.executor = executor_factory()
        self.exporter = exporter
        self.in_flight: dict[Future, Job] = {}
        self.capacity = max(2, cfg.workers * 4)
        self.counters = Counters()
        self.accepting = True
        self.defer_splits = False  # a batch places its new samples at once (`Runner.place_batch`)
        # Jobs that were running when a worker died. Any of them may have killed it, so each
        # runs again alone: the one that breaks the pool while alone is the culprit.
        self.suspects: set[int] = set()
        self._new_samples_since_validate: dict[str, int] = {}

    # -- jobs in ----------------------------------------------------------------

    def enqueue(self, files: Iterable[NewFile], *, now: float, chain: tuple[str, ...] | None = None) -> int:
        """Create one job per settled file, in one transaction (`chain`: only these steps)."""
        created = 0
        with self.catalog.transaction():
            for f in files:
                rt = self.datasets.get(f.dataset_id)
                if rt is None:
                    continue
                sample = Sample(dataset_id=f.dataset_id, origin_path=f.path, label_dirs=f.label_dirs,
                                source={"type": f.source_type, "on_import": f.on_import or rt.settings.on_import})
                self.catalog.add_job(sample=sample, chain=chain or rt.settings.chain, size=f.size,
                                     mtime_ns=f.mtime_ns, now=now)
                created += 1
        return created

    def enqueue_samples(self, dataset_id: str, samples: Iterable[Sample], chain: tuple[str, ...], *, now: float) -> int:
        """Jobs that run `chain` on samples already in the dataset (recompute, on-demand steps)."""
        busy = self.catalog.samples_with_pending_job(dataset_id)
        created = 0
        with self.catalog.transaction():
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

    def dispatch(self, *, now: float) -> int:
        if not self.accepting:
            return 0
        if self.suspects:
            return self._dispatch_suspect()
        room = self.capacity - len(self.in_flight)
        if room <= 0:
            return 0
        busy = {job.job_id for job in self.in_flight.values()}
        return self._submit(self.catalog.runnable_jobs(now=now, limit=room, exclude=busy))

    def _dispatch_suspect(self) -> int:
        if self.in_flight:
            return 0
        for job_id in sorted(self.suspects):
            job = self.catalog.pending_job(job_id)
            if job is not None:
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
                future = self.executor.submit(run_step, handler, job.sample)
            except (BrokenProcessPool, RuntimeError):
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

    # -- results ------------------------------------------------------------------

    def collect(self, *, timeout_s: float, now_fn: Callable[[], float] = time.time) -> int:
        """Wait up to `timeout_s` for results and commit all that are done."""
        if not self.in_flight:
            return 0
        done, _ = wait(list(self.in_flight), timeout=timeout_s, return_when=FIRST_COMPLETED)
        if not done:
            return 0
        broken = False
        alone = len(self.in_flight) == 1
        now = now_fn()
        after_commit: list[Callable[[], None]] = []
        with self.catalog.transaction():
            for future in done:
                job = self.in_flight.pop(future)
                try:
                    outcome: StepOutcome = future.result()
                except BrokenProcessPool:
                    broken = True
                    if not alone:  # any of the jobs running may be the culprit: each runs again alone
                        self.suspects.add(job.job_id)
                        continue
                    outcome = StepOutcome("retry", reason="worker process died (crash or out of memory)")
                except Exception as exc:  # pickling or executor failure: the step did not run
                    outcome = StepOutcome("retry", reason=f"executor error {type(exc).__name__}: {exc}")
                if outcome.status != "retry" or "worker process died" not in outcome.reason:
                    self.suspects.discard(job.job_id)
                self._commit(job, outcome, now, after_commit)
        for action in after_commit:
            try:
                action()
            except OSError as exc:
                log.warning("post_commit_action_failed", error=str(exc))
        if broken:
            self._replace_executor()
        return len(done)

    def _commit(self, job: Job, outcome: StepOutcome, now: float, after: list) -> None:
        rt = self.datasets[job.dataset_id]
        name = job.handler_name
        self.counters.step_seconds[name] = self.counters.step_seconds.get(name, 0.0) + outcome.elapsed_s
        bound = log.bind(job=job.job_id, step=name, sample_id=job.sample.sample_id or None,
                         path=job.sample.file_path or job.origin_path)
        if outcome.status == "ok":
            self._commit_ok(rt, job, outcome.result, now, after, bound)
            return
        if outcome.status == "retry":
            attempts = self.catalog.retry_job(job.job_id, not_before=now + (outcome.retry_after_s or backoff_s(job.attempts + 1)),
                                              error=outcome.reason, now=now)
            if attempts < self.cfg.executor.max_attempts:
                bound.warning("step_retry", reason=outcome.reason, attempts=attempts)
                return
            outcome = StepOutcome("invalid", reason=f"gave up after {attempts} attempts: {outcome.reason}")
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
            if chain:
                self.catalog.add_job(sample=child, chain=chain, now=now)
            self.counters.children_added += 1
        if finished:
            self.counters.processed += 1
            bound.info("sample_done", dataset=rt.dataset_id)
        if self.exporter is not None:
            self.exporter.mark(rt.dataset_id, [sample.sample_id, *(c.sample_id for c in children)])

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
            after.append(lambda: _remove_origin(origin))

    def _commit_duplicate(self, rt: DatasetRuntime, job: Job, sample: Sample, existing: Sample, now: float,
                          after: list, bound) -> None:
        names = tuple(dict.fromkeys((*existing.original_names, *sample.original_names)))
        merged = existing.with_changes(original_names=names)
        self.catalog.put_sample(merged, now=now)
        self.catalog.end_job(job.job_id, state="duplicate", now=now, error=f"same content as {existing.sample_id}")
        if sample.file_path != existing.file_path:
            copy = rt.ctx.root / sample.file_path
            after.append(lambda: _remove_origin(copy))
        self._after_import(job, sample, after)
        self.counters.duplicates += 1
        self.counters.processed += 1
        bound.info("duplicate", same_as=existing.sample_id)
        if self.exporter is not None:
            self.exporter.mark(rt.dataset_id, [existing.sample_id])

    def _quarantine(self, rt: DatasetRuntime, job: Job, step: str, reason: str, now: float, after: list, bound) -> None:
        """Move the failing file out of the way with its reason; forget the sample if it was imported."""
        imported = job.step > 0 or job.chain[0] != "import"
        path = rt.ctx.root / job.sample.file_path if imported and job.sample.file_path else Path(job.origin_path)
        copy = not imported and job.sample.source.get("on_import") == "copy"
        entry = quarantine_file(path, quarantine_root=self.cfg.quarantine_dir, dataset_id=rt.dataset_id,
                                handler=step, reason=reason, at=now, copy=copy, origin_path=job.origin_path)
        self.catalog.add_quarantine(entry)
        self.catalog.end_job(job.job_id, state="quarantined", now=now, error=reason)
        if not imported and not copy:
            self.catalog.db.execute("DELETE FROM files WHERE path = ?", (job.origin_path,))
        if imported and job.sample.sample_id:
            self.catalog.db.execute("DELETE FROM samples WHERE dataset_id = ? AND sample_id = ?",
                                    (rt.dataset_id, job.sample.sample_id))
            self.catalog.db.execute("DELETE FROM steps WHERE dataset_id = ? AND sample_id = ?",
                                    (rt.dataset_id, job.sample.sample_id))
            if self.exporter is not None:
                self.exporter.mark(rt.dataset_id, [job.sample.sample_id])
        self.counters.quarantined += 1
        bound.warning("quarantined", reason=reason, quarantine_path=entry.quarantine_path)

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


def _remove_origin(path: Path) -> None:
    for p in (path, path.with_name(path.name + ".json")):
        try:
            os.unlink(p)
        except FileNotFoundError:
            pass
