"""The features of one sample, as the `features` step wrote them: `processed/features/<id>.json` and `.npz`.

The one place that opens a sample's features files for training, the loaders and the exports.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Iterable, Mapping

import numpy as np

from kellyd.data.errors import UnusableData
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
    json_path = Path(root) / PurePosixPath(sample.features_path)
    return json_path, json_path.with_suffix(".npz")


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
    if not sample.features_path:
        return None
    _, npz_path = features_paths(root, sample)
    try:
        with np.load(npz_path, allow_pickle=False) as archive:
            return archive[name] if name in archive.files else None
    except (OSError, ValueError, zipfile.BadZipFile):
        return None
