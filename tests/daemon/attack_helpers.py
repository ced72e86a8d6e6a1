"""What the attack suites share: small MIDI files written by the test, and the checks made after
every attack (the daemon is alive, a good file still reaches the manifest, `status` works,
a secret marker is nowhere the daemon writes)."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import stat
from pathlib import Path

from tests.daemon.harness import DaemonProcess, Tree, run_cli, wait_for
from tests.daemon.midi_files import small_midi_bytes

_counter = itertools.count()


def unique_midi(label: str) -> bytes:
    """A MIDI file whose bytes no other call in this process returns (so it is never a duplicate)."""
    return small_midi_bytes(next(_counter), text=label)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def manifest_shas(tree: Tree, dataset_id: str = "mix") -> set[str]:
    return {s["sha256"] for s in tree.manifest_samples(dataset_id)}


def drop_good(tree: Tree, name: str, *, dataset_id: str = "mix", folder: str = "happy") -> str:
    """Write a fresh MIDI into the inbox; return its sha256."""
    data = unique_midi(name)
    target = tree.inbox / dataset_id / folder / name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return sha256(data)


def assert_still_serving(tree: Tree, daemon: DaemonProcess, what: str, *, dataset_id: str = "mix") -> None:
    """After an attack: alive, a good MIDI dropped now reaches the manifest, `kellyd status` exits 0."""
    assert daemon.proc.poll() is None, f"daemon exited ({daemon.proc.returncode}) after {what}:\n{daemon.log_text()[-3000:]}"
    digest = drop_good(tree, f"after-{next(_counter)}.mid", dataset_id=dataset_id)
    wait_for(lambda: digest in manifest_shas(tree, dataset_id) or daemon.proc.poll() is not None, 30,
             f"a good file dropped after {what}")
    assert daemon.proc.poll() is None, f"daemon exited after {what}:\n{daemon.log_text()[-3000:]}"
    assert digest in manifest_shas(tree, dataset_id)
    status = run_cli(tree, "status", "--json")
    assert status.returncode == 0, status.stderr
    json.loads(status.stdout)


def quarantine_errors(tree: Tree, dataset_id: str = "mix") -> list[dict]:
    return tree.quarantine_errors(dataset_id)


def errors_matching(tree: Tree, needle: str, dataset_id: str = "mix") -> list[dict]:
    return [e for e in quarantine_errors(tree, dataset_id) if needle in e["original_path"]]


def regular_files_and_links(root: Path) -> tuple[list[Path], list[Path]]:
    """Every regular file and every symbolic link under `root`, never following a link."""
    files, links = [], []
    for folder, dirs, names in os.walk(root, followlinks=False):
        for name in [*dirs, *names]:
            p = Path(folder) / name
            mode = os.lstat(p).st_mode
            if stat.S_ISLNK(mode):
                links.append(p)
            elif stat.S_ISREG(mode):
                files.append(p)
    return files, links


def assert_marker_nowhere(tree: Tree, daemon: DaemonProcess, marker: bytes) -> None:
    """The marker is in no file under state/ or datasets/ nor in the log, and no link was placed there."""
    for root in (tree.state, tree.datasets):
        files, links = regular_files_and_links(root)
        assert not links, f"symbolic links placed under {root.name}/: {links}"
        for p in files:
            assert marker not in p.read_bytes(), f"the secret marker leaked into {p}"
    assert marker.decode() not in daemon.log_text(), "the secret marker leaked into the log"
