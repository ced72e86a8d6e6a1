"""Attacks with names and paths: names at NAME_MAX, paths past PATH_MAX, names that are not UTF-8.

Each was enough to make `kellyd run` exit (or its scan thread die) before the path policy. One tree
and one daemon serve the module: attacks planted before start-up, more while running, then a restart.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from tests.daemon.attack_helpers import (assert_still_serving, drop_good, errors_matching, manifest_shas, sha256,
                                         unique_midi)
from tests.daemon.harness import DaemonProcess, make_tree, run_cli, wait_for

pytestmark = pytest.mark.slow

NAME_MAX = 255
PATH_MAX = 4096


def long_good_name(tag: str) -> str:
    """A 255-byte UTF-8 name made of two-byte characters, so a cut in the wrong place would break one."""
    tail = f"-{tag}.mid"
    room = NAME_MAX - len(tail)
    return "é" * (room // 2) + "x" * (room % 2) + tail  # exactly 255 bytes


def long_junk_name(tag: str) -> str:
    return f"junk{tag}" + "j" * (NAME_MAX - 4 - len(tag) - 4 - 2) + ".mid"  # 253 bytes


def plant_bytes(base: Path, rel: bytes, data: bytes) -> None:
    """Write `data` at `base/rel`, where `rel` may hold bytes that are not UTF-8."""
    path = os.fsencode(base) + b"/" + rel
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def plant_deep(base: Path, data: bytes) -> None:
    """A file whose absolute path is longer than PATH_MAX, built with folder fds (no call ever sees the full path)."""
    base.mkdir(parents=True, exist_ok=True)
    fd = os.open(base, os.O_RDONLY | os.O_DIRECTORY)
    total = len(os.fsencode(base))
    try:
        while total <= PATH_MAX + 100:
            os.mkdir("d" * 200, dir_fd=fd)
            inner = os.open("d" * 200, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd, total = inner, total + 201
        out = os.open("deep.mid", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644, dir_fd=fd)
        os.write(out, data)
        os.close(out)
    finally:
        os.close(fd)


def plant_all(tree, tag: str) -> dict:
    """One of each attack (tag keeps the rounds apart); returns what to look for."""
    happy = tree.inbox / "mix" / "happy"
    happy.mkdir(parents=True, exist_ok=True)
    good_long = unique_midi("long")
    (happy / long_good_name(tag)).write_bytes(good_long)
    (happy / long_junk_name(tag)).write_bytes(b"this is not music at all " * 4)
    plant_bytes(happy, f"bad\xff-{tag}.mid".encode("latin-1"), unique_midi("badname"))
    plant_bytes(tree.inbox / "mix", f"dir\xfe-{tag}/inner.mid".encode("latin-1"), unique_midi("baddir"))
    plant_deep(tree.inbox / "mix" / f"deep-{tag}", unique_midi("deep"))
    return {"long_sha": sha256(good_long), "tag": tag}


def check_round(tree, daemon, planted: dict) -> None:
    tag = planted["tag"]
    wait_for(lambda: planted["long_sha"] in manifest_shas(tree), 30, "the file with a 255-byte name")
    sample = next(s for s in tree.manifest_samples("mix") if s["sha256"] == planted["long_sha"])
    assert long_good_name(tag) in sample["original_names"]
    raw = tree.datasets / "mix" / sample["file_path"]
    assert raw.is_file() and len(raw.name.encode()) < NAME_MAX and raw.name.endswith(".mid")
    raw.name.encode("utf-8")  # shortened on a character boundary
    origin = tree.inbox / "mix" / "happy" / long_good_name(tag)
    wait_for(lambda: not origin.exists(), 10, "the imported file with a 255-byte name removed from the inbox")
    assert "origin_not_removed" not in daemon.log_text()

    wait_for(lambda: errors_matching(tree, f"junk{tag}"), 20, "the junk file with a long name quarantined")
    junk = errors_matching(tree, f"junk{tag}")[0]
    assert "not a MIDI or audio file" in junk["reason"]
    kept = tree.state / "quarantine" / "mix" / junk["file"]
    assert kept.is_file() and len((junk["file"] + ".error.json").encode()) <= NAME_MAX

    wait_for(lambda: errors_matching(tree, f"bad\\xff-{tag}") and errors_matching(tree, f"dir\\xfe-{tag}"), 20,
             "both files with non-UTF-8 names quarantined")
    for entry in (errors_matching(tree, f"bad\\xff-{tag}")[0], errors_matching(tree, f"dir\\xfe-{tag}")[0]):
        assert "not valid UTF-8" in entry["reason"], entry
        assert (tree.state / "quarantine" / "mix" / entry["file"]).is_file(), "nothing is lost"

    wait_for(lambda: f"deep-{tag}" in daemon.log_text() and "PATH_MAX" in daemon.log_text(), 20,
             "a logged skip for the path longer than PATH_MAX")


@pytest.fixture(scope="module")
def attacked(tmp_path_factory):
    tree = make_tree(tmp_path_factory.mktemp("crashes") / "tree", settle_s=0.3)
    planted = plant_all(tree, "start")
    down_sha = drop_good(tree, "dropped-while-down.mid")
    held = {"daemon": DaemonProcess(tree)}
    held["daemon"].wait_started()
    try:
        yield tree, held, planted, down_sha
    finally:
        assert held["daemon"].stop() == 0


def test_name_and_path_attacks_present_at_start_up(attacked):
    tree, held, planted, down_sha = attacked
    wait_for(lambda: down_sha in manifest_shas(tree), 30, "the file dropped while the daemon was down")
    check_round(tree, held["daemon"], planted)
    assert_still_serving(tree, held["daemon"], "name and path attacks present at start-up")


def test_name_and_path_attacks_while_running(attacked):
    tree, held, _, _ = attacked
    planted = plant_all(tree, "run")
    check_round(tree, held["daemon"], planted)
    assert_still_serving(tree, held["daemon"], "name and path attacks while running")


def test_restart_after_the_attacks_still_imports(attacked):
    tree, held, _, _ = attacked
    assert held["daemon"].stop() == 0
    planted = plant_all(tree, "again")
    down_sha = drop_good(tree, "dropped-before-restart.mid")
    held["daemon"] = DaemonProcess(tree)
    held["daemon"].wait_started()
    wait_for(lambda: down_sha in manifest_shas(tree), 30, "a good file dropped before the restart")
    check_round(tree, held["daemon"], planted)
    assert_still_serving(tree, held["daemon"], "a restart after the attacks")
    status = run_cli(tree, "status")
    assert status.returncode == 0 and "quarantine" in status.stdout.lower()


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file: permissions cannot make one unreadable")
def test_unreadable_file_and_folder(attacked):
    tree, held, _, _ = attacked
    locked_file = tree.inbox / "mix" / "happy" / "locked.mid"
    locked_file.write_bytes(unique_midi("locked"))
    locked_file.chmod(0)
    locked_dir = tree.inbox / "mix" / "locked-folder"
    locked_dir.mkdir()
    (locked_dir / "inside.mid").write_bytes(unique_midi("inside"))
    locked_dir.chmod(0)
    try:
        wait_for(lambda: errors_matching(tree, "locked.mid"), 20, "the unreadable file quarantined")
        assert "not readable" in errors_matching(tree, "locked.mid")[0]["reason"]
        assert run_cli(tree, "status").returncode == 0
        held["daemon"].signal(signal.SIGHUP)  # a reload rescans: the folder is met again
        wait_for(lambda: "locked-folder" in held["daemon"].log_text() and "not readable" in held["daemon"].log_text(),
                 20, "a logged skip for the unreadable folder")
        assert_still_serving(tree, held["daemon"], "an unreadable file and folder")
    finally:
        locked_dir.chmod(0o755)


def test_a_result_the_catalog_cannot_store_costs_one_file(attacked):
    """A sidecar value that is a lone surrogate (valid JSON: "\\udcff") cannot be encoded by SQLite: the
    commit of that one job fails. It is quarantined with the reason; the loop and the other files go on."""
    tree, held, _, _ = attacked
    folder = tree.inbox / "mix" / "sad"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "surrogate.mid.json").write_text('{"title": "bad \\udcff value"}')
    (folder / "surrogate.mid").write_bytes(unique_midi("surrogate"))
    wait_for(lambda: errors_matching(tree, "surrogate.mid"), 20, "the file whose result cannot be stored, quarantined")
    assert held["daemon"].proc.poll() is None
    assert_still_serving(tree, held["daemon"], "a result the catalog cannot store")
