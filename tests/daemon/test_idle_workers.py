"""Workers start with the first step and stop after `executor.idle_workers_s` without one."""

from __future__ import annotations

import os

from tests.daemon.attack_helpers import drop_good, manifest_shas
from tests.daemon.harness import DaemonProcess, make_tree, wait_for
from tests.daemon.test_attack_losses import children_of, descendants_of

IDLE_TARGET_BYTES = 150 * 2**20


def workers_of(daemon: DaemonProcess) -> list[int]:
    """Processes below the daemon that are not its own children (the pool's workers, started by the
    forkserver)."""
    own = set(children_of(daemon.proc.pid))
    return [pid for pid in descendants_of(daemon.proc.pid) if pid not in own]


def tree_rss_bytes(daemon: DaemonProcess) -> int:
    """Resident memory of the daemon and every process below it."""
    total = 0
    for pid in [daemon.proc.pid, *descendants_of(daemon.proc.pid)]:
        try:
            with open(f"/proc/{pid}/statm") as f:
                total += int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except FileNotFoundError:
            pass
    return total


def test_workers_start_with_work_and_stop_when_idle(tmp_path):
    tree = make_tree(tmp_path, extra={"executor": {"idle_workers_s": 1.0}})
    daemon = DaemonProcess(tree)
    try:
        daemon.wait_started()
        assert workers_of(daemon) == []  # nothing to do yet: no worker paid for
        first = drop_good(tree, "first.mid")
        wait_for(lambda: first in manifest_shas(tree), 30, "the first file in the manifest")
        wait_for(lambda: not workers_of(daemon), 20, "the idle workers stopped")
        # The daemon logs the retirement once its pool has shut down, a moment after the processes are gone.
        wait_for(lambda: any(e.get("event") == "workers_retired" for e in daemon.log_events()), 10,
                 "workers_retired in the log")
        assert tree_rss_bytes(daemon) < IDLE_TARGET_BYTES
        second = drop_good(tree, "second.mid")  # a new pool starts for it
        wait_for(lambda: second in manifest_shas(tree), 30, "a file dropped after the workers stopped")
    finally:
        assert daemon.stop() == 0
