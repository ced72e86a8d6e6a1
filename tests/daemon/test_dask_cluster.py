"""`[executor] kind = "dask"` against a real cluster: `dask scheduler` and two `dask worker`
processes on 127.0.0.1, the daemon pointed at the scheduler, files dropped into the inbox.

A test step (`tests/daemon/run_marker_handler.py`) marks every run with its file and worker pid
and takes a few seconds on `slow*` files, so a test can kill a worker, or the scheduler, while
that step runs. Workers see the daemon's folders directly (one machine: the shared filesystem is
the local one); the last test hides the datasets folder from a worker in a mount namespace of its
own, as a worker machine without the NFS mount would be.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
from collections import Counter

import pytest

from kellyd.exitcodes import EXIT_CONFIG
from tests.daemon.harness import make_tree, wait_for
from tests.daemon.midi_files import small_midi_bytes, write_small_midis
from tests.daemon.plugged_daemon import PluggedDaemon, run_plugged_cli
from tests.daemon.run_marker_handler import RUNS_DIR_ENV, run_marks

pytest.importorskip("distributed", reason="the Dask tests need kellyd[dask] (in the test extra)")
from tests.daemon.dask_cluster import DaskCluster, open_files  # noqa: E402 - needs distributed

pytestmark = pytest.mark.slow

HANDLERS = {"marks_runs": "tests.daemon.run_marker_handler:MarksEachRun"}
DATASETS = {"mix": {"target_model": "EmotionRecognizer", "chain": ["import", "marks_runs"]}}


@pytest.fixture
def cluster(tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    cluster = DaskCluster(tmp_path, {RUNS_DIR_ENV: str(runs)})
    cluster.runs = runs
    try:
        yield cluster
    finally:
        cluster.close()


def dask_tree(tmp_path, cluster: DaskCluster):
    return make_tree(tmp_path / "tree", datasets=DATASETS, settle_s=0.3,
                     extra={"executor": {"kind": "dask", "address": cluster.address, "workers": 2}})


def catalog_rows(tree, sql: str) -> list[tuple]:
    db = sqlite3.connect(f"file:{tree.state / 'catalog.sqlite3'}?mode=ro", uri=True, timeout=5.0)
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


def job_states(tree) -> dict[str, int]:
    try:
        return dict(catalog_rows(tree, "SELECT state, count(*) FROM jobs GROUP BY state"))
    except sqlite3.OperationalError:  # not created yet
        return {}


def drop_files(tree, *, plain: int, slow: int) -> list[str]:
    folder = tree.inbox / "mix"
    names = [p.name for p in write_small_midis(folder, plain)]
    for index in range(slow):
        (folder / f"slow-{index}.mid").write_bytes(small_midi_bytes(1000 + index))
        names.append(f"slow-{index}.mid")
    return names


def assert_each_sample_once_and_unpaid(tree, count: int) -> None:
    assert catalog_rows(tree, "SELECT count(*), count(DISTINCT sha256) FROM samples") == [(count, count)]
    assert catalog_rows(tree, "SELECT max(attempts) FROM jobs") == [(0,)], "a lost step was charged to its file"
    assert catalog_rows(tree, "SELECT count(*) FROM quarantine") == [(0,)]
    wait_for(lambda: len(tree.manifest_samples("mix")) == count, 30, "the manifest to show every sample")


def assert_one_sample_in_the_dataset(tree) -> None:
    assert catalog_rows(tree, "SELECT count(*) FROM samples") == [(1,)]
    assert catalog_rows(tree, "SELECT count(*) FROM quarantine") == [(0,)]
    wait_for(lambda: len(tree.manifest_samples("mix")) == 1, 30, "the manifest to show the sample")


def test_each_file_runs_once_and_a_killed_worker_costs_nothing(tmp_path, cluster):
    cluster.start_scheduler()
    cluster.add_worker()
    cluster.add_worker()
    cluster.wait_workers(2)
    tree = dask_tree(tmp_path, cluster)
    names = drop_files(tree, plain=5, slow=1)
    daemon = PluggedDaemon(tree, HANDLERS)
    try:
        daemon.wait_started(timeout_s=60)
        assert "dask_connected" in daemon.log_text()
        wait_for(lambda: any(name == "slow-0.mid" for name, _ in run_marks(cluster.runs)), 60, "the slow step to start")
        victim = next(pid for name, pid in run_marks(cluster.runs) if name == "slow-0.mid")
        workers = cluster.worker_pids()
        assert victim in workers, "the step runs in a Dask worker process, not in the daemon"
        # Single writer: the workers never open the catalog; the daemon holds it.
        catalog = str(tree.state / "catalog.sqlite3")
        assert any(f.startswith(catalog) for f in open_files(daemon.proc.pid))
        for pid in workers:
            assert not any(f.startswith(catalog) for f in open_files(pid)), f"worker {pid} opened the catalog"
        os.kill(victim, signal.SIGKILL)  # in the middle of its step
        wait_for(lambda: job_states(tree) == {"done": len(names)}, 60, "every file done")
        marks = run_marks(cluster.runs)
        # Each step runs once, except on the victim: the step it was killed in runs again elsewhere,
        # as may one it had finished whose result was not fetched yet (Dask recomputes a result that
        # is lost with its worker). Nothing runs twice in one process or twice elsewhere.
        on_victim = Counter(name for name, pid in marks if pid == victim)
        elsewhere = Counter(name for name, pid in marks if pid != victim)
        assert set(on_victim) | set(elsewhere) == set(names), marks
        assert max(on_victim.values()) == 1 and max(elsewhere.values()) == 1, marks
        assert on_victim["slow-0.mid"] == elsewhere["slow-0.mid"] == 1, marks
        assert_each_sample_once_and_unpaid(tree, len(names))
        assert catalog_rows(tree, "SELECT count(*) FROM worker_deaths") == [(0,)]
    finally:
        assert daemon.stop() == 0
    assert not list(tree.datasets.glob(".kellyd-probe-*")), "the probe files outlive the daemon"


def test_scheduler_restart_is_survived_and_lost_steps_run_again(tmp_path, cluster):
    cluster.start_scheduler()
    cluster.add_worker()
    cluster.add_worker()
    cluster.wait_workers(2)
    tree = dask_tree(tmp_path, cluster)
    names = drop_files(tree, plain=3, slow=2)
    daemon = PluggedDaemon(tree, HANDLERS)
    try:
        daemon.wait_started(timeout_s=60)
        wait_for(lambda: any(name.startswith("slow") for name, _ in run_marks(cluster.runs)), 60, "a slow step")
        in_flight = {name for name, _ in run_marks(cluster.runs) if name.startswith("slow")}
        cluster.kill_scheduler()
        # Workers leave when their scheduler goes; a supervisor (systemd) starts them again.
        cluster.start_scheduler()
        cluster.add_worker()
        cluster.add_worker()
        wait_for(lambda: job_states(tree) == {"done": len(names)}, 90, "every file done after the restart")
        assert "step_resubmitted" in daemon.log_text()
        runs = Counter(name for name, _ in run_marks(cluster.runs))
        for name in in_flight:
            assert runs[name] >= 2, f"{name} was in flight at the restart and did not run again: {runs}"
        assert set(runs) == set(names)
        assert_each_sample_once_and_unpaid(tree, len(names))
    finally:
        assert daemon.stop() == 0


def hidden_datasets_prefix(tree) -> tuple[str, ...]:
    """Run a command in a mount namespace where the datasets folder is an empty tmpfs: a worker machine
    without the shared mount."""
    return ("unshare", "-rm", "sh", "-c", f'mount -t tmpfs none "{tree.datasets}" && exec "$0" "$@"')


def can_unshare() -> bool:
    try:
        return subprocess.run(["unshare", "-rm", "true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.mark.skipif(not can_unshare(), reason="needs unprivileged mount namespaces (unshare -rm)")
def test_start_fails_clearly_when_a_worker_does_not_see_the_datasets(tmp_path, cluster):
    tree = dask_tree(tmp_path, cluster)
    cluster.start_scheduler()
    cluster.add_worker()
    cluster.add_worker(prefix=hidden_datasets_prefix(tree))
    cluster.wait_workers(2)
    (tree.inbox / "mix" / "a.mid").write_bytes(small_midi_bytes(7))
    done = run_plugged_cli(tree, HANDLERS, "run", timeout_s=60)
    assert done.returncode == EXIT_CONFIG, done.stderr[-3000:]
    assert "1 of 2 Dask workers do not see the daemon's folders" in done.stderr
    assert str(tree.datasets) in done.stderr and "NFS" in done.stderr
    assert (tree.inbox / "mix" / "a.mid").exists(), "nothing was imported"
    assert not list(tree.datasets.glob(".kellyd-probe-*")) and not list(tree.inbox.glob(".kellyd-probe-*"))


@pytest.mark.skipif(not can_unshare(), reason="needs unprivileged mount namespaces (unshare -rm)")
def test_a_worker_joining_later_without_the_folders_gets_retries_naming_it(tmp_path, cluster):
    tree = dask_tree(tmp_path, cluster)
    cluster.start_scheduler()
    good = cluster.add_worker()
    cluster.wait_workers(1)
    daemon = PluggedDaemon(tree, HANDLERS)
    try:
        daemon.wait_started(timeout_s=60)  # the start-up probe passed: the one worker sees the folders
        os.killpg(good.pid, signal.SIGKILL)
        good.wait()
        blind = cluster.add_worker(prefix=hidden_datasets_prefix(tree))
        (tree.inbox / "mix" / "a.mid").write_bytes(small_midi_bytes(11))

        def refused_by_the_blind_worker() -> bool:
            rows = catalog_rows(tree, "SELECT attempts, error FROM jobs") if job_states(tree) else []
            return any(attempts >= 1 and "does not see kellyd's shared folders" in (error or "")
                       for attempts, error in rows)

        wait_for(refused_by_the_blind_worker, 60, "a retry naming the blind worker")
        assert (tree.inbox / "mix" / "a.mid").exists() and job_states(tree) == {"pending": 1}
        os.killpg(blind.pid, signal.SIGKILL)
        blind.wait()
        cluster.add_worker()  # the mount is fixed: the retry runs and the file arrives
        wait_for(lambda: job_states(tree) == {"done": 1}, 60, "the file imported after the retry")
        assert_one_sample_in_the_dataset(tree)
    finally:
        assert daemon.stop() == 0
