"""The `features` step: run the MIDI or audio extractor and write its output.

Writes `processed/features/<sample_id>.json` (schema version, scalars, labels
found, flags) and `.npz` (arrays), both atomically. Labels the music tells
(key, tempo...) fill annotations the folders and sidecar did not set; the keys
filled this way are listed in `annotations["detected"]` so that a recompute
(after a version bump) may replace them while given labels stay.
"""

from __future__ import annotations

import io
import math
from pathlib import PurePosixPath
from typing import Any, ClassVar

import numpy as np

from kellyd.handlers.base import DatasetContext
from kellyd.atomic import atomic_write_bytes, atomic_write_json
from kellyd.errors import InvalidInput
from kellyd.music.extracted import Extracted
from kellyd.sample import Sample

FEATURE_SCHEMA_VERSION = 1
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
        check_finite(extracted)
        json_rel = FEATURES_DIR / f"{sample.sample_id}.json"
        npz_rel = FEATURES_DIR / f"{sample.sample_id}.npz"
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **{k: np.asarray(v) for k, v in extracted.arrays.items()})
        atomic_write_bytes(self.ctx.root / npz_rel, buffer.getvalue())
        atomic_write_json(self.ctx.root / json_rel, {
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
