"""Song records for training code: one JSON object per analysed song (`kellyd export --format songs`).

`song_record` is pure: it joins what the steps wrote for one sample (its
manifest entry, its analysis, its features and its notes' MIDI features) into
one record. Paths in a record are relative to `dataset_root`, which the record
also names, so a loader opens `dataset_root / stems["vocals"]` directly.
`song_rows` reads a dataset folder and groups the records by split, in the
shape `kellyd.export_command` writes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

from kellyd.sample import Sample

STEM_OUTPUT_PREFIX = "stem_"
# Bookkeeping keys of the annotations, not labels.
NOT_LABELS = frozenset({"detected", "analyzed", "flags"})


def song_record(sample: Sample, *, dataset_root: str, analysis: Mapping[str, Any],
                features: Mapping[str, Any] | None, notes_features: Mapping[str, Any] | None) -> dict[str, Any]:
    """Pure: the record of one analysed song (see the module docstring)."""
    outputs = sample.outputs
    notes = dict(analysis.get("notes") or {})
    return {
        "sample_id": sample.sample_id,
        "split": sample.split,
        "dataset_root": dataset_root,
        "file_path": sample.file_path,
        "labels": {k: v for k, v in sample.annotations.items() if k not in NOT_LABELS},
        "tags": dict(analysis.get("tags") or {}),
        "source": dict(sample.source),
        "analysis_path": outputs.get("analysis"),
        "analysis": dict(analysis.get("music") or {}),
        "analysed_s": analysis.get("analysed_s"),
        "truncated": analysis.get("truncated"),
        "stems": {k[len(STEM_OUTPUT_PREFIX):]: v for k, v in outputs.items() if k.startswith(STEM_OUTPUT_PREFIX)},
        "stems_backend": (analysis.get("stems") or {}).get("backend"),
        "notes": {"midi_path": outputs.get("notes_midi"), "backend": notes.get("backend"),
                  "count": notes.get("count"), "features_path": outputs.get("notes_features"),
                  "scalars": dict((notes_features or {}).get("scalars") or {})},
        "features": {"path": sample.features_path, "scalars": dict((features or {}).get("scalars") or {}),
                     "arrays_path": sample.features_path[:-len(".json")] + ".npz"
                     if sample.features_path and sample.features_path.endswith(".json") else None},
    }


def _read_json(root: Path, rel: str | None) -> dict[str, Any] | None:
    if not rel:
        return None
    try:
        return json.loads((root / rel).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # a record says what is missing by its empty part; one lost file does not stop an export


def song_rows(root: Path) -> tuple[str, str, dict[str, list[dict[str, Any]]]]:
    """(dataset id, manifest sha256, split -> records) of the analysed songs in the dataset folder `root`."""
    from kellyd.data import read_manifest

    manifest = read_manifest(root)
    by_split: dict[str, list[dict[str, Any]]] = {}
    for sample in manifest.samples:
        analysis = _read_json(root, sample.outputs.get("analysis"))
        if analysis is None:
            continue  # not a song (a MIDI file, a clip) or not analysed yet
        record = song_record(sample, dataset_root=str(Path(root).absolute()), analysis=analysis,
                             features=_read_json(root, sample.features_path),
                             notes_features=_read_json(root, sample.outputs.get("notes_features")))
        by_split.setdefault(sample.split or "unassigned", []).append(record)
    return manifest.dataset_id, manifest.sha256, by_split
