"""A dataset folder as training sees it: the manifest, its hash, the dataset's settings, and the
features of one sample. Nothing else of the folder is read (never the media files).

The reading itself is `kellyd.data`'s (`read_manifest`, `load_features`), the same the torch
loaders use, so training and user code see a dataset the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kellyd.config import DEFAULT_LABEL_KEY, DatasetConfig
from kellyd.data import SampleFeatures, UnusableData, load_features, read_manifest
from kellyd.dataset import read_config_json
from kellyd.sample import Sample

__all__ = ["SampleFeatures", "TrainingSet", "UnusableData", "dataset_settings", "load_features", "read_training_set"]


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
    manifest = read_manifest(root, dataset_id)
    return TrainingSet(dataset_id, root, manifest.samples, manifest.sha256, dataset_settings(root, configured))
