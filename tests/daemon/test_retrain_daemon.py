"""Retraining through the daemon: Groove MIDI files dropped into the inbox by style folders,
validated on schedule, then the scheduled retrain promotes a GroovePredictor."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.daemon.harness import DaemonProcess, make_tree, run_cli, wait_for
from tests.train.conftest import FILES_PER_FOLDER, groove_files

pytestmark = pytest.mark.slow


def test_scheduled_retrain_promotes_a_model(tmp_path, corpus):
    datasets = {"grooves": {"target_model": "GroovePredictor", "chain": ["import", "annotate", "features"]}}
    tree = make_tree(tmp_path, datasets=datasets, extra={
        "schedule": {"validate": "3s", "retrain": "4s", "validate_after_samples": 0},
        # The first retrain may start while the last files are still being imported (it reads what is there):
        # if the gate refuses that model, the rest of the files (a few percent) must still set off another
        # one, so any change retrains (1 of 107 samples is 0.9%); once all are in, nothing changes and it stops.
        "training": {"seed": 7, "device": "cpu", "threads": 1, "retrain_min_change": 0.005,
                     # Enough epochs for every head to beat its baselines (the gate judges each head).
                     "GroovePredictor": {"max_epochs": 20, "patience": 6, "warmup_epochs": 1,
                                         "max_examples_per_sample": 8}}})
    files = groove_files(corpus)
    assert len(files) == 3 * FILES_PER_FOLDER
    daemon = DaemonProcess(tree)
    try:
        daemon.wait_started()
        for src, folder in files:
            dst = tree.inbox / "grooves" / folder / src.name  # e.g. calm/swing/<file>: the style's folder
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
        registry = tmp_path / "models" / "registry.json"
        wait_for(registry.exists, 240, "a model in the registry", interval_s=0.5)
        model_dir = tmp_path / "models" / "GroovePredictor"
        # The registry is the commit; the current.* copies are refreshed right after it (kellyd.train.command),
        # so wait for both. A retrain takes about 30 s, and there may be two (see retrain_min_change):
        # on busy cores that is minutes.
        wait_for(lambda: json.loads(registry.read_text())["models"].get("GroovePredictor", {}).get("current")
                 and all((model_dir / f"current{suffix}").is_file() for suffix in (".rtneural.json", ".pt")),
                 180, "a promoted GroovePredictor")
        groove = json.loads(registry.read_text())["models"]["GroovePredictor"]
        current = next(v for v in groove["versions"] if v["version"] == groove["current"])
        assert current["promoted"] and current["dataset"]["dataset_id"] == "grooves"
        assert current["dataset"]["classes"] == ["straight", "swing"] and current["dataset"]["samples"]["test"] > 0
        assert (model_dir / "current.rtneural.json").is_file() and (model_dir / "current.pt").is_file()
        assert json.loads((model_dir / "current.rtneural.json").read_text())["layers"]
        wait_for(lambda: json.loads(run_cli(tree, "status", "--json").stdout)["schedule"]
                 .get("retrain", {}).get("last_status") == "ok", 60, "the retrain recorded in status")
    finally:
        assert daemon.stop() == 0
