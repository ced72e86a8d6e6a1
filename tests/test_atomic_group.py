"""Write groups: a step's atomic writes are synced together, and a failed sync fails the step."""

from __future__ import annotations

import os
from pathlib import Path

from kellyd.atomic import Unsynced, WriteGroup, atomic_write_bytes, note_kept, write_group
from kellyd.executor import run_durable_step
from kellyd.sample import Sample


def test_new_files_in_a_group_are_visible_at_once_and_synced_by_the_group(tmp_path):
    with write_group() as group:
        atomic_write_bytes(tmp_path / "a" / "one.bin", b"1")
        atomic_write_bytes(tmp_path / "a" / "two.bin", b"2")
        atomic_write_bytes(tmp_path / "b" / "three.bin", b"3")
        assert (tmp_path / "a" / "one.bin").read_bytes() == b"1"
        assert set(group.files) == {str(tmp_path / "a" / "one.bin"), str(tmp_path / "a" / "two.bin"),
                                    str(tmp_path / "b" / "three.bin")}
        assert set(group.folders) == {str(tmp_path / "a"), str(tmp_path / "b")}  # each folder once
        group.sync()
        assert not group.files and not group.folders


def test_a_file_replacing_another_is_synced_before_its_rename_even_in_a_group(tmp_path):
    target = tmp_path / "kept.bin"
    target.write_bytes(b"old")  # a committed sample may point at it
    with write_group() as group:
        atomic_write_bytes(target, b"new")
        assert target.read_bytes() == b"new"
        assert str(target) not in group.files  # already on disk: only its folder waits for the group
        assert set(group.folders) == {str(tmp_path)}


def test_a_file_kept_as_it_was_is_synced_with_the_group(tmp_path):
    kept = tmp_path / "same.bin"
    kept.write_bytes(b"x")
    note_kept(kept)  # outside a group: nothing to remember
    with write_group() as group:
        note_kept(kept)
        assert set(group.files) == {str(kept)}


def test_writes_outside_a_group_are_not_remembered_by_an_earlier_one(tmp_path):
    with write_group() as group:
        pass
    atomic_write_bytes(tmp_path / "later.bin", b"x")
    assert not group.files and (tmp_path / "later.bin").read_bytes() == b"x"


class WritesThenLoses:
    """A step that writes a file which is gone by the time its group is synced."""

    name = "writes"
    version = 1

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def __call__(self, sample: Sample) -> Sample:
        path = self.folder / "out.bin"
        atomic_write_bytes(path, b"data")
        os.unlink(path)
        return sample


class Writes(WritesThenLoses):
    def __call__(self, sample: Sample) -> Sample:
        atomic_write_bytes(self.folder / "out.bin", b"data")
        return sample


def test_a_step_reports_ok_only_once_its_files_are_synced(tmp_path):
    sample = Sample(dataset_id="ds", origin_path=str(tmp_path / "in.mid"))
    assert run_durable_step(Writes(tmp_path / "one"), sample).status == "ok"
    failed = run_durable_step(WritesThenLoses(tmp_path / "two"), sample)
    assert failed.status != "ok" and "No such file" in failed.reason


def test_a_deferred_step_hands_its_unsynced_files_to_whoever_commits_it(tmp_path):
    sample = Sample(dataset_id="ds", origin_path=str(tmp_path / "in.mid"))
    done = run_durable_step(Writes(tmp_path / "one"), sample, defer_sync=True)
    assert done.status == "ok"
    assert done.unsynced.files == (str(tmp_path / "one" / "out.bin"),)
    assert done.unsynced.folders == (str(tmp_path / "one"),)
    # The worker does not sync: a file lost before the commit is the committer's to find.
    assert run_durable_step(WritesThenLoses(tmp_path / "two"), sample, defer_sync=True).status == "ok"
    committer = WriteGroup()
    committer.adopt(done.unsynced)
    committer.adopt(Unsynced(files=(str(tmp_path / "one" / "out.bin"),), folders=(str(tmp_path),)))
    assert list(committer.files) == [str(tmp_path / "one" / "out.bin")]  # each once
    assert list(committer.folders) == [str(tmp_path / "one"), str(tmp_path)]
    committer.sync()
    assert not committer.files and not committer.folders
