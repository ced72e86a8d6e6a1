"""Attack: a whole dataset folder moved away while a real daemon imports into it, then moved back.

`mv datasets/mix datasets/mix.old` in the middle of a drop used to cost files a quarantine ("internal
error FileNotFoundError"), let the steps in flight lay out a new, partial `datasets/mix`, adopt
`mix.old` as a dataset of its own (rewriting its config.json to that name) and leave a manifest listing
files that were no longer there. Now the dataset's jobs wait, and everything is imported once the
folder is back.
"""

from __future__ import annotations

import json
import os
import sqlite3

import pytest

from tests.daemon.attack_helpers import quarantine_errors
from tests.daemon.harness import DaemonProcess, make_tree, run_cli, wait_for
from tests.daemon.midi_files import write_small_midis

pytestmark = pytest.mark.slow

N_FILES = 60


def events(daemon: DaemonProcess, name: str) -> list[dict]:
    return [e for e in daemon.log_events() if e.get("event") == name]


def samples_in_catalog(tree) -> int:
    db = sqlite3.connect(f"file:{tree.state / 'catalog.sqlite3'}?mode=ro", uri=True, timeout=5)
    try:
        return db.execute("SELECT COUNT(*) FROM samples").fetchone()[0]
    finally:
        db.close()


def test_a_dataset_folder_moved_away_mid_drop_holds_its_jobs_until_it_is_back(tmp_path):
    tree = make_tree(tmp_path / "tree", settle_s=0.3, datasets={
        "mix": {"target_model": "EmotionRecognizer", "chain": ["import", "annotate", "features"]}})
    ready = tmp_path / "ready"
    write_small_midis(ready / "happy", N_FILES)
    daemon = DaemonProcess(tree)
    daemon.wait_started()
    try:
        os.rename(ready, tree.inbox / "mix" / "drop")
        wait_for(lambda: samples_in_catalog(tree) >= 1, 30, "the first samples committed")
        folder, aside = tree.datasets / "mix", tree.datasets / "mix.old"
        os.rename(folder, aside)
        wait_for(lambda: events(daemon, "dataset_folder_away"), 10, "the move noticed")
        wait_for(lambda: events(daemon, "dataset_refused"), 10, "the moved folder looked at as a new dataset")
        held = samples_in_catalog(tree)

        status = json.loads(run_cli(tree, "status", "--json").stdout)
        assert "is gone (moved or removed) while kellyd ran" in status["work"]["datasets_away"]["mix"]
        assert "WAITING: dataset mix: the dataset folder" in run_cli(tree, "status").stdout
        assert not folder.exists(), "no step or export laid out a new, partial dataset folder"
        assert samples_in_catalog(tree) == held, "nothing was committed for a dataset whose folder is gone"
        assert quarantine_errors(tree) == []
        assert not (tree.inbox / "mix.old").exists(), "the moved folder is not served as a dataset"
        assert "a moved or copied folder of that dataset" in events(daemon, "dataset_refused")[0]["reason"]

        os.rename(aside, folder)
        wait_for(lambda: len([s for s in tree.manifest_samples("mix") if not s.get("parent_id")]) == N_FILES, 60,
                 "every file imported once the folder is back")
        assert events(daemon, "dataset_folder_back")
        samples = tree.manifest_samples("mix")
        assert all((folder / s["file_path"]).is_file() and (folder / s["features_path"]).is_file() for s in samples)
        assert quarantine_errors(tree) == []
        assert json.loads((folder / "config.json").read_text())["dataset_id"] == "mix"
        assert not list((tree.inbox / "mix").rglob("*.mid")), "every file taken from the inbox"
        assert "datasets_away" not in run_cli(tree, "status").stdout and "WAITING" not in run_cli(tree, "status").stdout
        assert len(events(daemon, "dataset_folder_away")) == 1
    finally:
        assert daemon.stop() == 0


def test_validate_of_a_dataset_whose_folder_was_moved_says_so_and_lays_nothing_out(tmp_path):
    tree = make_tree(tmp_path / "tree")
    source = tmp_path / "source"
    write_small_midis(source / "happy", 3)
    assert run_cli(tree, "import", str(source), "--dataset", "mix").returncode == 0
    os.rename(tree.datasets / "mix", tree.datasets / "mix.old")
    proc = run_cli(tree, "validate", "--dataset", "mix")
    assert proc.returncode == 1
    assert proc.stderr.strip() == (f"kellyd: the dataset folder is not there (moved or removed?): "
                                   f"{tree.datasets / 'mix'}; move it back (a daemon start lays out a missing one anew)")
    assert not (tree.datasets / "mix").exists()
