"""Group commit: a step's files are synced together before the catalog commit that shows them.

The daemon is paused by its test hook right after an augment step's files (children and their
features) are written and synced and before their commit, then killed with SIGKILL there.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3

from kellyd.runner import PAUSE_BEFORE_COMMIT_ENV
from tests.daemon.harness import DaemonProcess, kill9_at_hook, make_tree, wait_for
from tests.daemon.test_daemon_e2e import groove_files

CHAIN = ["import", "annotate", "features", "augment"]
MULTIPLIER = 2


def catalog_samples(tree) -> list[dict]:
    db = sqlite3.connect(f"file:{tree.state / 'catalog.sqlite3'}?mode=ro", uri=True, timeout=5)
    try:
        return [json.loads(data) for (data,) in db.execute("SELECT data FROM samples WHERE dataset_id = 'mix'")]
    finally:
        db.close()


def files_under(folder) -> set[str]:
    return {p.name for p in folder.rglob("*") if p.is_file()} if folder.exists() else set()


def test_kill9_between_synced_files_and_their_commit_leaves_no_sample_without_its_files(tmp_path, corpus):
    # Every sample goes to train, so every original gets children.
    tree = make_tree(tmp_path, datasets={"mix": {"target_model": "EmotionRecognizer", "chain": CHAIN,
                                                 "multiplier": MULTIPLIER, "splits": [1.0, 0.0, 0.0]}})
    ds = tree.datasets / "mix"
    sources = groove_files(corpus, 3)

    def feed() -> None:
        for src in sources:
            shutil.copyfile(src, tree.inbox / "mix" / src.name)

    kill9_at_hook(tree, PAUSE_BEFORE_COMMIT_ENV, "augment", tmp_path / "paused-before-commit", feed)

    # The kill landed between the writes and the commit: children on disk that no sample lists yet...
    samples = catalog_samples(tree)
    listed = {s["file_path"].rsplit("/", 1)[-1] for s in samples}
    written = files_under(ds / "processed" / "augmented")
    assert written - listed, "no child was written but uncommitted: the pause came at the wrong point"
    # ...and every sample the catalog does list has its files.
    for s in samples:
        assert (ds / s["file_path"]).is_file(), s["file_path"]
        if s.get("features_path"):
            assert (ds / s["features_path"]).is_file(), s["features_path"]

    daemon = DaemonProcess(tree)
    try:
        daemon.wait_started()
        expected = len(sources) * (1 + MULTIPLIER)

        def complete() -> bool:
            shown = tree.manifest_samples("mix")
            return len(shown) == expected and all(s["features_path"] for s in shown)

        wait_for(complete, 90, "every original and child, with features, in the manifest")
        shown = tree.manifest_samples("mix")
        for s in shown:
            assert hashlib.sha256((ds / s["file_path"]).read_bytes()).hexdigest() == s["sha256"]
            features = json.loads((ds / s["features_path"]).read_text())
            assert features["sample_id"] == s["sample_id"]
            assert (ds / s["features_path"]).with_suffix(".npz").is_file()
        children = [s for s in shown if s["parent_id"]]
        assert len(children) == len(sources) * MULTIPLIER
        # The children written before the kill were written again under the same names: no orphans.
        assert files_under(ds / "processed" / "augmented") == {s["file_path"].rsplit("/", 1)[-1] for s in children}
    finally:
        assert daemon.stop() == 0
    assert [p for p in ds.rglob("*") if p.name.endswith(".tmp")] == []  # the kill's temp files swept at start
