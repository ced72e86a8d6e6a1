"""Pitch classes: names, and how long each pitch class sounds in each time frame.

Every label kellyd writes spells a pitch class one way, the project's canonical
spelling `kellyd.taxonomy.PITCH_CLASS_NAMES` (C C# D Eb E F F# G Ab A Bb B),
whatever the key: the same key or chord root is then the same label whichever
file, folder or extractor it came from. Parsing accepts any spelling
(`Gb`, `B#`, `Cb`, `Ebb`...).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from kellyd.music.notes import Notes
from kellyd.taxonomy import PITCH_CLASS_NAMES

Mode = Literal["major", "minor"]

_NATURALS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}


def pitch_name(pc: int) -> str:
    """Canonical name of pitch class `pc` (0..11), e.g. 6 -> "F#", 3 -> "Eb"."""
    _check_pc(pc)
    return PITCH_CLASS_NAMES[int(pc)]


def parse_pitch_name(name: str) -> int:
    """Pitch class of a name such as "C", "F#", "Bb", "Cb", "Ebb" (case of the letter ignored)."""
    if not name or name[0].upper() not in _NATURALS:
        raise ValueError(f"not a pitch name: {name!r}")
    pc = _NATURALS[name[0].upper()]
    for ch in name[1:]:
        if ch == "#":
            pc += 1
        elif ch == "b":
            pc -= 1
        else:
            raise ValueError(f"not a pitch name: {name!r} (unexpected {ch!r})")
    return pc % 12


def _check_pc(pc: int) -> None:
    if not 0 <= int(pc) < 12:
        raise ValueError(f"pitch class must be in 0..11, got {pc!r}")


def expand_frame_runs(first: np.ndarray, count: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(item index, frame index) pairs for items covering frames first[i] .. first[i] + count[i] - 1.

    The vectorised form of `for i: for f in range(first[i], first[i] + count[i])`;
    a count <= 0 gives no pair.
    """
    count = np.maximum(np.asarray(count, dtype=np.int64), 0)
    item = np.repeat(np.arange(len(count)), count)
    run_start = np.cumsum(count) - count
    return item, np.asarray(first, dtype=np.int64)[item] + (np.arange(len(item)) - run_start[item])


def _note_frame_overlaps(notes: Notes, boundaries_s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For every (note, frame) pair that overlaps: note index, frame index, overlap in seconds."""
    n_frames = len(boundaries_s) - 1
    if len(notes) == 0 or n_frames <= 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0)
    first = np.clip(np.searchsorted(boundaries_s, notes.start_s, side="right") - 1, 0, n_frames - 1)
    last = np.clip(np.searchsorted(boundaries_s, notes.end_s, side="left") - 1, first, n_frames - 1)
    note_idx, frame_idx = expand_frame_runs(first, last - first + 1)
    lo = np.maximum(notes.start_s[note_idx], boundaries_s[frame_idx])
    hi = np.minimum(notes.end_s[note_idx], boundaries_s[frame_idx + 1])
    return note_idx, frame_idx, np.maximum(hi - lo, 0.0)


def pitch_class_time(notes: Notes, boundaries_s: np.ndarray) -> np.ndarray:
    """(m, 12) seconds each pitch class sounds inside each of the m frames between `boundaries_s` (m+1,).

    A note shorter than a millisecond counts as a millisecond in the frame of its onset.
    """
    boundaries_s = np.asarray(boundaries_s, dtype=np.float64)
    n_frames = max(len(boundaries_s) - 1, 0)
    note_idx, frame_idx, overlap = _note_frame_overlaps(notes, boundaries_s)
    overlap = np.maximum(overlap, 1e-3 * (notes.duration_s[note_idx] < 1e-3)) if len(note_idx) else overlap
    cell = frame_idx * 12 + notes.pitch[note_idx].astype(np.int64) % 12
    return np.bincount(cell, weights=overlap, minlength=n_frames * 12).reshape(n_frames, 12)


def bass_pitch_class(notes: Notes, boundaries_s: np.ndarray, min_share: float = 0.25) -> np.ndarray:
    """(m,) pitch class of the lowest note sounding for at least `min_share` of each frame; -1 if none."""
    boundaries_s = np.asarray(boundaries_s, dtype=np.float64)
    n_frames = max(len(boundaries_s) - 1, 0)
    note_idx, frame_idx, overlap = _note_frame_overlaps(notes, boundaries_s)
    bass = np.full(n_frames, 128, dtype=np.int64)
    if len(note_idx):
        frame_len = np.diff(boundaries_s)[frame_idx]
        held = overlap >= min_share * frame_len
        np.minimum.at(bass, frame_idx[held], notes.pitch[note_idx[held]].astype(np.int64))
    return np.where(bass < 128, bass % 12, -1)
