"""Small, distinct, valid MIDI files written byte by byte, for tests and benchmarks that need many.

Each index gives other pitches, so every file has its own content (its own sample in a dataset);
three notes in 48 pitches each give 110,592 distinct files.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

TICKS_PER_BEAT = 480
PITCHES = 48
LOWEST_PITCH = 36


def var_len(value: int) -> bytes:
    """A MIDI variable-length quantity."""
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def small_midi_bytes(index: int, *, text: str = "") -> bytes:
    """A format-0 MIDI file of four quarter notes whose pitches spell `index` (0 <= index < 48**3);
    `text` goes into a text meta event (a marker a test can search for)."""
    if not 0 <= index < PITCHES ** 3:
        raise ValueError(f"index must be in [0, {PITCHES ** 3}), got {index}")
    pitches = [LOWEST_PITCH + (index // PITCHES ** k) % PITCHES for k in range(3)] + [LOWEST_PITCH + 24]
    events = b"\x00\xff\x51\x03\x07\xa1\x20"  # tempo 500,000 us per beat (120 bpm)
    if text:
        encoded = text.encode("utf-8")
        events += b"\x00\xff\x01" + var_len(len(encoded)) + encoded
    for pitch in pitches:
        events += b"\x00" + bytes([0x90, pitch, 80])
        events += var_len(TICKS_PER_BEAT) + bytes([0x80, pitch, 0])
    events += b"\x00\xff\x2f\x00"
    header = b"MThd" + struct.pack(">IHHH", 6, 0, 1, TICKS_PER_BEAT)
    return header + b"MTrk" + struct.pack(">I", len(events)) + events


def write_small_midis(folder: Path, count: int, *, start: int = 0, age_s: float = 0.0) -> list[Path]:
    """`count` distinct files `folder/f<index>.mid`; with `age_s`, their mtimes lie that far in the past."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(start, start + count):
        path = folder / f"f{index:05d}.mid"
        path.write_bytes(small_midi_bytes(index))
        if age_s:
            st = path.stat()
            os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns - int(age_s * 1e9)))
        paths.append(path)
    return paths
