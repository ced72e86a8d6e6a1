"""Validation speed on a synthetic 50,000-sample dataset.

Writes a dataset folder of small but real files (MIDI files of a few notes,
features JSON + npz, manifest, split files), then times:
- the split assignment of every sample, and an incremental `assign_new` of 10 samples;
- a full validation (`verify_hashes=True`: every file hashed and parsed), which also
  records the stamps;
- a cheap validation with those stamps (what the scheduled job runs), sequential and
  with a thread pool.

Usage: python bench/bench_validate.py [--samples 50000] [--workers 2] [--keep DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import struct
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from kellyd.sample import Sample, sample_id_for
from kellyd.splits import SplitSettings, assign_new, assign_splits, split_counts, write_split_files
from kellyd.validate import validate_dataset

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.daemon.midi_files import var_len  # noqa: E402  (one MIDI varint writer for tests and benches)

SCHEMA_VERSION = 1
EMOTIONS = ("happy", "sad", "angry", "fear", "surprise", "disgust")
KEYS = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")


def tiny_midi(index: int) -> bytes:
    """A format-0 MIDI file of 8 notes whose pitches, velocities and timing follow `index`; its track
    name holds `index`, so every file has its own content hash."""
    name = f"take {index}".encode()
    events = bytearray(b"\x00\xff\x03" + var_len(len(name)) + name)
    events += b"\x00\xff\x51\x03" + (500_000 + index % 1000).to_bytes(3, "big")
    for k in range(8):
        pitch = 36 + (index * 7 + k * 5) % 48
        velocity = 40 + (index + k * 11) % 80
        events += b"\x00" + bytes([0x90, pitch, velocity])
        events += var_len(120 + (index + k) % 240) + bytes([0x80, pitch, 0])
    events += b"\x00\xff\x2f\x00"
    return b"MThd" + struct.pack(">IHHH", 6, 0, 1, 480) + b"MTrk" + struct.pack(">I", len(events)) + bytes(events)


def build(root: Path, n: int) -> list[Sample]:
    rng = np.random.default_rng(0)
    for folder in ("raw/midi", "processed/features", "annotations", "splits", "reports"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    (root / "config.json").write_text(json.dumps({"dataset_id": "bench", "target_model": "EmotionRecognizer"}))
    samples = []
    for i in range(n):
        emotion = EMOTIONS[i % len(EMOTIONS)]
        data = tiny_midi(i)
        sha = hashlib.sha256(data).hexdigest()
        sid = sample_id_for(sha)
        rel = f"raw/midi/{emotion}/take_{i:06d}.mid"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
        scalars = {"note_density_per_s": float(rng.uniform(1, 12)), "velocity_mean": float(rng.uniform(30, 110)),
                   "pitch_mean": float(rng.uniform(40, 80)), "tempo_bpm": float(rng.uniform(60, 180)),
                   "pitch_class_histogram": rng.dirichlet(np.ones(12)).round(4).tolist()}
        # The layout kellyd.handlers.features writes.
        features = {"schema_version": SCHEMA_VERSION, "sample_id": sid, "kind": "midi", "scalars": scalars,
                    "labels": {}, "flags": [], "arrays": {"velocity_curve": [32]}}
        feature_rel = f"processed/features/{sid}.json"
        (root / feature_rel).write_text(json.dumps(features))
        np.savez(root / f"processed/features/{sid}.npz", velocity_curve=rng.uniform(0, 1, 32).astype(np.float32))
        base = {"happy": (0.8, 0.6), "sad": (-0.7, 0.25), "angry": (-0.6, 0.85), "fear": (-0.7, 0.7),
                "surprise": (0.2, 0.8), "disgust": (-0.6, 0.45)}[emotion]
        samples.append(Sample(dataset_id="bench", origin_path=rel, sample_id=sid, sha256=sha, kind="midi",
                              file_path=rel, features_path=feature_rel,
                              annotations={"emotion": emotion, "base_emotion": emotion, "valence": base[0],
                                           "arousal": base[1], "key": KEYS[i % 12],
                                           "mode": "major" if i % 3 else "minor",
                                           "tempo_bpm": float(60 + i % 120)}))
    return samples


def timed(label: str, fn, results: list[tuple[str, float]]):
    started = time.perf_counter()
    value = fn()
    results.append((label, time.perf_counter() - started))
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=50_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--keep", type=Path, default=None, help="build the dataset here and keep it")
    args = parser.parse_args()

    root = args.keep or Path(tempfile.mkdtemp(prefix="kellyd-bench-validate-")) / "ds"
    root.mkdir(parents=True, exist_ok=True)
    try:
        started = time.perf_counter()
        samples = build(root, args.samples)
        print(f"built {len(samples):,} samples in {time.perf_counter() - started:.1f} s at {root}")
        results: list[tuple[str, float]] = []
        settings = SplitSettings(label_key="emotion", seed="bench")
        splits = timed(f"assign_splits ({len(samples):,} samples)", lambda: assign_splits(samples, {}, settings),
                       results)
        samples = [s.with_changes(split=splits[s.sample_id]) for s in samples]
        write_split_files(root, splits)
        (root / "manifest.json").write_text(json.dumps({"dataset_id": "bench", "samples": [
            {"sample_id": s.sample_id, "sha256": s.sha256, "split": s.split, "file_path": s.file_path}
            for s in samples]}))
        counts = split_counts(samples, splits, "emotion")
        newcomers = [s.with_changes(sample_id=f"new{i:013d}", split=None) for i, s in enumerate(samples[:10])]
        timed("assign_new (10 new samples)", lambda: assign_new(
            newcomers, counts=counts, group_split=lambda k: None, parent_split=lambda k: None, settings=settings),
            results)

        def run(**kwargs):
            return validate_dataset(samples, root, target_model="EmotionRecognizer", schema_version=SCHEMA_VERSION,
                                    now=datetime.now(timezone.utc), split_settings=settings,
                                    storage_budget_bytes=10**11, **kwargs)

        full = timed(f"validate full, {args.workers} threads", lambda: run(verify_hashes=True, workers=args.workers),
                     results)
        cheap = timed("validate cheap, 1 thread", lambda: run(recorded_stamps=full.stamps), results)
        timed(f"validate cheap, {args.workers} threads",
              lambda: run(recorded_stamps=full.stamps, workers=args.workers), results)
        print(f"full: verdict {full.verdict}, {full.files_hashed:,} files hashed; cheap: "
              f"{cheap.files_hashed:,} hashed, {cheap.files_trusted:,} trusted; reasons: "
              f"{sorted(cheap.reason_names())}")
        print("\n| step | seconds |\n|---|---|")
        for label, seconds in results:
            print(f"| {label} | {seconds:.4f} |")
    finally:
        if args.keep is None:
            shutil.rmtree(root.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
