"""A full disk is a pause: which errors count as one, and when work resumes (on a real tmpfs)."""

from __future__ import annotations

import errno
import os
import sqlite3
import subprocess

import pytest

from kellyd.diskspace import RESUME_MARGIN_BYTES, SpaceWatch, free_bytes, is_disk_full


@pytest.mark.parametrize("exc, full", [
    (OSError(errno.ENOSPC, "No space left on device"), True),
    (OSError(errno.EDQUOT, "Disk quota exceeded"), True),
    (sqlite3.OperationalError("database or disk is full"), True),
    (OSError(errno.EACCES, "Permission denied"), False),
    (sqlite3.OperationalError("database is locked"), False),
    (ValueError("No space left on device"), False),
])
def test_is_disk_full(exc, full):
    assert is_disk_full(exc) is full


def test_a_disk_full_error_is_tolerated_and_pauses_while_others_escape(tmp_path):
    watch = SpaceWatch([tmp_path])
    undone = []
    with watch.tolerated("writing", now_s=0.0, undo=lambda: undone.append(True)):
        raise OSError(errno.ENOSPC, "No space left on device")
    assert watch.paused and undone == [True] and watch.pauses == 1
    with pytest.raises(OSError):
        with watch.tolerated("writing", now_s=0.0):
            raise OSError(errno.EACCES, "Permission denied")
    # The free space has not grown: still paused, and no second pause is counted.
    assert watch.poll(now_s=10.0) is True and watch.pauses == 1


def test_work_resumes_once_space_is_freed_and_not_before(tmp_path):
    folder = tmp_path / "small"
    folder.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(folder)], capture_output=True,
                             text=True)
    if mounted.returncode != 0:
        pytest.skip(f"this machine may not mount a tmpfs: {mounted.stderr.strip()}")
    try:
        filler = folder / "filler"
        with open(filler, "wb", buffering=0) as f, pytest.raises(OSError):
            while True:
                f.write(b"\0" * (1 << 16))
        resumed = []
        watch = SpaceWatch([folder], check_every_s=2.0, on_resume=lambda: resumed.append(True))
        watch.note_full("ENOSPC", now_s=100.0)
        assert watch.poll(now_s=101.0) and watch.poll(now_s=102.5)
        filler.unlink()
        assert free_bytes(folder) >= RESUME_MARGIN_BYTES
        assert watch.poll(now_s=103.0) is True  # measured only every check_every_s
        assert watch.poll(now_s=104.6) is False and resumed == [True]
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)
