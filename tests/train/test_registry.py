"""The registry's one schema, checked on read and write; a kill mid-training changes nothing."""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys

import pytest
import tomli_w

from kellyd.train.command import remove_leftovers
from kellyd.train.registry import (
    REGISTRY_SCHEMA,
    RegistryError,
    check_registry,
    empty_registry,
    read_registry,
    schema_problems,
    write_registry,
)
from tests.daemon.harness import REPO_ROOT, wait_for
from tests.train.conftest import DATASET, TRAINING_TABLE, copy_tree


def test_the_trained_registry_conforms_to_its_schema(trained):
    document = json.loads(trained.registry.read_text())
    assert schema_problems(document, REGISTRY_SCHEMA) == []
    check_registry(document)


@pytest.mark.parametrize("damage, where", [
    (lambda d, e: e.pop("best_epoch"), "missing 'best_epoch'"),
    (lambda d, e: e.update(version="1"), "does not match"),
    (lambda d, e: e["files"]["checkpoint"].update(sha256="zz"), "sha256"),
    (lambda d, e: e["gate"].update(decision="maybe"), "is not one of"),
    (lambda d, e: e["metrics"]["test"]["x"].update(value="high") if "x" in e["metrics"]["test"]
     else e["metrics"]["test"].update(x={"name": "x", "value": "high", "baseline": 0, "better": "higher",
                                        "unit": "", "count": 1}), "expected number"),
    (lambda d, e: e.update(colour="red"), "unexpected key 'colour'"),
    (lambda d, e: d["models"]["GroovePredictor"].update(current="v0009"), "not a promoted version"),
])
def test_a_damaged_registry_is_refused_on_write_naming_the_place(trained, tmp_path, damage, where):
    document = copy.deepcopy(json.loads(trained.registry.read_text()))
    damage(document, document["models"]["GroovePredictor"]["versions"][0])
    target = tmp_path / "registry.json"
    with pytest.raises(RegistryError, match=where):
        write_registry(target, document)
    assert not target.exists()
    target.write_text(json.dumps(document))
    with pytest.raises(RegistryError):
        read_registry(target)


def test_an_absent_registry_reads_as_empty(tmp_path):
    assert read_registry(tmp_path / "none.json") == empty_registry()


def test_a_kill_during_training_leaves_registry_and_current_model_untouched(trained, tmp_path):
    built = copy_tree(trained.built, tmp_path / "t")
    models = built.tree_root / "models"
    config = built.tree_root / "training.toml"
    slow = {**TRAINING_TABLE, "GroovePredictor": {**TRAINING_TABLE["GroovePredictor"], "max_epochs": 500,
                                                  "patience": 500}}
    config.write_text(tomli_w.dumps({"training": slow}))
    def files() -> dict:  # every file but the lock's holder note and temporary files
        return {p.relative_to(models): p.read_bytes() for p in models.rglob("*")
                if p.is_file() and p.name != "kellyd.lock" and not p.name.startswith(".")}

    before = files()
    log = tmp_path / "train.log"
    with open(log, "w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "kellyd.train", "--datasets-dir", str(built.datasets),
                                 "--dataset", DATASET, "--training-config", str(config)],
                                stdout=subprocess.DEVNULL, stderr=err, cwd=REPO_ROOT, start_new_session=True)
        try:
            # The progress line reads "GroovePredictor: epoch 3/500 train loss ..." (kellyd.progress).
            wait_for(lambda: "epoch 3/" in log.read_text() or proc.poll() is not None, 120, "epoch 3")
            assert proc.poll() is None, log.read_text()
            os.killpg(proc.pid, signal.SIGKILL)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert files() == before
    assert {p.name for p in (models / "GroovePredictor").iterdir() if p.is_dir()} == {"v0001"}
    # What a killed run may leave (a half-written version folder) goes at the next run, under the lock.
    leftover = models / "GroovePredictor" / ".v0002.abc.tmp"
    leftover.mkdir()
    (models / "GroovePredictor" / "v0002").mkdir()
    removed = remove_leftovers(models, read_registry(models / "registry.json"))
    assert sorted(p.name for p in removed) == [".v0002.abc.tmp", "v0002"]
