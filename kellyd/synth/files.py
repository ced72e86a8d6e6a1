"""Writing generated files: the MIDI bytes first, then atomically, and only when they changed.

Shared by the synthesizer and the augment step. `write_score` writes to a
path, so `midi_bytes` lets it write a temporary file in the destination folder,
named the way `kellyd.atomic` names its temp files (a crash leaves nothing that
the start-up sweep of stale temp files would not remove), reads it and removes it.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from kellyd.atomic import TEMP_PREFIX, TEMP_SUFFIX, atomic_write_bytes
from kellyd.music.midi_io import write_score
from kellyd.music.notes import Score


def midi_bytes(score: Score, *, beside: Path) -> bytes:
    """The bytes `write_score` produces for `score` (the same score always gives the same bytes).

    `beside` is the file these bytes are meant for; its folder is created if needed.
    """
    beside.parent.mkdir(parents=True, exist_ok=True)
    fd, scratch = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{beside.name}.", suffix=TEMP_SUFFIX, dir=beside.parent)
    os.close(fd)
    try:
        write_score(score, scratch)
        return Path(scratch).read_bytes()
    finally:
        os.unlink(scratch)


def write_if_changed(path: Path, data: bytes) -> None:
    """Write `data` atomically unless `path` already holds exactly these bytes (a re-run)."""
    try:
        if path.stat().st_size == len(data) and path.read_bytes() == data:
            return
    except FileNotFoundError:
        pass
    atomic_write_bytes(path, data)
