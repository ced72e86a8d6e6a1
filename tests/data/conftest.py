"""A small real dataset made by the real pipeline (`kellyd import` of drum takes from tests/corpus),
shared by the loader, manifest.parquet and export tests of this folder. Read-only: a test that
changes it works on a copy."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from tests.daemon.harness import Tree, make_tree, run_cli

DATASET = "moods"
CHAIN = ["import", "annotate", "features"]
LABELS = ("happy", "sad")
TAKES = 10


@dataclass(frozen=True)
class Built:
    tree: Tree
    dataset_id: str

    @property
    def root(self) -> Path:
        return self.tree.datasets / self.dataset_id

    def manifest(self) -> dict:
        return json.loads((self.root / "manifest.json").read_text(encoding="utf-8"))

    def entries(self) -> dict[str, dict]:
        return {s["sample_id"]: s for s in self.manifest()["samples"]}

    def npz(self, entry: dict) -> dict[str, np.ndarray]:
        """A sample's arrays, read with numpy alone (not through kellyd.data)."""
        path = self.root / Path(entry["features_path"]).with_suffix(".npz")
        with np.load(path) as archive:
            return {name: archive[name] for name in archive.files}


def drum_takes(corpus: Path, count: int, *, skip: int = 0) -> list[Path]:
    return sorted((corpus / "groove_midi" / "drummer7" / "session1").glob("*.mid"))[skip:skip + count]


def dataset_config() -> dict:
    return {DATASET: {"target_model": "EmotionRecognizer", "chain": CHAIN, "splits": [0.5, 0.25, 0.25]}}


@pytest.fixture(scope="package")
def moods(tmp_path_factory, corpus) -> Built:
    base = tmp_path_factory.mktemp("moods")
    tree = make_tree(base / "tree", datasets=dataset_config())
    for i, take in enumerate(drum_takes(corpus, TAKES)):
        target = base / "drop" / LABELS[i % len(LABELS)] / take.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(take, target)
    proc = run_cli(tree, "import", str(base / "drop"), "--dataset", DATASET, "--quiet", timeout_s=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    built = Built(tree, DATASET)
    samples = built.manifest()["samples"]
    assert len(samples) == TAKES and all(s["features_path"] for s in samples)
    train = [s for s in samples if s["split"] == "train"]
    assert {s["annotations"]["emotion"] for s in train} == set(LABELS), "both classes in the training split"
    return built
