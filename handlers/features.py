"""The `features` step: run the MIDI or audio extractor and write its output.

Writes `processed/features/<shard>/<sample_id>.json` (`kellyd.shard`) (schema version, scalars, labels
found, flags) and `.npz` (arrays), both atomically. Labels the music tells
(key, tempo...) fill annotations the folders and sidecar did not set; the keys
filled this way are listed in `annotations["detected"]` so that a recompute
(after a version bump) may replace them while given labels stay.
"""

from __future__ import annotations

import io
import math
import zipfile
from pathlib import PurePosixPath
from typing import Any, ClassVar

import numpy as np

from kellyd.handlers.base import DatasetContext
from kellyd.atomic import atomic_write_bytes, atomic_write_json
from kellyd.errors import InvalidInput
from kellyd.music.extracted import Extracted
from kellyd.sample import Sample
from kellyd.shard import sample_file

# 2: MIDI beat grid re-phased from the notes, downbeats, tempo events checked against the onsets.
FEATURE_SCHEMA_VERSION = 2
FEATURES_DIR = PurePosixPath("processed", "features")


def _finite(value: Any, where: str) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"feature {where} is {value}")
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _finite(v, f"{where}[{i}]")
    if isinstance(value, dict):
        for k, v in value.items():
            _finite(v, f"{where}.{k}")


def check_finite(extracted: Extracted) -> None:
    """Raise ValueError naming the first NaN/inf feature (an extractor bug, never silently stored)."""
    _finite(dict(extracted.scalars), "scalars")
    for name, arr in extracted.arrays.items():
        if np.issubdtype(arr.dtype, np.floating) and not np.all(np.isfinite(arr)):
            raise ValueError(f"feature array {name!r} holds NaN or inf")


def extract(path, kind: str, *, sr_hz: int, max_audio_s: float) -> Extracted:
    """The features of the file at `path`; audio is analysed on its first `max_audio_s` seconds only."""
    if kind == "midi":
        from kellyd.music.midi_features import extract_midi_file

        return extract_midi_file(path)
    if kind == "audio":
        from kellyd.music.audio_features import extract_audio_file

        return extract_audio_file(path, sr_hz=sr_hz, max_duration_s=max_audio_s)
    raise InvalidInput(f"no feature extractor for kind {kind!r}")


class Features:
    name: ClassVar[str] = "features"
    version: ClassVar[int] = FEATURE_SCHEMA_VERSION

    def __init__(self, ctx: DatasetContext, *, sr_hz: int = 16000) -> None:
        self.ctx = ctx
        self.sr_hz = sr_hz

    def __call__(self, sample: Sample) -> Sample:
        extracted = extract(self.ctx.path_of(sample), sample.kind, sr_hz=self.sr_hz,
                            max_audio_s=self.ctx.limits.max_audio_analysis_s)
        return self.written(sample, extracted)

    def written(self, sample: Sample, extracted: Extracted) -> Sample:
        """Write `extracted` as the sample's features files; the sample with its features and detected labels.

        Also used by the augment step for the children it has just rendered (one parse of their bytes).
        """
        check_finite(extracted)
        json_rel = sample_file(FEATURES_DIR, sample.sample_id, f"{sample.sample_id}.json")
        npz_rel = sample_file(FEATURES_DIR, sample.sample_id, f"{sample.sample_id}.npz")
        atomic_write_bytes(self.ctx.root / npz_rel, npz_bytes(extracted.arrays))
        # Compact: the indented form goes through json's pure-Python encoder, several times slower.
        atomic_write_json(self.ctx.root / json_rel, indent=None, value={
            "schema_version": FEATURE_SCHEMA_VERSION,
            "sample_id": sample.sample_id,
            "kind": sample.kind,
            "scalars": dict(extracted.scalars),
            "labels": dict(extracted.labels),
            "flags": list(extracted.flags),
            "arrays": {k: list(np.shape(v)) for k, v in extracted.arrays.items()},
        })
        return sample.with_changes(features_path=str(json_rel),
                                   annotations=merge_detected(sample.annotations, extracted.labels, extracted.flags))


def npz_bytes(arrays) -> bytes:
    """A compressed `.npz` (what `np.load` reads) of `{name: array}`, at zlib level 1: about the size
    of `np.savez_compressed`'s level 6 for these small arrays, in half the time."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for name, value in arrays.items():
            with archive.open(f"{name}.npy", "w") as member:
                np.lib.format.write_array(member, np.asarray(value), allow_pickle=False)
    return buffer.getvalue()


def merge_detected(annotations, detected, flags=()) -> dict[str, Any]:
    """Pure: fill annotations with detected labels where not given; remember which were detected."""
    previously = set(annotations.get("detected", ()))
    merged = {k: v for k, v in annotations.items() if k not in previously}
    filled = []
    for key, value in detected.items():
        if value is not None and key not in merged:
            merged[key] = value
            filled.append(key)
    merged["detected"] = sorted(filled)
    if flags:
        merged["flags"] = sorted(set(flags))
    return merged
