"""Builders for dataset folders the validation tests check: real files, real hashes, features on disk."""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from kellyd.music.midi_io import read_score, write_score
from kellyd.music.notes import Notes, Score, Track
from kellyd.sample import Sample, sample_id_for
from kellyd.splits import SplitSettings, assign_splits, write_split_files

SCHEMA_VERSION = 3
DATASET_ID = "groove_dataset_v1"
# Swing feels of the Groove MIDI Dataset (its README), read as groove types.
SWING_STYLES = {"jazz", "jazz/swing", "neworleans/secondline"}
SHUFFLE_STYLES = {"blues/shuffle", "rock/shuffle", "neworleans/shuffle", "funk/purdieshuffle"}


@dataclass(frozen=True)
class GrooveFile:
    """One row of the Groove MIDI Dataset's info.csv."""

    drummer: str
    session: str
    midi_filename: str
    style: str
    bpm: int
    beat_type: str
    time_signature: str

    @property
    def groove_type(self) -> str:
        if self.style in SWING_STYLES:
            return "swing"
        if self.style in SHUFFLE_STYLES:
            return "shuffle"
        return "straight"

    @property
    def dataset_name(self) -> str:
        """drummer1_session2_12_funk_95_beat_4-4.mid: drummer and session kept in the file name."""
        session = self.session.split("/")[-1]
        return f"{self.drummer}_{session}_{Path(self.midi_filename).name}"


def groove_rows(corpus: Path) -> list[GrooveFile]:
    with open(corpus / "groove_midi" / "info.csv", newline="") as f:
        return [GrooveFile(r["drummer"], r["session"], r["midi_filename"], r["style"], int(r["bpm"]),
                           r["beat_type"], r["time_signature"]) for r in csv.DictReader(f)]


def pick_groove_files(corpus: Path, per_type: Mapping[str, int],
                      exclude: Sequence[GrooveFile] = ()) -> list[GrooveFile]:
    """A deterministic pick: per groove type, the first n files in file-name-hash order, skipping `exclude`."""
    taken = {r.midi_filename for r in exclude}
    rows = sorted((r for r in groove_rows(corpus) if r.midi_filename not in taken),
                  key=lambda r: hashlib.sha256(r.midi_filename.encode()).hexdigest())
    picked = []
    for groove_type, n in per_type.items():
        of_type = [r for r in rows if r.groove_type == groove_type]
        if len(of_type) < n:
            raise ValueError(f"only {len(of_type)} {groove_type} files left, {n} asked")
        picked.extend(of_type[:n])
    return picked


def own_midi_features(path: Path) -> dict[str, Any]:
    """Plain note statistics of a MIDI file (used when the features module is not there)."""
    score = read_score(path)
    notes = Notes.concat([t.notes for t in score.tracks])
    duration_s = max(score.duration_s, 1e-3)
    ioi_s = np.diff(np.unique(notes.start_s)) if len(notes) > 1 else np.zeros(1)
    return {
        "note_count": len(notes),
        "duration_s": round(float(score.duration_s), 6),
        "notes_per_s": float(len(notes) / duration_s),
        "velocity_mean": float(notes.velocity.mean()) if len(notes) else 0.0,
        "velocity_std": float(notes.velocity.std()) if len(notes) else 0.0,
        "pitch_mean": float(notes.pitch.mean()) if len(notes) else 0.0,
        "ioi_median_s": float(np.median(ioi_s)) if len(ioi_s) else 0.0,
        "tempo_bpm_map": float(score.tempo.bpm[0]),
        "velocity_curve": [float(v) for v in np.interp(np.linspace(0, len(notes) - 1, 8), np.arange(len(notes)),
                                                       notes.velocity)] if len(notes) else [0.0] * 8,
    }


def midi_features(path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Features of a MIDI file: the project's extractor when it exists, else `own_midi_features`."""
    try:
        from kellyd.music.midi_features import extract_midi_file
    except ImportError:
        scalars = own_midi_features(path)
        score = read_score(path)
        notes = Notes.concat([t.notes for t in score.tracks])
        return scalars, {"start_s": notes.start_s, "pitch": notes.pitch.astype(np.int16)}
    extracted = extract_midi_file(path)
    return dict(extracted.scalars), {k: np.asarray(v) for k, v in extracted.arrays.items()}


@dataclass
class Entry:
    """A file to put in a dataset: where it comes from, where it goes, its labels."""

    source: Path
    rel_path: str
    annotations: dict[str, Any] = field(default_factory=dict)
    parent_rel_path: str | None = None


def augmented_copy(parent: Path, child: Path, velocity_scale: float) -> None:
    """A real augmented child: the parent's notes with velocities scaled (so different content)."""
    score = read_score(parent)
    tracks = tuple(
        Track(t.name, t.program, t.is_drum,
              Notes(t.notes.start_s, t.notes.end_s, t.notes.pitch,
                    np.clip(np.round(t.notes.velocity * velocity_scale), 1, 127).astype(np.int16)))
        for t in score.tracks)
    child.parent.mkdir(parents=True, exist_ok=True)
    write_score(Score(tracks, score.tempo, score.time_signatures, score.duration_s, score.ticks_per_quarter), child)


def write_features(root: Path, sample_id: str, scalars: Mapping[str, Any], arrays: Mapping[str, np.ndarray],
                   schema_version: int = SCHEMA_VERSION) -> str:
    """Features in the layout `kellyd.handlers.features` writes (scalars nested, labels and shapes beside)."""
    rel = f"processed/features/{sample_id}.json"
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"schema_version": schema_version, "sample_id": sample_id, "kind": "midi",
                                "scalars": dict(scalars), "labels": {}, "flags": [],
                                "arrays": {k: list(np.shape(v)) for k, v in arrays.items()}}))
    np.savez(path.with_suffix(".npz"), **arrays)
    return rel


def write_manifest(root: Path, samples: Sequence[Sample]) -> None:
    entries = [{"sample_id": s.sample_id, "file_path": s.file_path, "sha256": s.sha256, "split": s.split,
                "parent_id": s.parent_id, "features_path": s.features_path,
                "annotations": dict(s.annotations)} for s in samples]
    (root / "manifest.json").write_text(json.dumps({"dataset_id": DATASET_ID, "samples": entries}))


def build_dataset(root: Path, entries: Sequence[Entry], *, settings: SplitSettings,
                  existing: Sequence[Sample] = (),
                  features: Callable[[Path], tuple[dict[str, Any], dict[str, np.ndarray]]] = midi_features
                  ) -> list[Sample]:
    """Copy the entries into `root`, hash them, write features, split (keeping `existing`), write
    split files, manifest and config. Returns every sample, with its split."""
    for folder in ("raw", "processed/features", "annotations", "splits", "reports"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    (root / "config.json").write_text(json.dumps({"dataset_id": DATASET_ID, "target_model": "GroovePredictor"}))
    by_rel = {s.file_path: s for s in existing}
    new: list[Sample] = []
    for entry in entries:
        dest = root / entry.rel_path
        if entry.source != dest:
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(entry.source, dest)
        sha = hashlib.sha256(dest.read_bytes()).hexdigest()
        sample_id = sample_id_for(sha)
        scalars, arrays = features(dest)
        parent = by_rel[entry.parent_rel_path].sample_id if entry.parent_rel_path else None
        sample = Sample(dataset_id=DATASET_ID, origin_path=str(entry.source), sample_id=sample_id, sha256=sha,
                        kind="midi" if dest.suffix in (".mid", ".midi") else "audio", file_path=entry.rel_path,
                        annotations=dict(entry.annotations),
                        features_path=write_features(root, sample_id, scalars, arrays), parent_id=parent)
        by_rel[entry.rel_path] = sample
        new.append(sample)
    everything = [*existing, *new]
    assignments = assign_splits(everything, {s.sample_id: s.split for s in existing if s.split}, settings)
    placed = [s.with_changes(split=assignments[s.sample_id]) for s in everything]
    write_split_files(root, assignments)
    write_manifest(root, placed)
    return placed


def groove_entries(corpus: Path, rows: Sequence[GrooveFile]) -> list[Entry]:
    return [
        Entry(corpus / "groove_midi" / r.midi_filename,
              f"raw/midi/{r.groove_type}/{r.dataset_name}",
              {"groove_type": r.groove_type, "style": r.style, "tempo_bpm": float(r.bpm),
               "time_signature": r.time_signature.replace("-", "/"), "drummer": r.drummer,
               "instrument": "drums"})
        for r in rows
    ]


SMALL_MIX = {"straight": 14, "swing": 8, "shuffle": 8}
GROOVE_SETTINGS = SplitSettings(label_key="groove_type")


def rewrite_catalog(root: Path, samples: Sequence[Sample]) -> list[Sample]:
    """Write split files and manifest for `samples` as they are (used to stage broken datasets)."""
    write_split_files(root, {s.sample_id: s.split for s in samples if s.split})
    write_manifest(root, samples)
    return list(samples)
