"""Validation, splits and reports through the real daemon on a Groove MIDI dataset."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.daemon.harness import DaemonProcess, make_tree, run_cli, wait_for

pytestmark = pytest.mark.slow

SWING_STYLES = {"jazz": "swing", "blues": "shuffle"}


def drop_groove(corpus, inbox, files):
    for src in files:
        style = src.name.split("_")[1].split("-")[0]
        dst = inbox / SWING_STYLES.get(style, "straight") / style / src.name
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)


def test_daemon_keeps_splits_stable_validates_and_reports(tmp_path, corpus):
    datasets = {"groove": {"target_model": "GroovePredictor", "chain": ["import", "annotate", "features"],
                           "group_by": r"^(?P<group>\d+)_"}}
    tree = make_tree(tmp_path, datasets=datasets,
                     extra={"schedule": {"validate": "1d", "validate_after_samples": 10}})
    files = sorted(corpus.glob("groove_midi/drummer1/**/*.mid"))[:100]
    daemon = DaemonProcess(tree)
    try:
        daemon.wait_started()
        drop_groove(corpus, tree.inbox / "groove", files[:60])
        wait_for(lambda: sum(1 for s in tree.manifest_samples("groove") if s["features_path"]) == 60, 90,
                 "60 samples with features")
        first = {s["sample_id"]: s["split"] for s in tree.manifest_samples("groove")}
        assert set(first.values()) <= {"train", "val", "test"}
        reports = tree.datasets / "groove" / "reports"
        wait_for(lambda: (reports / "latest.json").exists(), 60, "a validation triggered by the new samples")
        # Early validation waits for the end of a burst: the 60 files are one, so no validation ran at 10 or
        # 20 of them (each would have read a dataset still changing) and every report counts all 60.
        counted = [json.loads(p.read_text())["original_count"] for p in reports.glob("validation-*.json")]
        assert counted and set(counted) == {60}, counted
        drop_groove(corpus, tree.inbox / "groove", files[60:])
        wait_for(lambda: sum(1 for s in tree.manifest_samples("groove") if s["features_path"]) == 100, 90,
                 "100 samples with features")
        later = {s["sample_id"]: s["split"] for s in tree.manifest_samples("groove")}
        assert {k: later[k] for k in first} == first, "a split moved after new samples arrived"
        wait_for(lambda: {line for name in ("train", "val", "test")
                          for line in (tree.datasets / "groove" / "splits" / f"{name}.txt").read_text().split()}
                 == set(later), 30, "split files that list every sample")
        for name in ("train", "val", "test"):
            ids = (tree.datasets / "groove" / "splits" / f"{name}.txt").read_text().split()
            assert all(later[i] == name for i in ids)

        proc = run_cli(tree, "validate", "--dataset", "groove", "--full")
        assert proc.returncode == 0, proc.stderr
        latest = json.loads((tree.datasets / "groove" / "reports" / "latest.json").read_text())
        assert latest["verdict"] in ("ready", "usable_with_warnings", "invalid")
        assert not any(r["name"].startswith(("leakage.", "quality.file_missing", "quality.hash_mismatch"))
                       for r in latest["reasons"]), latest["reasons"]
        assert (tree.datasets / "groove" / "reports" / "latest.html").read_text().startswith("<!DOCTYPE html>")
        status = json.loads(run_cli(tree, "status", "--json").stdout)
        assert status["schedule"]["validate"]["last_status"] == "ok"
        assert status["schedule"]["validate"]["next_run"] is not None
        report = run_cli(tree, "report")
        assert report.returncode == 0 and (tree.state / "reports" / "status-latest.html").is_file()
        assert run_cli(tree, "report", "--dataset", "groove").returncode == 0
        assert (tree.datasets / "groove" / "reports" / "status-latest.html").read_text().startswith("<!DOCTYPE html>")
    finally:
        assert daemon.stop() == 0
