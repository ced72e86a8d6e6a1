"""Retraining through the daemon: Groove MIDI files imported by style folders, validated on
schedule, then the scheduled retrain promotes a GroovePredictor; files dropped into the inbox
afterwards set off another retrain, judged by the gate against that champion."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.daemon.harness import DaemonProcess, make_tree, run_cli, wait_for
from tests.train.conftest import FILES_PER_FOLDER, groove_files

pytestmark = pytest.mark.slow

# Files kept back from the import and dropped into the running daemon (one per style folder).
DROPPED_PER_FOLDER = 1


def test_scheduled_retrain_promotes_a_model(tmp_path, corpus):
    datasets = {"grooves": {"target_model": "GroovePredictor", "chain": ["import", "annotate", "features"]}}
    tree = make_tree(tmp_path, datasets=datasets, extra={
        "schedule": {"validate": "3s", "retrain": "4s", "validate_after_samples": 0},
        # Any change retrains (one dropped file of about 100 samples is 1%).
        "training": {"seed": 7, "device": "cpu", "threads": 1, "retrain_min_change": 0.005,
                     # Enough epochs and windows for every head to beat its baselines (the gate judges each
                     # head; the timing head wins by about 2.5 %, with 8 windows a clip it lost by 0.3 %).
                     "GroovePredictor": {"max_epochs": 30, "patience": 8, "warmup_epochs": 1}}})
    files = groove_files(corpus)
    assert len(files) == 3 * FILES_PER_FOLDER
    # The first model is trained on a batch `kellyd import` placed in splits at once, so its split, and
    # with the seed the gate's verdict, is the same on every run. Files dropped into a running daemon are
    # placed as they arrive, so their split (and the narrow timing head's verdict) depends on the order.
    imported, dropped = [], []
    for src, folder in files:
        held_back = sum(1 for _, f in dropped if f == folder) < DROPPED_PER_FOLDER
        (dropped if held_back else imported).append((src, folder))
    source = tmp_path / "drop"
    for src, folder in imported:
        (source / folder).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, source / folder / src.name)  # e.g. calm/swing/<file>: the style's folder
    proc = run_cli(tree, "import", str(source), "--dataset", "grooves", "--quiet", timeout_s=300)
    assert proc.returncode == 0, proc.stderr
    daemon = DaemonProcess(tree)
    try:
        daemon.wait_started()
        registry = tmp_path / "models" / "registry.json"
        model_dir = tmp_path / "models" / "GroovePredictor"
        # The registry is the commit; the current.* copies are refreshed right after it (kellyd.train.command),
        # so wait for both. A retrain takes about 30 s on busy cores.
        wait_for(lambda: registry.exists() and json.loads(registry.read_text())["models"]
                 .get("GroovePredictor", {}).get("current")
                 and all((model_dir / f"current{suffix}").is_file() for suffix in (".rtneural.json", ".pt")),
                 300, "a promoted GroovePredictor", interval_s=0.5)
        groove = json.loads(registry.read_text())["models"]["GroovePredictor"]
        first = groove["current"]
        current = next(v for v in groove["versions"] if v["version"] == first)
        assert current["promoted"] and current["dataset"]["dataset_id"] == "grooves"
        assert current["dataset"]["classes"] == ["straight", "swing"] and current["dataset"]["samples"]["test"] > 0
        assert json.loads((model_dir / "current.rtneural.json").read_text())["layers"]
        wait_for(lambda: json.loads(run_cli(tree, "status", "--json").stdout)["schedule"]
                 .get("retrain", {}).get("last_status") == "ok", 60, "the retrain recorded in status")

        for src, folder in dropped:
            dst = tree.inbox / "grooves" / folder / src.name
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)

        def versions() -> list[dict]:
            return json.loads(registry.read_text())["models"]["GroovePredictor"]["versions"]

        wait_for(lambda: len(versions()) >= 2, 300, "a retrain set off by the dropped files", interval_s=0.5)
        second = versions()[1]
        # Trained on the grown dataset and judged against the first model, the champion of this dataset.
        assert second["dataset"]["dataset_id"] == "grooves"
        assert sum(second["dataset"]["samples"].values()) > sum(current["dataset"]["samples"].values())
        assert second["gate"]["champion_version"] == first
        # Promoted or refused, the current model is always a promoted one with its files in place.
        groove = json.loads(registry.read_text())["models"]["GroovePredictor"]
        now_current = next(v for v in groove["versions"] if v["version"] == groove["current"])
        assert now_current["promoted"] and groove["current"] == (second["version"] if second["promoted"] else first)
        assert (model_dir / "current.pt").is_file()
    finally:
        assert daemon.stop() == 0
