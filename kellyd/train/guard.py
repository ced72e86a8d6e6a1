"""Before training: the training guard of validation, and what `--if-changed` looks at.

The guard runs `kellyd.validate.validate_dataset` (its cheap mode, with the file stamps
the last validation kept) on the samples of the manifest and refuses on any error it
reports: a single class, an empty split, NaN features, leakage between splits, labels
a feature gives away... The reasons are validation's own words.

`--if-changed` compares the samples of the dataset now with those the last training of
the same model on the same dataset used (`samples.txt` in its version folder).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Iterable, Mapping

from kellyd.reports import latest_report, read_stamps
from kellyd.sample import Sample
from kellyd.splits import SplitSettings
from kellyd.train import registry as reg
from kellyd.train.dataset import TrainingSet
from kellyd.validate import validate_dataset


def samples_text(samples: Iterable[Sample]) -> str:
    """One line per sample, sorted: `sample_id sha256 split`."""
    return "".join(f"{s.sample_id} {s.sha256} {s.split}\n" for s in sorted(samples, key=lambda s: s.sample_id))


def read_samples_file(path: Path) -> set[tuple[str, str]]:
    """(sample_id, sha256) pairs of a `samples.txt`."""
    pairs = set()
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) >= 2:
            pairs.add((parts[0], parts[1]))
    return pairs


def samples_in_split(text: str, split: str) -> frozenset[str]:
    """The sample ids a `samples.txt` text lists in `split` (the split that training used)."""
    return frozenset(parts[0] for parts in (line.split() for line in text.splitlines())
                     if len(parts) >= 2 and parts[-1] == split)


def changed_share(training_set: TrainingSet, document: Mapping, key: str, models_dir: Path) -> float | None:
    """Samples added or removed since the last training of `key` on this dataset, as a share of the
    samples it used; None when there was none (or its list is gone): then training is due."""
    previous = [v for v in reg.versions_of(document, key) if v["dataset"]["dataset_id"] == training_set.dataset_id]
    if not previous:
        return None
    path = Path(models_dir) / previous[-1]["files"]["samples"]["path"]
    try:
        before = read_samples_file(path)
    except FileNotFoundError:
        return None
    now = {(s.sample_id, s.sha256) for s in training_set.samples}
    return len(before ^ now) / max(len(before), 1)


def last_validation_failed(root: Path) -> bool:
    """Whether the dataset's latest validation report says `invalid` (no report: False)."""
    report = latest_report(root)
    return bool(report) and report.get("verdict") == "invalid"


def guard_reasons(training_set: TrainingSet, model: str, *, schema_version: int, now: datetime) -> list[str]:
    """The errors validation finds that stand in the way of training `model` (empty when none)."""
    settings = training_set.settings
    split_settings = SplitSettings(ratios=tuple(settings.splits), label_key=training_set.label_key(model),
                                   group_by=settings.group_by or None, seed=training_set.dataset_id)
    report = validate_dataset(list(training_set.samples), training_set.root, target_model=model,
                              schema_version=schema_version, now=now, split_settings=split_settings,
                              recorded_stamps=read_stamps(training_set.root), dataset_id=training_set.dataset_id)
    return [f"{r.family}/{r.check}: {r.message}" for r in report.reasons if r.severity == "error"]
