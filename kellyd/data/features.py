"""The features of one sample, as the `features` step wrote them: `processed/features/<id>.json` and `.npz`.

The one place that opens a sample's features files for training, the loaders and the exports.
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Iterable, Mapping

import numpy as np

from kellyd.data.errors import UnusableData
from kellyd.data.npz import npz_array
from kellyd.sample import Sample


@dataclass(frozen=True)
class SampleFeatures:
    """One sample's features: the JSON's scalars and labels, and the `.npz` arrays."""

    schema_version: int
    scalars: Mapping[str, Any]
    arrays: Mapping[str, np.ndarray]


def features_paths(root: Path, sample: Sample) -> tuple[Path, Path]:
    """(JSON path, npz path) of `sample`'s features; UnusableData when it has none."""
    if not sample.features_path:
        raise UnusableData(f"sample {sample.sample_id} has no features (run `kellyd features`)")
    return Path(root) / PurePosixPath(sample.features_path), Path(npz_path(root, sample.features_path))


def npz_path(root: Path | str, features_path: str) -> str:
    """The `.npz` beside the features JSON recorded as `features_path` (relative to the dataset root): its
    name with `.npz` for `.json`. Plain strings, no pathlib: writing manifest.parquet asks once per sample."""
    return os.path.join(root, os.path.splitext(features_path)[0] + ".npz")


def _finite(sample: Sample, arrays: Mapping[str, np.ndarray]) -> None:
    for name, array in arrays.items():
        if np.issubdtype(array.dtype, np.floating) and not np.all(np.isfinite(array)):
            raise UnusableData(f"feature array {name!r} of sample {sample.sample_id} holds NaN or inf")


def load_features(root: Path, sample: Sample, *, schema_version: int,
                  arrays: Iterable[str] | None = None) -> SampleFeatures:
    """The features of `sample`; UnusableData when missing, stale, unreadable or not finite.

    arrays: the names of the `.npz` arrays to load (None: all); a name the file lacks is left out.
    """
    json_path, npz_path = features_paths(root, sample)
    try:
        document = json.loads(json_path.read_text(encoding="utf-8"))
        with np.load(npz_path, allow_pickle=False) as archive:
            names = archive.files if arrays is None else [n for n in arrays if n in archive.files]
            loaded = {name: archive[name] for name in names}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise UnusableData(f"features of sample {sample.sample_id} do not load: {exc}") from None
    found = document.get("schema_version") if isinstance(document, dict) else None
    if found != schema_version:
        raise UnusableData(f"features of sample {sample.sample_id} have schema version {found!r}, "
                           f"expected {schema_version} (run `kellyd features`)")
    _finite(sample, loaded)
    return SampleFeatures(int(found), dict(document.get("scalars", {})), loaded)


def load_feature_array(root: Path, sample: Sample, name: str) -> np.ndarray | None:
    """One array of the sample's `.npz` (only that member is decompressed); None when the sample has no
    features, the file or the array is missing or unreadable. For exports, where a gap is a null, not an error."""
    return feature_array(root, sample.features_path, name)


def feature_array(root: Path, features_path: str | None, name: str) -> np.ndarray | None:
    """`load_feature_array` from the sample's recorded `features_path` alone."""
    if not features_path:
        return None
    try:
        return npz_array(npz_path(root, features_path), name)
    except (OSError, ValueError, zipfile.BadZipFile):
        return None
