"""`kellyd train --split-file FILE`: train on a split given by the user instead of the manifest's.

What it is for: cross-validation (one file per fold, every song in one fold) and
comparing models on a fixed, published split. The manifest and the catalog are not
changed; the split applies to this training only (the model's registry entry lists the
samples per split it got).

The file is JSON, an object mapping each original sample's file name (as dropped, the
name `group_by` reads) to "train", "val" or "test":

    {"song1_0.mid": "train", "song1_1.mid": "train", "song2_0.mid": "test"}

Augmented children follow their parent. A sample the file does not name, a name the
dataset does not hold, or a value that is not a split is an error naming it, so a typo
cannot silently move a song into training.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from kellyd.splits import SPLITS, file_name_of
from kellyd.train.dataset import TrainingSet, UnusableData

MAX_LISTED = 5


def read_split_file(path: Path) -> dict[str, str]:
    """The file name -> split mapping of `path`; UnusableData says what is wrong with it."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UnusableData(f"split file {path} does not load: {exc}") from None
    if not isinstance(document, dict) or not document:
        raise UnusableData(f"split file {path} must be a non-empty JSON object of file name -> split")
    bad = [f"{name!r}: {split!r}" for name, split in document.items() if split not in SPLITS]
    if bad:
        raise UnusableData(f"split file {path}: values must be one of {list(SPLITS)}, got "
                           f"{', '.join(bad[:MAX_LISTED])}")
    return {str(name): str(split) for name, split in document.items()}


def with_split_file(training_set: TrainingSet, splits: dict[str, str]) -> TrainingSet:
    """`training_set` with every sample in the split `splits` gives its (or its parent's) file name."""
    by_id = {s.sample_id: s for s in training_set.samples}

    def original(sample):
        seen = set()
        while sample.parent_id and sample.parent_id in by_id and sample.sample_id not in seen:
            seen.add(sample.sample_id)
            sample = by_id[sample.parent_id]
        return sample

    names = {s.sample_id: file_name_of(original(s)) for s in training_set.samples}
    missing = sorted({n for n in names.values() if n not in splits})
    unknown = sorted(set(splits) - set(names.values()))
    reasons = []
    if missing:
        reasons.append(f"the split file does not name {len(missing)} sample file(s) of the dataset, e.g. "
                       f"{', '.join(missing[:MAX_LISTED])}")
    if unknown:
        reasons.append(f"the split file names {len(unknown)} file(s) the dataset does not hold, e.g. "
                       f"{', '.join(unknown[:MAX_LISTED])}")
    if reasons:
        raise UnusableData(reasons)
    samples = tuple(dataclasses.replace(s, split=splits[names[s.sample_id]]) for s in training_set.samples)
    return dataclasses.replace(training_set, samples=samples)
