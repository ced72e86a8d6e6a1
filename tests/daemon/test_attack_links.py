"""Attacks with symbolic links: the daemon never follows one, never reads or copies a target, and
keeps working. One daemon serves the whole module; each attack uses its own names."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest

from tests.daemon.attack_helpers import (assert_marker_nowhere, assert_still_serving, drop_good, errors_matching,
                                         manifest_shas, regular_files_and_links, sha256)
from tests.daemon.harness import DaemonProcess, make_tree, run_cli, wait_for
from tests.daemon.midi_files import small_midi_bytes

pytestmark = pytest.mark.slow

MARKER = f"SECRET{secrets.token_hex(6)}".encode()


def link_reason_ok(entry: dict) -> bool:
    return "symbolic link" in entry["reason"] and "not followed" in entry["reason"] and entry["file"] is None


@pytest.fixture(scope="module")
def attacked(tmp_path_factory):
    """A tree with a link loop and a good file planted while the daemon was down, then the daemon."""
    root = tmp_path_factory.mktemp("links")
    tree = make_tree(root / "tree", settle_s=0.3, extra={"freesound": {"enabled": True, "dataset": "mix"}})
    outside = root / "outside"
    outside.mkdir()
    (outside / "secret.mid").write_bytes(small_midi_bytes(61, text=MARKER.decode()))
    (outside / "secret.txt").write_bytes(MARKER + b" private key material\n")
    (outside / "secret.json").write_bytes(b'{"note": "' + MARKER + b'"}')
    loop = tree.inbox / "mix" / "startloop"
    loop.mkdir()
    os.symlink("b.mid", loop / "a.mid")
    os.symlink("a.mid", loop / "b.mid")
    down_sha = drop_good(tree, "dropped-while-down.mid")
    daemon = DaemonProcess(tree)
    daemon.wait_started()
    try:
        yield tree, daemon, outside, down_sha
    finally:
        assert daemon.stop() == 0


def test_link_loop_present_at_start_up_neither_kills_nor_blinds_the_scan(attacked):
    tree, daemon, _outside, down_sha = attacked
    wait_for(lambda: down_sha in manifest_shas(tree), 30, "the file dropped while the daemon was down")
    wait_for(lambda: len(errors_matching(tree, "startloop")) == 2, 20, "both links of the loop quarantined")
    assert all(link_reason_ok(e) for e in errors_matching(tree, "startloop"))
    assert not any((tree.inbox / "mix" / "startloop").iterdir()), "the links are taken out of the inbox"
    assert_still_serving(tree, daemon, "a link loop present at start-up")


def test_link_loop_dropped_while_running(attacked):
    tree, daemon, _outside, _ = attacked
    loop = tree.inbox / "mix" / "runloop"
    loop.mkdir()
    os.symlink("y.mid", loop / "x.mid")
    os.symlink("x.mid", loop / "y.mid")
    os.symlink("self.mid", loop / "self.mid")
    wait_for(lambda: len(errors_matching(tree, "runloop")) == 3, 20, "the three looping links quarantined")
    assert all(link_reason_ok(e) for e in errors_matching(tree, "runloop"))
    assert_still_serving(tree, daemon, "a link loop dropped while running")


def test_link_to_a_secret_file_is_never_read_or_copied(attacked):
    tree, daemon, outside, _ = attacked
    folder = tree.inbox / "mix" / "sad"
    folder.mkdir(exist_ok=True)
    os.symlink(outside / "secret.mid", folder / "leak-midi.mid")
    os.symlink(outside / "secret.txt", folder / "leak-text.mid")
    os.symlink(outside / "missing.mid", folder / "leak-dangling.mid")
    staged = tree.staging / "emotion_samples" / "happy" / "piano"
    staged.mkdir(parents=True)
    os.symlink(outside / "secret.mid", staged / "leak-staged.mid")
    wait_for(lambda: len(errors_matching(tree, "leak-")) == 4, 20, "the four links quarantined")
    entries = errors_matching(tree, "leak-")
    assert all(link_reason_ok(e) for e in entries), entries
    by_name = {Path(e["original_path"]).name: e for e in entries}
    assert by_name["leak-midi.mid"]["link_target"] == str(outside / "secret.mid")
    assert not (folder / "leak-midi.mid").is_symlink(), "an inbox link is taken out of the inbox"
    assert (staged / "leak-staged.mid").is_symlink(), "staging is only read, never changed"
    assert (outside / "secret.mid").read_bytes() == small_midi_bytes(61, text=MARKER.decode()), "the target is untouched"
    assert_still_serving(tree, daemon, "links to a secret file")
    assert_marker_nowhere(tree, daemon, MARKER)


def test_symlinked_sidecar_is_ignored_and_never_copied(attacked):
    tree, daemon, outside, _ = attacked
    folder = tree.inbox / "mix" / "angry"
    folder.mkdir(exist_ok=True)
    os.symlink(outside / "secret.json", folder / "with-sidecar.mid.json")
    data = small_midi_bytes(70, text="sidecar-host")
    (folder / "with-sidecar.mid").write_bytes(data)
    wait_for(lambda: sha256(data) in manifest_shas(tree), 30, "the file next to a linked sidecar")
    sample = next(s for s in tree.manifest_samples("mix") if s["sha256"] == sha256(data))
    assert "note" not in sample["annotations"]
    raw_files, raw_links = regular_files_and_links(tree.datasets / "mix" / "raw")
    assert not raw_links and not [p for p in raw_files if p.name.endswith(".json")]
    assert "sidecar_link_ignored" in daemon.log_text()
    assert_marker_nowhere(tree, daemon, MARKER)
    assert_still_serving(tree, daemon, "a symlinked sidecar")


def test_folder_link_is_not_followed(attacked):
    tree, daemon, outside, _ = attacked
    private = outside / "private"
    private.mkdir()
    (private / "inside.mid").write_bytes(small_midi_bytes(66, text=MARKER.decode()))
    os.symlink(private, tree.inbox / "mix" / "linked-folder")
    wait_for(lambda: len(errors_matching(tree, "linked-folder")) == 1, 20, "the folder link quarantined")
    entry = errors_matching(tree, "linked-folder")[0]
    assert link_reason_ok(entry) and "folder" in entry["reason"]
    assert (private / "inside.mid").exists(), "nothing is taken from the link's target"
    assert_still_serving(tree, daemon, "a link to a folder")
    assert_marker_nowhere(tree, daemon, MARKER)


def test_batch_import_refuses_links_too(tmp_path):
    tree = make_tree(tmp_path / "tree")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.mid").write_bytes(small_midi_bytes(61, text=MARKER.decode()))
    src = tmp_path / "mine" / "happy"
    src.mkdir(parents=True)
    good = small_midi_bytes(72, text="batch-good")
    (src / "good.mid").write_bytes(good)
    os.symlink(outside / "secret.mid", src / "leak.mid")
    os.symlink("loop.mid", src / "loop.mid")
    os.symlink(outside, src / "folder-link")
    proc = run_cli(tree, "import", str(src.parent), "--dataset", "mix")
    assert proc.returncode == 5, proc.stderr  # kellyd.exitcodes.EXIT_QUARANTINED: the links were set aside
    assert manifest_shas(tree) == {sha256(good)}
    entries = tree.quarantine_errors("mix")
    assert len(entries) == 3 and all(link_reason_ok(e) for e in entries), entries
    assert (src / "leak.mid").is_symlink(), "an import copies: the source folder is left as it was"
    for root in (tree.state, tree.datasets):
        files, links = regular_files_and_links(root)
        assert not links and not any(MARKER in p.read_bytes() for p in files)
    assert MARKER.decode() not in proc.stdout + proc.stderr
