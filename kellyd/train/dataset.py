"""A dataset folder as training sees it: the manifest, its hash, the dataset's settings, and the
features of one sample. Nothing else of the folder is read (never the media files).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Mapping

import numpy as np

from kellyd.config import DEFAULT_LABEL_KEY, DatasetConfig
from kellyd.dataset import read_config_json
from kellyd.sample import Sample


class UnusableData(Exception):
    """The dataset cannot be trained on as it is; `reasons` say why, one line each."""

    def __init__(self, reasons: list[str] | tuple[str, ...] | str) -> None:
        self.reasons = (reasons,) if isinstance(reasons, str) else tuple(reasons)
        super().__init__("; ".join(self.reasons))


@dataclass(frozen=True)
class TrainingSet:
    """The samples of one dataset (from manifest.json) and what describes the folder.

    manifest_sha256: hash of the manifest bytes read, recorded with every model.
    settings: the dataset's settings (config.toml's table, else its config.json, else defaults).
    """

    dataset_id: str
    root: Path
    samples: tuple[Sample, ...]
    manifest_sha256: str
    settings: DatasetConfig

    def label_key(self, model: str) -> str:
        """The class annotation of `model` on this dataset: the dataset's own `label_key` when the
        model is the dataset's target, else the model's default."""
        if model == self.settings.target_model:
            return self.settings.target_label_key
        return DEFAULT_LABEL_KEY[model]

    def in_split(self, split: str) -> tuple[Sample, ...]:
        return tuple(s for s in self.samples if s.split == split)


@dataclass(frozen=True)
class SampleFeatures:
    """One sample's features: the JSON's scalars and labels, and the `.npz` arrays."""

    schema_version: int
    scalars: Mapping[str, Any]
    arrays: Mapping[str, np.ndarray]


def dataset_settings(root: Path, configured: DatasetConfig | None) -> DatasetConfig:
    """The settings passed in, else those `kellyd dataset create` wrote to config.json, else defaults."""
    if configured is not None:
        return configured
    data = read_config_json(root) or {}
    known = {f for f in DatasetConfig.__dataclass_fields__}
    values = {k: (tuple(v) if isinstance(v, list) else v) for k, v in data.items() if k in known}
    return DatasetConfig(**values)


def read_training_set(datasets_dir: Path, dataset_id: str, configured: DatasetConfig | None = None) -> TrainingSet:
    """Read `datasets/<id>/manifest.json`; UnusableData when it is missing or malformed."""
    root = Path(datasets_dir) / dataset_id
    path = root / "manifest.json"
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise UnusableData(f"dataset {dataset_id!r} has no manifest at {path}") from None
    try:
        document = json.loads(raw)
        entries = document["samples"]
        samples = tuple(Sample.from_json({"dataset_id": dataset_id, **entry}) for entry in entries)
    except (ValueError, KeyError, TypeError) as exc:
        raise UnusableData(f"{path} is not a kellyd manifest: {exc}") from None
    return TrainingSet(dataset_id, root, samples, hashlib.sha256(raw).hexdigest(), dataset_settings(root, configured))


def load_features(root: Path, sample: Sample, *, schema_version: int) -> SampleFeatures:
    """The features of `sample`; UnusableData when missing, stale, unreadable or not finite."""
    if not sample.features_path:
        raise UnusableData(f"sample {sample.sample_id} has no features (run `kellyd features`)")
    json_path = Path(root) / PurePosixPath(sample.features_path)
    npz_path = json_path.with_suffix(".npz")
    try:
        document = json.loads(json_path.read_text(encoding="utf-8"))
        with np.load(npz_path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except (OSError, ValueError) as exc:
        raise UnusableData(f"features of sample {sample.sample_id} do not load: {exc}") from None
    found = document.get("schema_version")
    if found != schema_version:
        raise UnusableData(f"features of sample {sample.sample_id} have schema version {found!r}, "
                           f"expected {schema_version} (run `kellyd features`)")
    for name, array in arrays.items():
        if np.issubdtype(array.dtype, np.floating) and not np.all(np.isfinite(array)):
            raise UnusableData(f"feature array {name!r} of sample {sample.sample_id} holds NaN or inf")
    return SampleFeatures(int(found), dict(document.get("scalars", {})), arrays)
