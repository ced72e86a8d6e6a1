"""Finished steps are made durable together off the main loop, and a step whose files fail fails alone."""

from __future__ import annotations

import shutil
from concurrent.futures import Future, wait

from kellyd.atomic import atomic_write_bytes, write_group
from kellyd.durable import SyncLane, needs_sync, sync_steps
from kellyd.outcome import StepOutcome


def finished_step(folder, names=("a.bin", "b.bin")) -> Future:
    """A step future as a local worker returns it: ok, its files written and left unsynced."""
    with write_group() as group:
        for name in names:
            atomic_write_bytes(folder / name, name.encode())
        unsynced = group.unsynced()
    step = Future()
    step.set_result(StepOutcome("ok", elapsed_s=0.5, unsynced=unsynced))
    return step


def test_steps_whose_files_are_there_sync_together_and_a_lost_folder_fails_only_its_step(tmp_path):
    kept = [finished_step(tmp_path / f"kept{i}") for i in range(3)]
    lost = finished_step(tmp_path / "lost")
    assert all(needs_sync(s) for s in [*kept, lost])
    assert sync_steps(kept) == {}
    shutil.rmtree(tmp_path / "lost")
    failed = sync_steps([kept[0], lost, kept[1]])
    assert list(failed) == [lost]
    assert failed[lost].status == "error" and "No such file" in failed[lost].reason
    assert failed[lost].elapsed_s == 0.5


def test_steps_without_files_to_sync_are_not_held_back(tmp_path):
    synced_by_worker, wrote_nothing, failed, broken = Future(), Future(), Future(), Future()
    synced_by_worker.set_result(StepOutcome("ok"))  # a Dask worker synced its own files
    with write_group() as group:  # a step that only reads (annotate)
        wrote_nothing.set_result(StepOutcome("ok", unsynced=group.unsynced()))
    failed.set_result(StepOutcome("invalid", reason="not MIDI"))
    broken.set_exception(RuntimeError("pool broke"))
    assert not any(needs_sync(s) for s in (synced_by_worker, wrote_nothing, failed, broken, Future()))


def test_the_lane_gives_back_each_batch_once_with_its_failures(tmp_path):
    lane = SyncLane()
    try:
        first = [finished_step(tmp_path / "one"), finished_step(tmp_path / "two")]
        lane.start(first)
        assert lane.steps() == set(first) and len(lane.syncs()) == 1
        wait(lane.syncs(), timeout=60)
        steps, failed = lane.finished(lane.syncs())
        assert steps == first and failed == {}
        assert lane.steps() == set() and lane.syncs() == []
        gone = finished_step(tmp_path / "gone")
        shutil.rmtree(tmp_path / "gone")
        lane.start([gone])
        wait(lane.syncs(), timeout=60)
        steps, failed = lane.finished(lane.syncs())
        assert steps == [gone] and failed[gone].status == "error"
    finally:
        lane.shutdown()
