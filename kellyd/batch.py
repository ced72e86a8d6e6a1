"""One-shot runs of the chain without the watcher: `kellyd import`, `kellyd features`...

They take the same state lock as the daemon (the catalog has one writer), run
the same runner until its queue is empty, and flush the exports before exit.
"""

from __future__ import annotations

import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from kellyd.catalog import Catalog
from kellyd.config import Config
from kellyd.dataset import settings_of
from kellyd.errors import ConfigError
from kellyd.export import Exporter
from kellyd.lock import DatasetsLock, StateLock
from kellyd.pathpolicy import refusal
from kellyd.rebuild import adopt_unknown_datasets, ensure_catalog
from kellyd.routing import is_ignored
from kellyd.runner import Runner
from kellyd.runtime import NewFile, build_runtime
from kellyd.scan import walk_files


@contextmanager
def batch_runner(cfg: Config, dataset_id: str) -> Iterator[Runner]:
    settings = settings_of(cfg, dataset_id)
    lock = StateLock(cfg.paths.state)
    lock.acquire(purpose=f"batch on {dataset_id}")
    datasets_lock = DatasetsLock(cfg.paths.datasets)
    try:
        datasets_lock.acquire(purpose=f"batch on {dataset_id}, state folder {cfg.paths.state}")
        ensure_catalog(cfg)  # never a fresh, empty catalog whose export would truncate the manifests
    except BaseException:
        datasets_lock.release()
        lock.release()
        raise
    catalog = Catalog(cfg.catalog_path)
    adopt_unknown_datasets(catalog, cfg, [dataset_id])
    exporter = Exporter(cfg.catalog_path, cfg.dataset_root, debounce_s=cfg.export.debounce_s,
                        max_busy_share=cfg.export.max_busy_share)
    from kellyd.executor import make_executor

    runner = Runner(cfg, catalog, {dataset_id: build_runtime(cfg, dataset_id, settings, catalog)},
                    lambda: make_executor(cfg), exporter)
    try:
        yield runner
    finally:
        runner.shutdown()
        exporter.flush(catalog)
        from kellyd.manifest_parquet import update_manifest_parquet  # pyarrow: loaded by batch commands only

        update_manifest_parquet(catalog, dataset_id, cfg.dataset_root(dataset_id))
        catalog.close()
        datasets_lock.release()
        lock.release()


def run_until_idle(runner: Runner, *, progress=None) -> None:
    """Dispatch and commit until nothing is pending; `progress(done_jobs)` after each commit batch."""
    while True:
        runner.dispatch(now=time.time())
        if not runner.in_flight:
            if runner.catalog.pending_count() == 0:
                return
            time.sleep(0.05)  # only jobs waiting for a retry time
            continue
        n = runner.collect(timeout_s=0.5)
        if progress is not None and n:
            progress(n)


def files_to_import(folder: Path, dataset_id: str, ignore: tuple[str, ...], *, move: bool) -> list[NewFile]:
    files = []
    for entry in walk_files(folder):
        if is_ignored(entry.path, ignore):
            continue
        try:
            st = entry.stat(follow_symlinks=False)  # a link is imported as nothing: `accepted` refuses it
        except OSError:
            continue
        labels = Path(entry.path).relative_to(folder).parts[:-1]
        files.append(NewFile(entry.path, st.st_size, st.st_mtime_ns, dataset_id, tuple(labels),
                             source_type="import", on_import="move" if move else "copy"))
    return files


def accepted(runner: Runner, f: NewFile) -> bool:
    """The path policy (`kellyd.pathpolicy`): a link or a name that is not UTF-8 is quarantined with the
    reason instead of imported."""
    try:
        reason = refusal(f.path, os.lstat(f.path))
    except OSError:
        return False
    if reason is None:
        return True
    runner.refuse(f, reason, now=time.time())
    return False


def import_folder(cfg: Config, folder: Path, dataset_id: str, *, move: bool = False, show_progress: bool = True) -> dict:
    """`kellyd import DIR --dataset NAME`: labels come from DIR's sub-folders."""
    if not folder.is_dir():
        raise ConfigError("DIR", f"{folder} is not a folder")
    with batch_runner(cfg, dataset_id) as runner:
        files = [f for f in files_to_import(folder, dataset_id, cfg.watch.ignore, move=move) if accepted(runner, f)]
        chain = runner.datasets[dataset_id].settings.chain
        labelled = tuple(name for name in chain if name in ("import", "annotate"))
        rest = tuple(name for name in chain if name not in labelled)
        # Import and annotate everything first, place the batch in splits at once (so the
        # splits do not depend on the order the workers finish in), then run the rest.
        runner.defer_splits = True
        runner.enqueue(files, now=time.time(), chain=labelled)
        bar = _progress_bar(runner, show_progress, desc=f"import into {dataset_id}", not_queued=len(files) * len(rest))
        run_until_idle(runner, progress=bar.update)
        runner.defer_splits = False
        placed = runner.place_batch(dataset_id, now=time.time())
        if rest:
            runner.enqueue_samples(dataset_id, placed, rest, now=time.time())
            bar.expect(0)
            run_until_idle(runner, progress=bar.update)
        bar.close()
        c = runner.counters
        return {"files": len(files), "added": c.samples_added, "duplicates": c.duplicates,
                "quarantined": c.quarantined, "children_added": c.children_added}


def rerun_step(cfg: Config, dataset_id: str, step: str, *, show_progress: bool = True, **handler_overrides) -> dict:
    """Run one step again on every sample of the dataset (`kellyd features` etc.)."""
    from kellyd.handlers.registry import build_handler

    with batch_runner(cfg, dataset_id) as runner:
        rt = runner.datasets[dataset_id]
        rt.handlers[step] = build_handler(step, rt.ctx, rt.settings, **handler_overrides)
        samples = runner.catalog.samples(dataset_id)
        if step == "augment":
            samples = [s for s in samples if s.parent_id is None]
        n = runner.enqueue_samples(dataset_id, samples, (step,), now=time.time())
        bar = _progress_bar(runner, show_progress, desc=f"{step} on {dataset_id}")
        run_until_idle(runner, progress=bar.update)
        bar.close()
        c = runner.counters
        return {"samples": n, "children_added": c.children_added, "quarantined": c.quarantined}


def register_samples(runner: Runner, dataset_id: str, samples, *, now: float) -> int:
    """Add samples written by kellyd itself (synthesis) as if import and annotate had run,
    then queue the rest of the chain for them. Returns how many were new."""
    rt = runner.datasets[dataset_id]
    catalog = runner.catalog
    rest = tuple(name for name in rt.settings.chain if name not in ("import", "annotate"))
    added = 0
    with catalog.transaction():
        for sample in samples:
            if catalog.sample_by_sha(dataset_id, sample.sha256) is not None:
                continue
            partner = sample.source.get("rendered_from")
            split = catalog.sample(dataset_id, partner).split if partner else None
            sample = sample.with_changes(split=split or rt.splits.assign(sample, catalog))
            catalog.put_sample(sample, now=now, group_key=rt.splits.group_of(sample), label=rt.splits.label_of(sample))
            for name in ("import", "annotate"):
                if name in rt.handlers:
                    catalog.record_step(dataset_id, sample.sample_id, name, rt.handlers[name].version, now)
            if rest:
                catalog.add_job(sample=sample, chain=rest, now=now)
            added += 1
    if runner.exporter is not None:
        runner.exporter.mark(dataset_id, [s.sample_id for s in samples])
    return added


def synthesize_into(cfg: Config, dataset_id: str, *, generator: str, count: int, seed: int, duration_s: float,
                    labels=None, render_audio: bool = False, show_progress: bool = True,
                    fill_to_target: int | None = None) -> dict:
    """`kellyd synthesize`: rule-based pieces written into raw/synthetic/, then features and augmentation.

    With `fill_to_target` (a cap on pieces), the generator, count and labels come from what the
    dataset's model still lacks (`kellyd.synth.fill`)."""
    from kellyd.synth.synthesize import synthesize

    with batch_runner(cfg, dataset_id) as runner:
        rt = runner.datasets[dataset_id]
        if fill_to_target is not None:
            from kellyd.synth.fill import fill_plan

            plan = fill_plan(rt.settings.target_model, runner.catalog.label_counts(dataset_id),
                             max_pieces=fill_to_target)
            if plan.count == 0:
                return {"written": 0, "added": 0, "children_added": 0, "quarantined": 0, "note": "targets met"}
            # A new seed per run: the pieces of earlier runs are not written again.
            generator, count, labels = plan.generator, plan.count, plan.labels
            seed = seed + runner.catalog.sample_count(dataset_id)
        from kellyd.progress import counting_bar

        pieces = counting_bar(count, desc=f"synthesize {count} {generator} pieces", enabled=show_progress,
                              unit="piece")
        try:
            samples = synthesize(rt.ctx, generator=generator, count=count, seed=seed, duration_s=duration_s,
                                 labels=labels, render_audio=render_audio, sr_hz=rt.settings.sample_rate_hz,
                                 on_piece=lambda: pieces.update(1))
        except ValueError as exc:
            raise ConfigError("synthesize arguments", str(exc)) from None
        finally:
            pieces.close()
        added = register_samples(runner, dataset_id, samples, now=time.time())
        bar = _progress_bar(runner, show_progress, desc=f"features of the pieces in {dataset_id}")
        run_until_idle(runner, progress=bar.update)
        bar.close()
        return {"written": len(samples), "added": added, "children_added": runner.counters.children_added,
                "quarantined": runner.counters.quarantined}


def _progress_bar(runner: Runner, enabled: bool, *, desc: str, not_queued: int = 0):
    """A bar over the handler steps queued in the catalog (and `not_queued` steps to queue later),
    with a total that follows the work."""
    from kellyd.progress import StepProgress

    return StepProgress(runner.catalog.db, desc=desc, enabled=enabled, not_queued=not_queued)
