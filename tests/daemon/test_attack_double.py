"""Attack: work done twice. Real daemon subprocess, real folders, real renames and signals, real SQLite.

Each file that arrives must get exactly one job, however it arrives (a folder renamed in at once with
old mtimes, a burst of events delivered after SIGCONT, a restart with files waiting), and the counts
come from the catalog (read-only) and from the daemon's log events.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Iterator

import pytest

from kellyd.exitcodes import EXIT_NO_DAEMON, EXIT_OK
from kellyd.runner import PAUSE_AFTER_COMMIT_ENV
from tests.daemon.harness import DaemonProcess, Tree, kill9_at_hook, make_tree, run_cli, wait_for
from tests.daemon.midi_files import small_midi_bytes, write_small_midis

pytestmark = pytest.mark.slow

N_FILES = 50
OLD_S = 7 * 24 * 3600.0  # a week: files copied with their old mtimes (`mv`, `cp -p`, `rsync -t`)
QUIET_S = 3.0  # after the last sample: long enough for a late second job to show up


def catalog_rows(tree: Tree, query: str, args: tuple = ()) -> list[tuple]:
    path = tree.state / "catalog.sqlite3"
    if not path.exists():
        return []
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        return db.execute(query, args).fetchall()
    except sqlite3.OperationalError:
        return []
    finally:
        db.close()


def jobs(tree: Tree) -> list[tuple[str, str, str | None]]:
    """(origin_path, state, error) of every file job (the chain starts with import)."""
    return catalog_rows(tree, "SELECT origin_path, state, error FROM jobs WHERE chain LIKE '[\"import\"%'")


def sample_count(tree: Tree, dataset_id: str = "mix") -> int:
    rows = catalog_rows(tree, "SELECT COUNT(*) FROM samples WHERE dataset_id = ?", (dataset_id,))
    return rows[0][0] if rows else 0


def pending_count(tree: Tree) -> int:
    rows = catalog_rows(tree, "SELECT COUNT(*) FROM jobs WHERE state = 'pending'")
    return rows[0][0] if rows else 0


def inbox_files(tree: Tree) -> list[Path]:
    return [p for p in tree.inbox.rglob("*") if p.is_file()]


def status_json(tree: Tree) -> dict:
    """The state as `status --json` prints it, whether or not a daemon runs (it exits 7 when none does)."""
    proc = run_cli(tree, "status", "--json")
    assert proc.returncode in (EXIT_OK, EXIT_NO_DAEMON), proc.stderr
    return json.loads(proc.stdout)


def wait_all_done(tree: Tree, daemon: DaemonProcess, samples: int, *, timeout_s: float = 90.0) -> None:
    def done() -> bool:
        return sample_count(tree) == samples and pending_count(tree) == 0 and not inbox_files(tree)

    try:
        wait_for(done, timeout_s, f"{samples} samples, no pending job, an empty inbox")
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {sample_count(tree)} samples, {pending_count(tree)} pending, inbox "
                             f"{[str(p.relative_to(tree.inbox)) for p in inbox_files(tree)][:5]}, jobs "
                             f"{Counter(state for _p, state, _e in jobs(tree))}; daemon exit code "
                             f"{daemon.proc.poll()}, log tail:\n{daemon.log_text()[-2000:]}") from None
    time.sleep(QUIET_S)


def assert_each_path_once(tree: Tree, daemon_logs: list[list[dict]], n: int, *, killed: bool = False) -> None:
    """n file jobs, one per path, all done; no quarantine entry for status or validation reports to count.
    `killed`: a daemon was killed with SIGKILL, perhaps after a commit and before its log lines (which are
    written once the commit is made, so a line may be missing but never says what did not happen)."""
    rows = jobs(tree)
    per_path = Counter(path for path, _state, _error in rows)
    twice = {p: c for p, c in per_path.items() if c > 1}
    assert not twice, f"{len(twice)} paths got more than one job, e.g. {list(twice.items())[:3]}: {rows[:5]}"
    assert len(rows) == n, f"{len(rows)} file jobs for {n} files"
    assert Counter(state for _p, state, _e in rows) == {"done": n}, rows
    assert sample_count(tree) == n
    events = [e for log in daemon_logs for e in log]
    names = Counter(e.get("event") for e in events)
    done_jobs = Counter(e.get("job") for e in events if e.get("event") == "sample_done")
    assert all(count == 1 for count in done_jobs.values()), done_jobs.most_common(3)
    if killed:
        assert len(done_jobs) <= n, names
    else:
        assert len(done_jobs) == n, names
    assert names["quarantined"] == 0 and names["duplicate"] == 0, [e for e in events if e.get("event") in
                                                                     ("quarantined", "duplicate")][:3]
    status = status_json(tree)
    assert status["quarantined"] == 0 and status["queue"] == 0, status
    assert catalog_rows(tree, "SELECT COUNT(*) FROM quarantine") == [(0,)]
    assert not list((tree.state / "quarantine").rglob("*.error.json"))


@contextlib.contextmanager
def running(tree: Tree) -> Iterator[DaemonProcess]:
    daemon = DaemonProcess(tree)
    try:
        daemon.wait_started()
        yield daemon
    finally:
        daemon.stop()


def test_a_folder_of_old_files_moved_in_at_once_is_processed_once(tmp_path):
    tree = make_tree(tmp_path)
    staged = tmp_path / "staged"
    write_small_midis(staged / "happy", N_FILES, age_s=OLD_S)
    with running(tree) as daemon:
        time.sleep(1.0)  # idle: the start-up scan has found nothing
        os.rename(staged, tree.inbox / "mix" / "batch")  # one rename: `mv folder inbox/mix/`
        wait_all_done(tree, daemon, N_FILES)
        logs = [daemon.log_events()]
    assert_each_path_once(tree, logs, N_FILES)


def test_files_dropped_while_the_daemon_is_stopped_by_sigstop_are_processed_once(tmp_path):
    tree = make_tree(tmp_path)
    with running(tree) as daemon:
        time.sleep(1.0)
        daemon.signal(signal.SIGSTOP)
        try:
            write_small_midis(tree.inbox / "mix" / "sad", N_FILES)
            time.sleep(1.0)  # the files are older than settle_s when the daemon wakes up
        finally:
            daemon.signal(signal.SIGCONT)
        wait_all_done(tree, daemon, N_FILES)
        logs = [daemon.log_events()]
    assert_each_path_once(tree, logs, N_FILES)


def test_restarts_with_files_waiting_process_nothing_twice(tmp_path):
    # Rescans every 0.3 s while new files settle: each scan reports files whose jobs it cannot know of yet.
    tree = make_tree(tmp_path, rescan_s=0.3)
    write_small_midis(tree.inbox / "mix" / "happy", N_FILES // 2, age_s=OLD_S)
    write_small_midis(tree.inbox / "mix" / "sad", N_FILES - N_FILES // 2, start=N_FILES // 2)
    first = DaemonProcess(tree)  # starts with the files present, is killed part way through
    try:
        first.wait_started()
        wait_for(lambda: 0 < sample_count(tree), 60, "a first sample")
    finally:
        first.kill9()
    logs = [first.log_events()]
    with running(tree) as second:  # resumes: the pending jobs, the files not seen yet
        wait_all_done(tree, second, N_FILES)
        logs.append(second.log_events())
    with running(tree) as third:  # nothing left to do
        time.sleep(QUIET_S)
        logs.append(third.log_events())
    assert_each_path_once(tree, logs, N_FILES, killed=True)


def test_a_kill_between_an_import_commit_and_the_origin_removal_imports_nothing_twice(tmp_path):
    tree = make_tree(tmp_path, rescan_s=0.3)
    paths = write_small_midis(tree.inbox / "mix" / "happy", 3, age_s=OLD_S)
    first = kill9_at_hook(tree, PAUSE_AFTER_COMMIT_ENV, "import", tmp_path / "paused-after-commit")
    # The kill landed after the commit and before the origin's removal: imported, still in the inbox.
    imported = {row[0] for row in catalog_rows(tree, "SELECT origin_path FROM jobs WHERE step > 0")}
    assert imported and all(Path(p).exists() for p in imported), imported
    logs = [first.log_events()]
    with running(tree) as second:
        wait_all_done(tree, second, len(paths))
        events = second.log_events()
        logs.append(events)
    assert not any(p.exists() for p in paths)
    finished = [e for e in events if e.get("event") == "interrupted_moves_finished"]
    assert [e["origins_removed"] for e in finished] == [len(imported)], finished
    assert catalog_rows(tree, "SELECT path FROM files") == []  # the inbox's files are all gone, and forgotten
    assert_each_path_once(tree, logs, len(paths), killed=True)


# -- an inbox folder the daemon cannot write ---------------------------------------------------------


@contextlib.contextmanager
def read_only_folder(folder: Path) -> Iterator[str]:
    """Make `folder` refuse removals even to root: a read-only bind mount, else the immutable flag."""
    if os.geteuid() != 0:
        os.chmod(folder, 0o555)
        try:
            yield "chmod 0555"
        finally:
            os.chmod(folder, 0o755)
        return
    mounted = subprocess.run(["mount", "--bind", "-o", "ro", str(folder), str(folder)], capture_output=True)
    if mounted.returncode == 0 and _refuses_writes(folder):
        try:
            yield "read-only bind mount"
        finally:
            subprocess.run(["umount", str(folder)], check=True)
        return
    if mounted.returncode == 0:
        subprocess.run(["umount", str(folder)], check=True)
    immutable = subprocess.run(["chattr", "+i", str(folder)], capture_output=True)
    if immutable.returncode == 0 and _refuses_writes(folder):
        try:
            yield "chattr +i"
        finally:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
        return
    if immutable.returncode == 0:
        subprocess.run(["chattr", "-i", str(folder)], check=True)
    pytest.skip("running as root without a way to make a folder read-only: mount --bind failed "
                f"({mounted.stderr.decode().strip()!r}) and chattr +i failed ({immutable.stderr.decode().strip()!r})")


def _refuses_writes(folder: Path) -> bool:
    probe = folder / ".write-probe"
    try:
        probe.write_bytes(b"")
    except OSError:
        return True
    probe.unlink()
    return False


def test_a_file_in_a_folder_the_daemon_cannot_write_is_imported_once_with_one_warning(tmp_path):
    tree = make_tree(tmp_path, rescan_s=0.5)
    folder = tree.inbox / "mix" / "calm"
    (path,) = write_small_midis(folder, 1, age_s=OLD_S)
    with read_only_folder(folder):
        with running(tree) as daemon:
            wait_for(lambda: sample_count(tree) == 1 and pending_count(tree) == 0, 60, "the sample")
            time.sleep(4.0)  # several rescans, each of which finds the file still there
            events = daemon.log_events()
        assert path.exists()  # the daemon could not move it, and nothing else removed it
    rows = jobs(tree)
    assert rows == [(str(path), "done", None)], rows
    warnings = [e for e in events if e.get("event") == "origin_not_removed"]
    assert len(warnings) == 1 and warnings[0]["path"] == str(path), warnings
    assert Counter(e.get("event") for e in events)["duplicate"] == 0
    assert status_json(tree)["quarantined"] == 0


# -- a raw file deleted by a user ----------------------------------------------------------------------


@pytest.mark.parametrize("redrop_as", ["happy/a.mid", "sad/again.mid"], ids=["same-name", "other-name"])
def test_dropping_a_file_again_restores_its_deleted_raw_copy(tmp_path, redrop_as):
    tree = make_tree(tmp_path)
    content = small_midi_bytes(7)
    with running(tree) as daemon:
        first = tree.inbox / "mix" / "happy" / "a.mid"
        first.parent.mkdir(parents=True)
        first.write_bytes(content)
        wait_for(lambda: len(tree.manifest_samples("mix")) == 1 and not first.exists(), 60, "the sample")
        (sample,) = tree.manifest_samples("mix")
        raw = tree.datasets / "mix" / sample["file_path"]
        assert raw.read_bytes() == content
        raw.unlink()  # a user cleans up by hand

        again = tree.inbox / "mix" / redrop_as
        again.parent.mkdir(parents=True, exist_ok=True)
        again.write_bytes(content)
        wait_for(lambda: raw.exists() and not again.exists() and pending_count(tree) == 0, 60,
                 "the raw copy restored")
        time.sleep(1.0)
        events = daemon.log_events()
    assert raw.read_bytes() == content
    (after,) = tree.manifest_samples("mix")
    assert after["file_path"] == sample["file_path"] and after["sha256"] == sample["sha256"]
    assert sorted(after["original_names"]) == sorted({"a.mid", Path(redrop_as).name})
    leftovers = sorted(p.relative_to(tree.datasets) for p in (tree.datasets / "mix" / "raw").rglob("*.mid"))
    assert leftovers == [Path("mix") / sample["file_path"]]
    restored = [e for e in events if e.get("event") == "raw_file_restored"]
    if redrop_as == "happy/a.mid":  # the import step itself wrote the missing file at its own name
        assert restored == [], restored
    else:  # the new copy, imported under another name, was moved to where the sample's file was
        assert len(restored) == 1 and restored[0]["sample_id"] == sample["sample_id"], restored
    assert status_json(tree)["quarantined"] == 0
