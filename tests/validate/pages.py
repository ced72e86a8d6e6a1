"""What the page tests render: a large generated dataset, a stalled catalog, training runs, and a
reader of the page text Chromium gives back (`--dump-dom`)."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from kellyd.catalog import Catalog, QuarantineEntry
from kellyd.deaths import WorkerDeath, judge_death
from kellyd.inflight import RunningStep, record_death, runner_started, sync_running
from kellyd.sample import Sample
from kellyd.splits import write_split_files
from kellyd.validate.report import FileStamp

from .builders import DATASET_ID, midi_features, write_features

# Originals per groove type: five orders of magnitude between the largest and smallest class.
LARGE_MIX = {"straight": 1_500, "swing": 300, "shuffle": 60, "laid_back": 12, "rushed": 3}
# Per class: (train, val, test) shares. Swing piles into val and nearly misses test: a real imbalance.
LARGE_SPLIT_SHARES = {"swing": (0.62, 0.35, 0.03)}
DEFAULT_SHARES = (0.70, 0.15, 0.15)
LONG_FOLDER = "a-very-long-folder-name-for-a-studio-session-recorded-over-several-days"
FREESOUND_NO_KEY = "Freesound: no API key"


class PageText(HTMLParser):
    """Text of the elements with an id, and the cells of table rows, from a DOM dump."""

    def __init__(self, dom: str) -> None:
        super().__init__()
        self.by_id: dict[str, list[str]] = {}
        self.open_ids: list[tuple[str, int]] = []
        self.depth = 0
        self.rows: list[tuple[dict[str, str], list[str]]] = []
        self._row: tuple[dict[str, str], list[str]] | None = None
        self._cell: list[str] | None = None
        self.titles: list[tuple[str, str]] = []  # (title attribute, text) of shortened paths
        self._path_title: str | None = None
        self._path_text: list[str] = []
        self.feed(dom)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag in ("br", "meta", "link", "img", "input", "hr"):
            return
        self.depth += 1
        if "id" in a:
            self.open_ids.append((a["id"], self.depth))
            self.by_id.setdefault(a["id"], [])
        if tag == "tr":
            self._row = (a, [])
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []
        if tag == "span" and "path" in a.get("class", ""):
            self._path_title, self._path_text = a.get("title", ""), []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._row is not None and self._cell is not None:
            self._row[1].append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.rows.append(self._row)
            self._row = None
        if tag == "span" and self._path_title is not None:
            self.titles.append((self._path_title, "".join(self._path_text)))
            self._path_title = None
        while self.open_ids and self.open_ids[-1][1] >= self.depth:
            self.open_ids.pop()
        self.depth -= 1

    def handle_data(self, data: str) -> None:
        for element_id, _ in self.open_ids:
            self.by_id[element_id].append(data)
        if self._cell is not None:
            self._cell.append(data)
        if self._path_title is not None:
            self._path_text.append(data)

    def text(self, element_id: str) -> str:
        return " ".join("".join(self.by_id.get(element_id, [])).split())

    def rows_with(self, attribute: str) -> dict[str, list[str]]:
        return {a[attribute]: cells for a, cells in self.rows if attribute in a}


def large_groove_dataset(root: Path, source_files: list[Path]) -> tuple[list[Sample], dict[str, FileStamp]]:
    """About 1,900 originals and 850 augmented children as catalog rows over a handful of real files.

    Every sample has its own content hash; the files behind them are `source_files`, shared, with
    stamps that let a cheap validation trust them (as a daemon's earlier run would have recorded).
    Returns (samples, stamps)."""
    for folder in ("raw/midi", "processed/features", "annotations", "splits", "reports"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    (root / "config.json").write_text(json.dumps({"dataset_id": DATASET_ID, "target_model": "GroovePredictor"}))
    shared = []
    for i, source in enumerate(source_files):
        rel = f"raw/midi/shared/{i:02d}-{source.name}"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(source.read_bytes())
        scalars, arrays = midi_features(root / rel)
        # The numbers only (no per-segment lists): thousands of samples read these files.
        scalars = {k: v for k, v in scalars.items() if isinstance(v, (int, float))}
        shared.append((rel, write_features(root, f"shared{i:02d}", scalars, arrays), scalars))
    samples: list[Sample] = []
    stamps: dict[str, FileStamp] = {}
    n = 0
    for label, count in LARGE_MIX.items():
        train_share, val_share, _ = LARGE_SPLIT_SHARES.get(label, DEFAULT_SHARES)
        for i in range(count):
            rel, shared_features, scalars = shared[n % len(shared)]
            n += 1
            sha = hashlib.sha256(f"{label}-{i}".encode()).hexdigest()
            split = "train" if i < train_share * count else "val" if i < (train_share + val_share) * count else "test"
            # Each original its own features (a performance of its own: the numbers move a little),
            # beside the shared arrays.
            features_rel = f"processed/features/{sha[:16]}.json"
            document = json.loads((root / shared_features).read_text())
            document["scalars"] = {k: v * (1 + 1e-4 * n) if isinstance(v, float) else v
                                   for k, v in document["scalars"].items()}
            (root / features_rel).write_text(json.dumps(document))
            os.link(root / Path(shared_features).with_suffix(".npz"), root / Path(features_rel).with_suffix(".npz"))
            name = f"{label}-{sha[:12]}.mid"
            sample = Sample(dataset_id=DATASET_ID, origin_path=f"inbox/{label}/{name}", sample_id=sha[:16],
                            sha256=sha, kind="midi", file_path=rel, original_names=(name,),
                            features_path=features_rel, split=split,
                            annotations={"groove_type": label, "tempo_bpm": float(scalars["tempo_bpm"])},
                            source={"type": ("inbox", "import", "freesound", "synthetic")[i % 4]})
            samples.append(sample)
            stat = (root / rel).stat()
            stamps[sample.sample_id] = FileStamp(rel, stat.st_size, stat.st_mtime_ns, sha)
            if split == "train" and i % 3 == 0 and label != "rushed":  # children for a third of training
                for k in range(2):
                    child_sha = hashlib.sha256(f"{sha}-{k}".encode()).hexdigest()
                    child = Sample(dataset_id=DATASET_ID, origin_path=sample.origin_path, sample_id=child_sha[:16],
                                   sha256=child_sha, kind="midi", file_path=rel, original_names=(name,),
                                   features_path=features_rel, split="train", parent_id=sample.sample_id,
                                   annotations=dict(sample.annotations),
                                   augmentation={"transform": "velocity", "index": k})
                    samples.append(child)
                    stamps[child.sample_id] = FileStamp(rel, stat.st_size, stat.st_mtime_ns, child_sha)
    write_split_files(root, {s.sample_id: s.split for s in samples})
    entries = [{"sample_id": s.sample_id, "file_path": s.file_path, "sha256": s.sha256, "split": s.split,
                "parent_id": s.parent_id} for s in samples]
    (root / "manifest.json").write_text(json.dumps({"dataset_id": DATASET_ID, "samples": entries}))
    return samples, stamps


def large_quarantine() -> list[tuple[str, str, str, str]]:
    """(path, reason, handler, when): 282 files that are not MIDI, 15 too large, under long folders."""
    items = [(f"inbox/groove_dataset_v1/{LONG_FOLDER}/take-{i:03d}-with-a-long-descriptive-file-name.mid",
              "not a MIDI file: header is b'RIFF'", "import", "2025-03-01T11:00:00Z") for i in range(282)]
    items += [(f"inbox/groove_dataset_v1/big/{i}.mid", f"file is {300 + 7 * i} MB, over max_file_mb = 200",
               "import", "2025-03-01T11:30:00Z") for i in range(15)]
    return items


@dataclass(frozen=True)
class Epoch:
    """What the training report reads of one epoch (as kellyd.train.loop's records carry)."""

    epoch: int
    train_loss: float
    val_loss: float
    val_ratios: tuple[float, ...]
    val_score: float


def stalled_catalog(catalog_path: Path, *, now: float, datasets: dict[str, int], quarantined: int,
                    stuck_file: str) -> None:
    """A catalog as a daemon that stalled leaves it: samples, pending jobs, one step running for
    16 minutes, worker deaths, a quarantine, 6 h of activity, schedule runs. Written through the
    catalog's own functions."""
    catalog = Catalog(catalog_path)
    try:
        with catalog.transaction():
            for dataset_id, count in datasets.items():
                for i in range(count):
                    sha = hashlib.sha256(f"{dataset_id}-{i}".encode()).hexdigest()
                    split = ("train", "train", "train", "train", "train", "train", "train", "val", "test", "test")[i % 10]
                    sample = Sample(dataset_id=dataset_id, origin_path=f"/in/{dataset_id}/{i}.mid",
                                    sample_id=sha[:16], sha256=sha, kind="midi", file_path=f"raw/midi/{i}.mid",
                                    split=split, parent_id=None if i % 4 else f"p{i}")
                    catalog.put_sample(sample, now=now - 7200)
                    if i < 14:
                        catalog.add_job(sample=sample, chain=["features", "augment"])
            first = next(iter(datasets))
            for i in range(quarantined):
                path = f"/in/{first}/{LONG_FOLDER}/broken-{i:03d}.mid"
                catalog.add_quarantine(QuarantineEntry(first, path, f"/q/{i}.mid", "import",
                                                       "not a MIDI file: header is b'RIFF'", now - 3000 + i))
            catalog.add_quarantine(QuarantineEntry(first, f"/in/{first}/huge.wav", "/q/huge.wav", "import",
                                                   "file is 913 MB, over max_file_mb = 200", now - 100))
            for i in range(360):
                at = now - 6 * 3600 + 60 * i
                busy = i < 345
                catalog.record_activity(at=at, processed=(12 + i % 7) if busy else 0, errors=int(i % 40 == 0),
                                        queue=max(11, 120 - i // 3) if busy else 14)
            catalog.record_schedule_run("validate", at=now - 4000, status="ok", detail="", next_run=now + 17600)
        db = sqlite3.connect(catalog_path)
        with db:
            runner_started(db, now=now - 20 * 60)
            sync_running(db, [RunningStep(1, first, stuck_file, "features", 4242, now - 16 * 60)])
            for k in range(3):
                death = WorkerDeath(pid=5000 + k, exitcode=-11, job_id=2)
                verdict = judge_death(death, step="features", audio_step=False, earlier_deaths=k, earlier_timeouts=0,
                                      max_attempts=5, step_timeout_s=600)
                record_death(db, at=now - 900 + 60 * k, death=death, verdict=verdict, dataset_id=first,
                             path=stuck_file, step="features")
        db.close()
    finally:
        catalog.close()


def training_entry(key: str, classes: list[str], matrix: list[list[int]], *, decision: str, reason: str,
                   heads: list[dict[str, Any]], test_metrics: dict[str, tuple[float, float]]) -> dict[str, Any]:
    """A registry entry as `kellyd.train.command` writes it (the fields the report reads)."""
    model, _, variant = key.partition("-")
    metric = {name: {"value": v, "baseline": b, "better": "higher", "unit": "", "count": sum(map(sum, matrix))}
              for name, (v, b) in test_metrics.items()}
    return {
        "version": "v0003", "model": model, "variant": variant or None, "created_at": "2026-05-01T12:00:00Z",
        "promoted": decision == "promoted",
        "gate": {"decision": decision, "reason": reason, "level": "clip", "heads": heads},
        "dataset": {"dataset_id": "ds", "manifest_sha256": "0" * 64, "samples": {"train": 70, "val": 15, "test": 15},
                    "label_key": heads[0]["head"], "classes": classes},
        "hyperparameters": {"learning_rate": 0.001}, "best_epoch": 9, "epochs_run": 14,
        "metrics": {split: metric for split in ("train", "val", "test")},
        "confusion": {heads[0]["head"]: matrix}, "training_time_s": 42.0, "examples_per_s": 1800.0,
        "device": "cpu",
    }
