"""Attacks on what the daemon keeps: reloads that go wrong, a lost or damaged catalog, a kill during
an export, two daemons on one datasets folder, and a full disk. Real daemon, real signals, real
SQLite, and real full file systems (tmpfs) where this machine lets the test mount one."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
import tomli_w

from kellyd.export import annotation_path
from tests.daemon.attack_helpers import drop_good, manifest_shas, sha256, unique_midi
from tests.daemon.harness import DaemonProcess, Tree, make_tree, run_cli, wait_for
from tests.daemon.test_daemon_e2e import catalog_sample_count

pytestmark = pytest.mark.slow

MIX_AUGMENT = {"mix": {"target_model": "EmotionRecognizer", "chain": ["import", "annotate", "augment"],
                       "multiplier": 2, "splits": [1.0, 0.0, 0.0]}}


def events(daemon: DaemonProcess, name: str) -> list[dict]:
    return [e for e in daemon.log_events() if e.get("event") == name]


def done_shas(tree: Tree) -> set[str]:
    """Samples whose whole chain ran: the folder label (`happy`) is annotated."""
    return {s["sha256"] for s in tree.manifest_samples("mix") if s["annotations"].get("emotion")}


def drop_and_wait(tree: Tree, daemon: DaemonProcess, n: int, prefix: str) -> set[str]:
    shas = {drop_good(tree, f"{prefix}{i}.mid") for i in range(n)}
    wait_for(lambda: shas <= done_shas(tree) or daemon.proc.poll() is not None, 60, f"{n} files done")
    assert daemon.proc.poll() is None, daemon.log_text()[-3000:]
    return shas


def ingest_then_stop(tree: Tree, n: int, prefix: str) -> set[str]:
    """Start the daemon, let it take `n` new files, stop it; returns their sha256."""
    daemon = DaemonProcess(tree)
    try:
        daemon.wait_started()
        return drop_and_wait(tree, daemon, n, prefix)
    finally:
        assert daemon.stop() == 0


@contextmanager
def running(tree: Tree):
    daemon = DaemonProcess(tree)
    try:
        daemon.wait_started()
        yield daemon
    finally:
        assert daemon.stop() == 0


def rewrite_config(tree: Tree, change) -> None:
    import tomllib

    config = tomllib.loads(tree.config.read_text())
    change(config)
    tree.config.write_text(tomli_w.dumps(config))


# -- SIGHUP ----------------------------------------------------------------------------------------


def test_sighup_with_a_refused_multiplier_keeps_the_old_config(tmp_path):
    tree = make_tree(tmp_path, datasets=MIX_AUGMENT)
    daemon = DaemonProcess(tree)
    try:
        daemon.wait_started()
        rewrite_config(tree, lambda c: c["datasets"]["mix"].update(multiplier=5000))
        daemon.signal(signal.SIGHUP)
        wait_for(lambda: events(daemon, "reload_refused") or daemon.proc.poll() is not None, 20, "the refusal")
        assert daemon.proc.poll() is None, f"SIGHUP ended the daemon:\n{daemon.log_text()[-3000:]}"
        refused = events(daemon, "reload_refused")[0]
        assert refused["key"] == "datasets.mix.multiplier"
        assert "5000" in refused["reason"]
        # Nothing of the refused config reached the disk, and the old multiplier still makes children.
        assert json.loads((tree.datasets / "mix" / "config.json").read_text())["multiplier"] == 2
        digest = drop_good(tree, "after.mid")
        wait_for(lambda: len(tree.manifest_samples("mix")) == 3, 60, "the parent and its 2 children")
        parent = next(s for s in tree.manifest_samples("mix") if s["sha256"] == digest)
        children = [s for s in tree.manifest_samples("mix") if s["parent_id"] == parent["sample_id"]]
        assert len(children) == 2
        assert not events(daemon, "config_reloaded")
    finally:
        assert daemon.stop() == 0


def test_sighup_with_the_config_path_turned_into_a_folder_keeps_running(tmp_path):
    tree = make_tree(tmp_path)
    daemon = DaemonProcess(tree)
    saved = tree.config.read_text()
    try:
        daemon.wait_started()
        tree.config.unlink()
        tree.config.mkdir()
        daemon.signal(signal.SIGHUP)
        wait_for(lambda: events(daemon, "reload_refused") or daemon.proc.poll() is not None, 20, "the refusal")
        assert daemon.proc.poll() is None, f"SIGHUP ended the daemon:\n{daemon.log_text()[-3000:]}"
        assert str(tree.config) in events(daemon, "reload_refused")[0]["reason"]
        drop_and_wait(tree, daemon, 1, "still-served")
        # Once the file is back, a reload works again.
        tree.config.rmdir()
        tree.config.write_text(saved.replace("settle_s = 0.5", "settle_s = 0.4"))
        daemon.signal(signal.SIGHUP)
        wait_for(lambda: events(daemon, "config_reloaded"), 20, "a reload of the restored config")
    finally:
        if tree.config.is_dir():
            tree.config.rmdir()
            tree.config.write_text(saved)
        assert daemon.stop() == 0


# -- the catalog lost, damaged, or ahead of the manifest ---------------------------------------------


def remove_catalog(tree: Tree) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{tree.state / 'catalog.sqlite3'}{suffix}").unlink(missing_ok=True)


def test_catalog_deleted_while_stopped_is_rebuilt_and_the_manifest_keeps_every_sample(tmp_path):
    tree = make_tree(tmp_path)
    before = ingest_then_stop(tree, 8, "first")
    splits_before = {s["sample_id"]: s["split"] for s in tree.manifest_samples("mix")}
    remove_catalog(tree)

    with running(tree) as daemon:
        rebuilt = events(daemon, "catalog_rebuilt")
        assert rebuilt and rebuilt[0]["samples"] == {"mix": 8}
        after = drop_and_wait(tree, daemon, 3, "second")
        wait_for(lambda: len(tree.manifest_samples("mix")) == 11, 20, "11 samples in the manifest")
        assert manifest_shas(tree) == before | after
        kept = {s["sample_id"]: s["split"] for s in tree.manifest_samples("mix") if s["sample_id"] in splits_before}
        assert kept == splits_before  # an assigned split never changes, even through a rebuild
        assert all(s["annotations"].get("emotion") == "happy" for s in tree.manifest_samples("mix"))


def test_a_catalog_file_holding_only_the_freesound_ledger_is_rebuilt_and_keeps_the_ledger(tmp_path):
    from kellyd.freesound.ledger import Ledger

    tree = make_tree(tmp_path)
    before = ingest_then_stop(tree, 2, "kept")
    remove_catalog(tree)
    with Ledger(tree.state / "catalog.sqlite3") as ledger:  # a pull ran while the catalog was gone
        ledger.record_download(4242, emotion="happy", instrument="piano", file_path="happy/piano/x.wav",
                               size_bytes=10, at="2026-01-01T00:00:00Z")

    with running(tree) as daemon:
        assert events(daemon, "catalog_rebuilt")[0]["samples"] == {"mix": 2}
        more = drop_and_wait(tree, daemon, 1, "new")
        assert manifest_shas(tree) == before | more
    with Ledger(tree.state / "catalog.sqlite3") as ledger:
        assert ledger.is_known(4242) and ledger.downloaded("happy", "piano") == (1, 10)


def test_a_raw_file_no_export_listed_is_kept_and_annotated_by_the_rebuild(tmp_path):
    tree = make_tree(tmp_path)
    before = ingest_then_stop(tree, 2, "listed")
    remove_catalog(tree)
    # Imported, then the catalog and the export that would have listed it were both lost.
    data = unique_midi("unlisted")
    unlisted = tree.datasets / "mix" / "raw" / "midi" / "sad" / "unlisted.mid"
    unlisted.parent.mkdir(parents=True)
    unlisted.write_bytes(data)

    with running(tree) as daemon:
        assert events(daemon, "catalog_rebuilt")[0]["from_raw_only"] == 1
        wait_for(lambda: len(tree.manifest_samples("mix")) == 3, 30, "the unlisted file in the manifest")
        assert manifest_shas(tree) == before | {sha256(data)}
        entry = next(s for s in tree.manifest_samples("mix") if s["sha256"] == sha256(data))
        wait_for(lambda: next(s for s in tree.manifest_samples("mix") if s["sha256"] == sha256(data))
                 ["annotations"].get("emotion") == "sad", 30, "its folder label annotated again")
        assert entry["file_path"] == "raw/midi/sad/unlisted.mid"


def test_a_dataset_folder_copied_in_is_adopted_not_truncated(tmp_path):
    source = make_tree(tmp_path / "source")
    copied = ingest_then_stop(source, 3, "copied")
    tree = make_tree(tmp_path / "target")
    assert ingest_then_stop(tree, 0, "none") == set()  # its catalog exists and knows no sample of `mix`
    shutil.rmtree(tree.datasets / "mix")
    shutil.copytree(source.datasets / "mix", tree.datasets / "mix")

    with running(tree) as daemon:
        assert events(daemon, "dataset_adopted")[0]["samples"] == 3
        more = drop_and_wait(tree, daemon, 1, "added")
        assert manifest_shas(tree) == copied | more


def test_damaged_catalog_gets_a_clear_message_and_catalog_rebuild_recovers(tmp_path):
    tree = make_tree(tmp_path)
    shas = ingest_then_stop(tree, 3, "kept")
    catalog = tree.state / "catalog.sqlite3"
    with open(catalog, "r+b") as f:
        f.write(b"this is no longer an SQLite database header" * 4)

    refused = DaemonProcess(tree)
    refused.proc.wait(timeout=60)
    refused.stop()
    assert refused.proc.returncode == 1
    text = refused.log_text()
    assert "kellyd catalog rebuild" in text and "Traceback" not in text, text[-2000:]
    status = run_cli(tree, "status")
    assert status.returncode == 1 and "kellyd catalog rebuild" in status.stdout, status.stdout + status.stderr
    assert "Traceback" not in status.stderr

    rebuilt = run_cli(tree, "catalog", "rebuild")
    assert rebuilt.returncode == 0, rebuilt.stderr
    report = json.loads(rebuilt.stdout)
    assert report["samples"] == {"mix": 3}
    assert Path(report["kept_aside"]).read_bytes().startswith(b"this is no longer")  # nothing deleted
    again = run_cli(tree, "catalog", "rebuild")
    assert again.returncode == 1 and "--force" in again.stderr  # a readable catalog is not replaced silently

    with running(tree) as daemon:
        more = drop_and_wait(tree, daemon, 1, "new")
        assert manifest_shas(tree) == shas | more


@contextmanager
def file_being_written(path: Path):
    """A file that grows every 0.1 s while inside: it never settles, so the daemon stays busy with it."""
    stop = threading.Event()

    def grow() -> None:
        with open(path, "ab") as f:
            while not stop.wait(0.1):
                f.write(b"x")
                f.flush()

    path.parent.mkdir(parents=True, exist_ok=True)
    writer = threading.Thread(target=grow, daemon=True)
    writer.start()
    try:
        yield path
    finally:
        stop.set()
        writer.join()


def test_the_last_changes_of_a_burst_reach_the_manifest_once_the_daemon_is_quiet_not_a_debounce_later(tmp_path):
    tree = make_tree(tmp_path, extra={"export": {"debounce_s": 60.0}})
    daemon = DaemonProcess(tree)
    try:
        daemon.wait_started()
        drop_and_wait(tree, daemon, 1, "first")  # the manifest was just written: the debounce runs
        with file_being_written(tree.inbox / "mix" / "happy" / "growing.mid"):
            shas = {drop_good(tree, f"burst{i}.mid") for i in range(3)}
            wait_for(lambda: catalog_sample_count(tree, "mix") == 4, 60, "4 samples in the catalog")
            time.sleep(1.0)
            assert len(tree.manifest_samples("mix")) == 1  # busy (a file still being written): rewrites wait
        started = time.monotonic()
        # The grown file settles, is imported (or quarantined) and the daemon is quiet: written at once.
        wait_for(lambda: shas <= manifest_shas(tree), 20, "the burst in the manifest well before the 60 s debounce")
        assert time.monotonic() - started < 20
    finally:
        assert daemon.stop() == 0


def test_kill9_with_the_manifest_behind_the_catalog_is_caught_up_at_start(tmp_path):
    # A long debounce, while a file still being written keeps the daemon busy, holds the second export
    # back, so the kill lands where a kill during an export leaves things: samples committed to the
    # catalog, the manifest not yet written.
    tree = make_tree(tmp_path, extra={"export": {"debounce_s": 60.0}})
    daemon = DaemonProcess(tree)
    daemon.wait_started()
    drop_and_wait(tree, daemon, 1, "exported")
    growing = tree.inbox / "mix" / "happy" / "growing.mid"
    with file_being_written(growing):
        for i in range(3):
            drop_good(tree, f"committed{i}.mid")
        wait_for(lambda: catalog_sample_count(tree, "mix") == 4, 60, "4 samples in the catalog")
        daemon.kill9()
    growing.unlink()
    assert len(tree.manifest_samples("mix")) == 1  # the state the kill left

    daemon = DaemonProcess(tree)
    try:
        daemon.wait_started()
        wait_for(lambda: len(tree.manifest_samples("mix")) == 4, 30, "the manifest caught up without a new file")
        for s in tree.manifest_samples("mix"):
            annotation = annotation_path(tree.datasets / "mix", s["sample_id"])
            assert json.loads(annotation.read_text())["sha256"] == s["sha256"]
        assert events(daemon, "manifest_behind_catalog")
    finally:
        assert daemon.stop() == 0


def test_a_second_daemon_on_the_same_datasets_folder_is_refused(tmp_path):
    tree = make_tree(tmp_path / "one")
    other = make_tree(tmp_path / "two")
    rewrite_config(other, lambda c: c["paths"].update(datasets=str(tree.datasets)))
    daemon = DaemonProcess(tree)
    try:
        daemon.wait_started()
        second = run_cli(other, "run", timeout_s=60)
        assert second.returncode == 3, second.stderr
        assert "datasets folder" in second.stderr and str(daemon.proc.pid) in second.stderr
        assert not (other.state / "catalog.sqlite3").exists()
        drop_and_wait(tree, daemon, 1, "unharmed")
    finally:
        assert daemon.stop() == 0


# -- a full disk -------------------------------------------------------------------------------------

FS_SIZE_MB = 24


@contextmanager
def small_filesystem(folder: Path):
    """Mount a tmpfs of FS_SIZE_MB on `folder`; skip if this machine does not allow it."""
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small file system needs root and mount(8); not available here")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={FS_SIZE_MB}m", "tmpfs", str(folder)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"this container may not mount a tmpfs: {done.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def fill(folder: Path) -> Path:
    """Write one file until the file system is full; returns it (delete it to free the space)."""
    filler = folder / ".filler"
    block = b"\0" * (1 << 16)
    with open(filler, "wb", buffering=0) as f:
        try:
            while f.write(block):
                pass
        except OSError:
            pass
    return filler


def test_datasets_on_a_full_disk_wait_and_are_all_imported_when_space_returns(tmp_path):
    tree = make_tree(tmp_path, extra={"executor": {"max_attempts": 2}})
    with small_filesystem(tree.datasets):
        daemon = DaemonProcess(tree)
        try:
            daemon.wait_started()
            filler = fill(tree.datasets)
            names = [f"waiting{i}.mid" for i in range(5)]
            shas = {drop_good(tree, name) for name in names}
            wait_for(lambda: events(daemon, "disk_full") or tree.quarantine_errors("mix")
                     or daemon.proc.poll() is not None, 30, "disk_full")
            time.sleep(5)  # past max_attempts (2) and its 2 s backoff: a counted retry would have quarantined
            assert daemon.proc.poll() is None, daemon.log_text()[-3000:]
            assert tree.quarantine_errors("mix") == []
            assert all((tree.inbox / "mix" / "happy" / n).exists() for n in names)  # nothing moved or lost
            full = events(daemon, "disk_full")
            assert len(full) == 1 and full[0]["folder"] == str(tree.datasets)
            filler.unlink()
            wait_for(lambda: shas <= manifest_shas(tree), 60, "every waiting file imported")
            assert tree.quarantine_errors("mix") == []
            assert events(daemon, "disk_space_back")
        finally:
            assert daemon.stop() == 0


def test_state_on_a_full_disk_pauses_and_resumes_without_exiting(tmp_path):
    tree = make_tree(tmp_path)
    with small_filesystem(tree.state):
        daemon = DaemonProcess(tree)
        try:
            daemon.wait_started()
            filler = fill(tree.state)
            shas = {drop_good(tree, f"stalled{i}.mid") for i in range(40)}
            wait_for(lambda: events(daemon, "disk_full") or daemon.proc.poll() is not None, 60, "disk_full")
            time.sleep(3)
            assert daemon.proc.poll() is None, f"the daemon exited:\n{daemon.log_text()[-3000:]}"
            assert events(daemon, "disk_full")[0]["folder"] == str(tree.state)
            filler.unlink()
            wait_for(lambda: shas <= manifest_shas(tree) or daemon.proc.poll() is not None, 90,
                     "every file imported once space returned")
            assert daemon.proc.poll() is None, daemon.log_text()[-3000:]
            assert tree.quarantine_errors("mix") == []
        finally:
            assert daemon.stop() == 0


def children_of(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(x) for x in f.read().split()]


def descendants_of(pid: int) -> list[int]:
    """Every process below `pid`: with the forkserver start method the workers are grandchildren."""
    found, todo = [], children_of(pid)
    while todo:
        child = todo.pop()
        found.append(child)
        try:
            todo.extend(children_of(child))
        except FileNotFoundError:
            pass
    return found


def test_a_commit_that_meets_a_full_state_disk_rolls_back_and_is_done_again(tmp_path):
    tree = make_tree(tmp_path)
    with small_filesystem(tree.state):
        daemon = DaemonProcess(tree)
        try:
            daemon.wait_started()
            # Workers start with the first steps: files dropped together start both.
            warm = {drop_good(tree, f"warm{i}.mid") for i in range(6)}
            wait_for(lambda: warm <= catalog_shas(tree), 30, "the first files imported")

            def workers_now() -> list[int]:
                return [p for p in descendants_of(daemon.proc.pid) if p not in children_of(daemon.proc.pid)]

            wait_for(lambda: len(workers_now()) >= 2, 10, "both workers started")
            workers = descendants_of(daemon.proc.pid)
            for pid in workers:  # the jobs are recorded and dispatched, their results wait
                os.kill(pid, signal.SIGSTOP)
            names = [f"held{i}.mid" for i in range(10)]
            folder = tree.inbox / "mix" / "happy"
            folder.mkdir(parents=True, exist_ok=True)
            for name in names:  # a large annotation makes each commit need new room in the WAL
                (folder / f"{name}.json").write_text(json.dumps({"notes": name * 20_000}))
            sha_of = {name: drop_good(tree, name) for name in names}
            shas = set(sha_of.values())
            wait_for(lambda: catalog_jobs(tree) == len(warm) + len(names), 30, "the jobs recorded")
            filler = fill(tree.state)
            for pid in workers:
                os.kill(pid, signal.SIGCONT)
            wait_for(lambda: events(daemon, "disk_full") or daemon.proc.poll() is not None, 30, "disk_full")
            assert daemon.proc.poll() is None, daemon.log_text()[-3000:]
            assert "committing results" in events(daemon, "disk_full")[0]["error"]
            time.sleep(1.0)
            assert tree.quarantine_errors("mix") == []
            # Rolled back: an origin is only removed after the commit that imported it.
            imported = catalog_shas(tree)
            assert all((folder / n).exists() or sha_of[n] in imported for n in names)
            filler.unlink()

            def annotated() -> set[str]:
                return {s["sha256"] for s in tree.manifest_samples("mix") if len(s["annotations"].get("notes", "")) > 100_000}

            wait_for(lambda: shas <= annotated() or daemon.proc.poll() is not None, 60, "all imported and annotated")
            assert daemon.proc.poll() is None, daemon.log_text()[-3000:]
            assert tree.quarantine_errors("mix") == []
            assert not any((folder / n).exists() for n in names)
        finally:
            if daemon.proc.poll() is None:
                for pid in descendants_of(daemon.proc.pid):
                    os.kill(pid, signal.SIGCONT)
            assert daemon.stop() == 0


def catalog_query(tree: Tree, sql: str) -> list[tuple]:
    import sqlite3

    db = sqlite3.connect(f"file:{tree.state / 'catalog.sqlite3'}?mode=ro", uri=True, timeout=5)
    try:
        return db.execute(sql).fetchall()
    except sqlite3.Error:
        return []
    finally:
        db.close()


def catalog_jobs(tree: Tree) -> int:
    return next(iter(catalog_query(tree, "SELECT COUNT(*) FROM jobs")), (0,))[0]


def catalog_shas(tree: Tree) -> set[str]:
    return {row[0] for row in catalog_query(tree, "SELECT sha256 FROM samples")}
