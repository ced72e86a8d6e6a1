"""Writing generated files: MIDI bytes in memory, written atomically and only when changed.

Shared by the synthesizer and the augment step. (`midi_bytes` belongs next to
`midi_io.write_score` and `write_if_changed` next to `kellyd.atomic`, should
those modules grow them.)
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from kellyd.atomic import atomic_write_bytes
from kellyd.music.midi_io import write_score
from kellyd.music.notes import Score


def midi_bytes(score: Score) -> bytes:
    """The bytes `write_score` produces for `score` (the same score always gives the same bytes)."""
    with tempfile.TemporaryDirectory(prefix="kellyd-midi-") as folder:
        path = Path(folder) / "score.mid"
        write_score(score, path)
        return path.read_bytes()


def write_if_changed(path: Path, data: bytes) -> None:
    """Write `data` atomically unless `path` already holds exactly these bytes (a re-run)."""
    try:
        if path.stat().st_size == len(data) and path.read_bytes() == data:
            return
    except FileNotFoundError:
        pass
    atomic_write_bytes(path, data)
