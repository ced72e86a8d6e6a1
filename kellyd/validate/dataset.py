"""`validate_dataset`: every check family over one dataset, one verdict, one report.

The caller (the daemon's validate job, `kellyd validate`) passes plain values
from the catalog; nothing here reads the catalog. Hashing files is the slow part:
scheduled runs use the cheap mode with the stamps the previous run returned
(`report.stamps`), so only new or changed files are read; `verify_hashes=True`
reads and hashes everything. See `kellyd.validate.files` for the two modes.
"""

from __future__ import annotations

import dataclasses
import math
import time
from concurrent.futures import Executor, ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

from kellyd.sample import Sample
from kellyd.splits import SplitSettings, label_value, read_split_files
from kellyd.validate import checks, leakage, structure
from kellyd.validate.features import ColumnScan
from kellyd.validate.html import utc_text
from kellyd.validate.files import FileTask, check_files
from kellyd.validate.measures import SpreadScan, annotation_distributions, source_counts
from kellyd.validate.report import FileStamp, QuarantinedFile, StorageUse, ValidationReport
from kellyd.validate.report_json import report_to_json
from kellyd.validate.targets import annotation_problems, target_for
from kellyd.validate.verdict import diff_reports, ordered, verdict_of


def quarantined_file(item: Any) -> QuarantinedFile:
    """A QuarantinedFile from itself, a mapping or 4-tuple (path, reason, handler, when), or an object
    with `origin_path`, `reason`, `handler` and `at` attributes (the catalog's QuarantineEntry).

    `when` may be ISO text, an aware datetime or a Unix time in seconds.
    """
    if isinstance(item, QuarantinedFile):
        return item
    if isinstance(item, Mapping):
        path, reason, handler, when = item["path"], item["reason"], item["handler"], item["when"]
    elif all(hasattr(item, name) for name in ("origin_path", "reason", "handler", "at")):
        path, reason, handler, when = item.origin_path, item.reason, item.handler, item.at
    else:
        path, reason, handler, when = item
    when_text = when if isinstance(when, str) else utc_text(when)
    return QuarantinedFile(str(path), str(reason), str(handler), when_text)


def _numeric_labels(sample: Sample, keys: Sequence[str]) -> dict[str, float]:
    values = {}
    for key in keys:
        value = sample.annotations.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            values[key] = float(value)
    return values


@dataclasses.dataclass
class _FileTally:
    problems: list[tuple[str, str, str]]
    stamps: dict[str, FileStamp]
    spreads: SpreadScan = dataclasses.field(default_factory=SpreadScan)
    fingerprints: dict[str, str] = dataclasses.field(default_factory=dict)  # originals' features, for leakage
    hashed: int = 0
    trusted: int = 0


def _scan_files(samples: Sequence[Sample], root: Path, *, schema_version: int, verify_hashes: bool,
                recorded: Mapping[str, FileStamp], executor: Executor | None, class_key: str,
                scan: ColumnScan, label_targets: Sequence[str]) -> _FileTally:
    unique = list({s.sample_id: s for s in samples}.values())
    tasks = [FileTask.of(s, recorded.get(s.sample_id)) for s in unique]
    tally = _FileTally([], {})
    for sample, found in zip(unique, check_files(root, tasks, verify_hashes=verify_hashes,
                                                 schema_version=schema_version, executor=executor)):
        who = sample.file_path or sample.sample_id
        tally.problems.extend((check, who, detail) for check, detail in found.problems)
        if found.stamp is not None:
            tally.stamps[sample.sample_id] = found.stamp
            tally.trusted += not found.hashed
        tally.hashed += found.hashed
        scan.add(found.columns, label_value(sample, class_key), _numeric_labels(sample, label_targets),
                 original=not sample.parent_id)
        if not sample.parent_id:
            tally.spreads.add(sample.annotations, found.columns)
            if (mark := leakage.fingerprint(found.columns)) is not None:
                tally.fingerprints[sample.sample_id] = mark
    return tally


@contextmanager
def _runner(executor: Executor | None, workers: int) -> Iterator[Executor | None]:
    """The caller's executor; else a thread pool of `workers` threads (shut down after); else None."""
    if executor is not None or workers == 1:
        yield executor
        return
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kellyd-validate") as pool:
        yield pool


def validate_dataset(
    samples: Sequence[Sample],
    root: Path,
    *,
    target_model: str,
    schema_version: int,
    now: datetime,
    split_settings: SplitSettings = SplitSettings(),
    quarantined: Iterable[Any] = (),
    previous: Mapping[str, Any] | None = None,
    storage_budget_bytes: int | None = None,
    verify_hashes: bool = False,
    recorded_stamps: Mapping[str, FileStamp] | None = None,
    executor: Executor | None = None,
    workers: int = 1,
    limits: checks.Limits = checks.Limits(),
    dataset_id: str | None = None,
) -> ValidationReport:
    """Validate one dataset folder and the samples the catalog holds for it.

    samples: every sample of the dataset (originals and augmented children).
    root: the dataset folder (`datasets/<id>`).
    target_model: EmotionRecognizer, MelodyTransformer, HarmonyPredictor, DynamicsEngine or GroovePredictor.
    schema_version: the features schema version the extractors write now.
    now: the report's time (aware datetime).
    split_settings: ratios, label_key (the class label; defaults to the model's), group_by.
    quarantined: the dataset's quarantined files (see `quarantined_file` for the accepted forms).
    previous: the previous report's JSON (e.g. `reports/latest.json`), for "what changed".
    storage_budget_bytes: the dataset's storage budget (None: not judged).
    verify_hashes: hash and parse every file (full mode) instead of trusting recorded stamps.
    recorded_stamps: sample_id -> FileStamp returned by an earlier run (`report.stamps`).
    executor: runs the file checks in chunks (threads, processes, Dask); with None and
        workers > 1 a thread pool of that size is used (hashing releases the GIL).
    """
    started = time.monotonic()
    target = target_for(target_model)
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    if storage_budget_bytes is not None and storage_budget_bytes <= 0:
        raise ValueError(f"storage_budget_bytes must be positive, got {storage_budget_bytes}")
    root = Path(root)
    created_at = utc_text(now)
    class_key = split_settings.label_key or target.class_key
    classes = {label_value(s, class_key) for s in samples} - {""}
    scan = ColumnScan(len(classes), target.label_targets)
    recorded = recorded_stamps or {}
    with _runner(executor, workers) as runner:
        tally = _scan_files(samples, root, schema_version=schema_version, verify_hashes=verify_hashes,
                            recorded=recorded, executor=runner, class_key=class_key, scan=scan,
                            label_targets=target.label_targets)
    for sample in samples:
        who = sample.file_path or sample.sample_id
        problems = annotation_problems(sample.annotations, target)
        tally.problems.extend((check, who, detail) for check, detail in problems)

    class_counts = checks.count_classes(samples, class_key, target)
    distributions = annotation_distributions(samples)
    composition = checks.split_composition(samples, class_key)
    listed = read_split_files(root)
    storage_use = StorageUse(structure.folder_bytes(root), storage_budget_bytes)
    quarantine = tuple(quarantined_file(q) for q in quarantined)

    reasons = [
        *structure.check_layout(root, limits),
        *structure.check_manifest(root, samples, limits),
        *structure.check_split_files(listed, samples, limits),
        *checks.check_sample_problems(checks.group_problems(tally.problems), limits),
        *checks.check_constant_columns(scan.constant_columns(), limits, features=scan.feature_count(),
                                       originals=scan.originals),
        *leakage.check_leakage(samples, listed, split_settings, limits, tally.fingerprints),
        *checks.check_training(samples, composition, class_key, split_settings.ratios, scan.label_columns(),
                               scan.equal_columns(), limits),
        *checks.check_split_balance(composition, class_key, limits),
        *checks.check_counts(class_counts, samples, target, limits),
        *checks.check_diversity(distributions, target, limits),
        *checks.check_storage(storage_use, limits),
    ]
    if quarantine:
        reasons.append(checks.check_quarantine(quarantine, limits))
    reasons_in_order = ordered(reasons)
    report = ValidationReport(
        dataset_id=dataset_id or (samples[0].dataset_id if samples else root.name),
        target_model=target.model,
        created_at=created_at,
        verdict=verdict_of(reasons_in_order),
        reasons=reasons_in_order,
        mode="full" if verify_hashes else "cheap",
        sample_count=len(samples),
        original_count=sum(1 for s in samples if not s.parent_id),
        augmented_count=sum(1 for s in samples if s.parent_id),
        class_key=class_key,
        class_counts=class_counts,
        total_target=target.total,
        split_ratios=split_settings.ratios,
        split_counts=composition,
        split_augmented=checks.split_composition(samples, class_key, augmented=True),
        source_counts=source_counts(samples),
        spreads=tally.spreads.distributions(),
        distributions=distributions,
        storage=storage_use,
        quarantined=quarantine,
        changes=(),
        previous_created_at=None,
        files_hashed=tally.hashed,
        files_trusted=tally.trusted,
        elapsed_s=0.0,
        stamps=tally.stamps,
    )
    changes = diff_reports(previous, report_to_json(report))
    compared = previous.get("created_at") if previous and changes is not None else None
    return dataclasses.replace(report, changes=changes or (), previous_created_at=compared,
                               elapsed_s=round(time.monotonic() - started, 3))
