"""Writing generated files: the MIDI bytes first, then atomically, and only when they changed.

Shared by the synthesizer and the augment step. The bytes are serialised in
memory (`score_midi_bytes`): no scratch file is written and read back.
"""

from __future__ import annotations

from pathlib import Path

from kellyd.atomic import atomic_write_bytes, note_kept
from kellyd.music.midi_io import score_midi_bytes
from kellyd.music.notes import Score


def midi_bytes(score: Score, *, beside: Path) -> bytes:
    """The MIDI bytes of `score` (the same score always gives the same bytes), serialised in memory.

    `beside` is the file these bytes are meant for; its folder is created if needed.
    """
    beside.parent.mkdir(parents=True, exist_ok=True)
    return score_midi_bytes(score)


def write_if_changed(path: Path, data: bytes) -> None:
    """Write `data` atomically unless `path` already holds exactly these bytes (a re-run)."""
    try:
        if path.stat().st_size == len(data) and path.read_bytes() == data:
            note_kept(path)  # a killed earlier run may have left it unsynced
            return
    except FileNotFoundError:
        pass
    atomic_write_bytes(path, data)
