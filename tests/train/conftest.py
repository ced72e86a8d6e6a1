"""A real groove dataset built once per session with `kellyd import`, and models trained on it once.

The Groove MIDI Dataset's drum performances are dropped into folders named by what
the tests train: `<emotion>/<groove type>/file.mid`. Groove types follow the corpus'
own style labels (jazz, jazz/swing and neworleans/secondline are swung; rock and
funk straight). The corpus has no emotion labels, so each style family stands for
one emotion folder (jazz -> calm, rock -> energetic, funk -> happy): a real label the
model can only learn from how the drums are played (a style is not one feature's
value; the training guard would refuse a label a single feature column gives away).
"""

from __future__ import annotations

import csv
import json
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pytest

from kellyd.splits import write_split_files
from tests.daemon.harness import make_tree, run_cli

STYLE_FOLDERS = {
    "jazz": "calm/swing", "jazz/swing": "calm/swing", "neworleans/secondline": "calm/swing",
    "rock": "energetic/straight", "funk": "happy/straight",
}
# 36 per folder takes every 4/4 swing beat the corpus has (108 files, 107 samples: two rock
# files are the same bytes), so that the test split holds fifteen pieces: with 20 per folder
# it held five to ten, and one piece more or less right moved the groove-type accuracy by
# ten points from one seed to the next.
FILES_PER_FOLDER = 36
DATASET = "grooves"
# Short training for 2 shared cores: fewer epochs than the defaults, one thread.
TRAINING_TABLE = {
    "seed": 7, "device": "cpu", "threads": 1,
    "GroovePredictor": {"max_epochs": 50, "patience": 12, "warmup_epochs": 2},
    "EmotionRecognizer": {"max_epochs": 40, "patience": 10, "warmup_epochs": 2, "max_examples_per_sample": 8},
}
NOW = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)


def groove_files(corpus: Path) -> list[tuple[Path, str]]:
    """(file, drop folder) for the first FILES_PER_FOLDER 4/4 beats of each folder, in corpus order."""
    root = corpus / "groove_midi"
    rows = list(csv.DictReader((root / "info.csv").open(encoding="utf-8")))
    rows.sort(key=lambda r: (r["drummer"], int(r["id"].rsplit("/", 1)[-1])))
    chosen: dict[str, list[Path]] = {}
    for row in rows:
        folder = STYLE_FOLDERS.get(row["style"])
        if folder and row["beat_type"] == "beat" and row["time_signature"] == "4-4":
            picked = chosen.setdefault(folder, [])
            if len(picked) < FILES_PER_FOLDER:
                picked.append(root / row["midi_filename"])
    return [(path, folder) for folder, paths in chosen.items() for path in paths]


def write_splits_from_manifest(root: Path) -> None:
    """What `kellyd splits` does: the split files from the manifest's assignments."""
    manifest = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
    write_split_files(root, {s["sample_id"]: s["split"] for s in manifest["samples"]})



@dataclass(frozen=True)
class Built:
    tree_root: Path

    @property
    def datasets(self) -> Path:
        return self.tree_root / "datasets"

    @property
    def root(self) -> Path:
        return self.datasets / DATASET


@pytest.fixture(scope="session")
def groove_dataset(tmp_path_factory, corpus) -> Built:
    base = tmp_path_factory.mktemp("groove")
    tree = make_tree(base / "tree", datasets={DATASET: {"target_model": "GroovePredictor",
                                                        "chain": ["import", "annotate", "features"]}})
    source = base / "drop"
    for path, folder in groove_files(corpus):
        target = source / folder / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    proc = run_cli(tree, "import", str(source), "--dataset", DATASET, "--quiet", timeout_s=300)
    assert proc.returncode == 0, proc.stderr  # the import places the batch in splits at once: reproducible
    return Built(tree.root)


def copy_tree(built: Built, target: Path) -> Built:
    shutil.copytree(built.tree_root, target, ignore=shutil.ignore_patterns("state"))
    return Built(target)


@dataclass(frozen=True)
class Trained:
    built: Built
    models_dir: Path
    registry: Path
    results: dict


@pytest.fixture(scope="session")
def trained(groove_dataset, tmp_path_factory) -> Trained:
    from kellyd.train.command import train
    from kellyd.train.settings import parse_training_section

    built = copy_tree(groove_dataset, tmp_path_factory.mktemp("trained") / "tree")
    settings = parse_training_section(TRAINING_TABLE, base_dir=built.tree_root)
    results = {model: train(built.datasets, DATASET, settings, model=model, now=NOW, log=lambda line: None)
               for model in ("GroovePredictor", "EmotionRecognizer")}
    return Trained(built, settings.models_dir, settings.registry, results)
