"""The top of the inbox, outside every dataset's folder: a real daemon says what it leaves alone there.

A file dropped into the inbox itself, a folder named after no dataset, and a dataset's folder that is a
link (dangling, here: it used to stop the daemon at start with a traceback) are each logged once, listed
by `kellyd status`, and left where they are; the other datasets go on being served.
"""

from __future__ import annotations

import json
import os
import shutil
import time

import pytest

from kellyd.daemon import INBOX_CHECK_EVERY_S
from tests.daemon.harness import DaemonProcess, make_tree, run_cli, wait_for
from tests.daemon.midi_files import small_midi_bytes

pytestmark = pytest.mark.slow

CHAIN = ["import", "annotate"]


def unrouted_events(daemon: DaemonProcess) -> list[dict]:
    return [e for e in daemon.log_events() if e.get("event") == "inbox_entry_unrouted"]


def status_unrouted(tree) -> dict[str, str]:
    proc = run_cli(tree, "status", "--json")
    return {e["path"]: e["reason"] for e in json.loads(proc.stdout)["inbox_unrouted"]}


def test_what_no_dataset_takes_is_logged_once_listed_by_status_and_left_alone(tmp_path):
    tree = make_tree(tmp_path / "tree", settle_s=0.3, datasets={
        "mix": {"target_model": "EmotionRecognizer", "chain": CHAIN},
        "grooves": {"target_model": "GroovePredictor", "chain": CHAIN}})
    shutil.rmtree(tree.inbox / "grooves")
    os.symlink(tmp_path / "nowhere", tree.inbox / "grooves")
    (tree.inbox / "mix" / "a.mid").write_bytes(small_midi_bytes(1))
    daemon = DaemonProcess(tree)
    daemon.wait_started()
    try:
        wait_for(lambda: len(tree.manifest_samples("mix")) == 1, 30, "the other dataset's file imported")
        (tree.inbox / "stray.mid").write_bytes(small_midi_bytes(2))
        (tree.inbox / "typo").mkdir()
        (tree.inbox / "typo" / "b.mid").write_bytes(small_midi_bytes(3))
        wait_for(lambda: len(unrouted_events(daemon)) == 3, 20, "the three entries logged")
        time.sleep(2 * INBOX_CHECK_EVERY_S + 0.5)  # more checks: nothing is logged twice
        logged = {e["path"]: e["reason"] for e in unrouted_events(daemon)}
        assert len(unrouted_events(daemon)) == 3
        paths = {str(tree.inbox / name) for name in ("grooves", "stray.mid", "typo")}
        assert set(logged) == paths
        assert logged[str(tree.inbox / "grooves")].startswith(
            "the inbox of dataset 'grooves' is a symbolic link that points nowhere (dangling): not followed")
        assert logged[str(tree.inbox / "stray.mid")].startswith("a file directly in the inbox")
        assert logged[str(tree.inbox / "typo")].startswith("no dataset is named 'typo' (datasets: grooves, mix)")
        assert status_unrouted(tree) == logged
        assert "inbox: " + str(tree.inbox / "stray.mid") + " is left alone" in run_cli(tree, "status").stdout
        assert (tree.inbox / "stray.mid").exists() and (tree.inbox / "typo" / "b.mid").exists()
        assert os.path.islink(tree.inbox / "grooves")

        # A dataset of that name takes the folder's files, and the folder is no longer listed.
        created = run_cli(tree, "dataset", "create", "typo", "--target-model", "GroovePredictor")
        assert created.returncode == 0, created.stderr
        wait_for(lambda: any(s["file_path"].endswith("b.mid") for s in tree.manifest_samples("typo")), 30,
                 "the folder's file imported once its dataset exists")
        assert set(status_unrouted(tree)) == paths - {str(tree.inbox / "typo")}
        assert daemon.proc.poll() is None
    finally:
        assert daemon.stop() == 0


def test_dataset_create_over_a_file_says_why_its_inbox_is_not_usable(tmp_path):
    tree = make_tree(tmp_path / "tree")
    (tree.inbox / "grooves").write_bytes(small_midi_bytes(4))
    created = run_cli(tree, "dataset", "create", "grooves", "--target-model", "GroovePredictor")
    assert created.returncode == 0
    assert "not a folder: dataset 'grooves' takes its files from a folder of this name" in created.stderr
    assert (tree.inbox / "grooves").read_bytes() == small_midi_bytes(4)


def test_kellyd_import_runs_when_the_datasets_inbox_name_holds_a_file(tmp_path):
    tree = make_tree(tmp_path / "tree")
    (tree.inbox / "mix").rmdir()
    (tree.inbox / "mix").write_bytes(b"not a folder")
    source = tmp_path / "source"
    source.mkdir()
    (source / "a.mid").write_bytes(small_midi_bytes(5))
    proc = run_cli(tree, "import", str(source), "--dataset", "mix")
    assert proc.returncode == 0, proc.stderr
    assert [s["file_path"].rsplit("/", 1)[-1] for s in tree.manifest_samples("mix")] == ["a.mid"]
    assert (tree.inbox / "mix").read_bytes() == b"not a folder"


def test_many_files_dropped_into_the_inbox_itself_are_logged_as_a_count_past_the_first(tmp_path):
    from kellyd.unrouted import UNROUTED_LISTED

    tree = make_tree(tmp_path / "tree", settle_s=0.3)
    daemon = DaemonProcess(tree)
    daemon.wait_started()
    try:
        ready = tmp_path / "ready"
        ready.mkdir()
        for i in range(UNROUTED_LISTED + 30):
            (ready / f"stray{i:03d}.mid").write_bytes(small_midi_bytes(i))
        for path in sorted(ready.iterdir()):
            os.rename(path, tree.inbox / path.name)
        summary = lambda: [e for e in daemon.log_events() if e.get("event") == "inbox_entries_unrouted"]  # noqa: E731
        wait_for(lambda: len(unrouted_events(daemon)) + sum(e["more"] for e in summary()) == UNROUTED_LISTED + 30, 20,
                 "every stray file logged or counted")
        assert len(unrouted_events(daemon)) <= 2 * UNROUTED_LISTED  # at most two checks saw them arrive
    finally:
        assert daemon.stop() == 0
