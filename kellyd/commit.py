"""Committing finished steps: what a step's outcome does to the catalog.

An ok result becomes the sample's row (and its children's, with their jobs), a duplicate merges
its names into the sample already there, a retry waits its backoff, a file that vanished ends its
job, and a failure quarantines the file with its reason. Each job is recorded inside a savepoint of
the runner's one transaction per loop iteration; what must wait for that transaction's commit
(removing an imported origin, telling the exporter) goes to the `after` list.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import stat
import time
from pathlib import Path
from typing import Callable

import structlog

from kellyd.catalog import Catalog, Job
from kellyd.config import Config
from kellyd.diskspace import SpaceWatch, is_disk_full
from kellyd.export import Exporter
from kellyd.handlers.base import Derived
from kellyd.handlers.registry import child_chain
from kellyd.outcome import StepOutcome, backoff_s
from kellyd.pathpolicy import display
from kellyd.quarantine import quarantine_file
from kellyd.runtime import Counters, DatasetRuntime
from kellyd.sample import Sample

log = structlog.get_logger("kellyd.runner")


class StepCommitter:
    """Records the runner's finished steps in the catalog (see the module's docstring)."""

    def __init__(self, cfg: Config, catalog: Catalog, datasets: dict[str, DatasetRuntime], counters: Counters,
                 space: SpaceWatch, exporter: Exporter | None) -> None:
        self.cfg = cfg
        self.catalog = catalog
        self.datasets = datasets
        self.counters = counters
        self.space = space
        self.exporter = exporter
        self.defer_splits = False  # a batch places its new samples at once (`Runner.place_batch`)
        self.new_samples_since_validate: dict[str, int] = {}
        self.removed_origins: list[tuple[str, int]] = []  # (path, job id): origins removed after their commit

    def commit(self, job: Job, outcome: StepOutcome, now: float, after: list) -> None:
        """Commit one job inside a savepoint. An unexpected failure (a name the file system or SQLite
        refuses...) undoes only this job's rows and quarantines it with the reason; the other results
        of the batch still commit. A full disk is left to `SpaceWatch` (the whole batch waits)."""
        mine: list[Callable[[], None]] = []
        db = self.catalog.db
        db.execute("SAVEPOINT job_commit")
        try:
            self.record(job, outcome, now, mine)
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

    def record(self, job: Job, outcome: StepOutcome, now: float, after: list) -> None:
        """Record one finished step (no savepoint: `commit` wraps it in one)."""
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
            self.new_samples_since_validate[rt.dataset_id] = self.new_samples_since_validate.get(rt.dataset_id, 0) + 1
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
            after.append(lambda: bound.info("sample_done", dataset=rt.dataset_id))  # said once it is true
        self._mark_after(after, rt.dataset_id, [sample.sample_id, *(c.sample_id for c in children)])

    def _mark_after(self, after: list, dataset_id: str, sample_ids: list[str]) -> None:
        """Tell the exporter once the transaction has committed: it must never read a change before it is there."""
        if self.exporter is not None:
            exporter = self.exporter
            after.append(lambda: exporter.mark(dataset_id, sample_ids))

    def _with_catalog_fields(self, sample: Sample) -> Sample:
        """Names and split belong to the catalog, not to a step: a duplicate may have added a name
        (or a batch placed the split) while this sample's step was running."""
        current = self.catalog.names_and_split(sample.dataset_id, sample.sample_id)
        if current is None:
            return sample
        names, split = current
        return sample.with_changes(original_names=tuple(dict.fromkeys((*names, *sample.original_names))),
                                   split=split or sample.split)

    def _after_import(self, job: Job, sample: Sample, after: list) -> None:
        """An import that moves removes the origin once its commit is made. The file's `files` row stays
        until the origin is gone, so a daemon killed in between knows the file when it starts again
        (`finish_interrupted_moves`) and does not import it twice."""
        if job.sample.source.get("on_import") == "move":
            origin = Path(job.origin_path)
            after.append(lambda: self._remove_imported_origin(job, origin))

    def _remove_imported_origin(self, job: Job, origin: Path) -> None:
        """After an import that moves: remove the origin. Where the daemon cannot (a folder it may not
        write), the file stays, and the catalog remembers it as imported so that rescans leave it alone
        until it changes: one warning, not one import per rescan."""
        try:
            _remove_origin(origin)
        except OSError as exc:
            log.warning("origin_not_removed", path=display(job.origin_path), job=job.job_id, error=str(exc),
                        hint="the file is imported; kellyd cannot remove it from the inbox (no write permission "
                             "on its folder?), leaves it there and will not import it again unless it changes")
            self._remember_unremoved(job, origin)
            return
        self.removed_origins.append((job.origin_path, job.job_id))

    def _remember_unremoved(self, job: Job, origin: Path) -> None:
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

    def forget_removed_origins(self) -> None:
        """The `files` rows of the origins removed since the last call go, in one transaction: a file
        dropped at the same path later is a new arrival."""
        removed, self.removed_origins = self.removed_origins, []
        if not removed:
            return
        try:
            with self.catalog.transaction():
                for path, job_id in removed:
                    self.catalog.forget_file(path, job_id=job_id)
        except sqlite3.Error as exc:  # the next start forgets them (`finish_interrupted_moves`)
            log.warning("removed_origins_not_forgotten", files=len(removed), error=str(exc))

    def finish_interrupted_moves(self) -> None:
        """Origins of committed moves that are still in the inbox (a kill between the commit and the
        removal) are removed if they are unchanged, and their rows forgotten; a changed one is a new
        arrival. One the daemon cannot remove stays known, as after `origin_not_removed`."""
        removed = kept = 0
        for path, size, mtime_ns, job_id in self.catalog.moved_files_left():
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                st = None
            if st is not None and stat.S_ISREG(st.st_mode) and (st.st_size, st.st_mtime_ns) == (size, mtime_ns):
                try:
                    _remove_origin(Path(path))
                except OSError:
                    kept += 1
                    continue
                removed += 1
            self.removed_origins.append((path, job_id))
        self.forget_removed_origins()
        if removed or kept:
            log.info("interrupted_moves_finished", origins_removed=removed, origins_kept=kept)

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
        after.append(lambda: bound.info("duplicate", same_as=existing.sample_id))
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


def _remove_origin(path: Path) -> None:
    for p in (path, path.with_name(path.name + ".json")):
        try:
            os.unlink(p)
        except FileNotFoundError:
            pass
        except OSError as exc:
            if exc.errno != errno.ENAMETOOLONG:  # a sidecar beside a name at NAME_MAX cannot exist
                raise
