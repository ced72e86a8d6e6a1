"""Read and write MIDI files as `Score` values in seconds.

symusic (a C++ parser) does the parsing and the tick-to-second conversion
through the tempo map; it is about two orders of magnitude faster than
pretty_midi on the Groove corpus, which keeps feature extraction cheap.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import symusic

from kellyd.config import LimitsConfig
from kellyd.errors import InvalidInput
from kellyd.limits import check_file_size, check_midi_duration, check_midi_notes, max_bytes_for
from kellyd.music.notes import DEFAULT_TEMPO_BPM, Notes, Score, TempoMap, TimeSignature, Track

MIDI_MAGIC = b"MThd"


def read_score(path: Path | str, *, limits: LimitsConfig | None = None) -> Score:
    """Parse a MIDI file; raise `InvalidInput` with the reason if it is not one.

    With `limits`, at most `limits.max_midi_mb` (or `max_file_mb`) is read, the
    note count is checked before the score is converted to arrays and the
    duration after, so an oversized file costs no more memory than the limits allow.
    """
    # Parse from bytes: symusic's path loader picks the format by file extension,
    # and kellyd detects the kind from content (a MIDI file may be named .wav).
    if limits is None:
        return parse_midi_bytes(Path(path).read_bytes())
    max_bytes, _ = max_bytes_for(limits, "midi")
    with open(path, "rb") as f:
        data = f.read(max_bytes + 1)  # one byte more tells a file that grew past the limit since its stat
    check_file_size(len(data), limits, kind="midi")
    return parse_midi_bytes(data, limits=limits)


def parse_midi_bytes(data: bytes, *, limits: LimitsConfig | None = None) -> Score:
    if data[:4] != MIDI_MAGIC:
        raise InvalidInput(f"not a MIDI file: header is {data[:4]!r}, expected {MIDI_MAGIC!r}")
    try:
        # symusic raises RuntimeError/ValueError on bad data; the conversion can
        # still refuse what it let through (a note ending before it starts).
        tick_score = symusic.Score.from_midi(data)
        if limits is None:
            return score_from_symusic(tick_score)
        # The count is checked before the conversion allocates arrays per note; the
        # duration needs the tempo map, so it is checked on the converted score.
        check_midi_notes(tick_score.note_num(), limits)
        score = score_from_symusic(tick_score)
        check_midi_duration(score.duration_s, limits)
        return score
    except InvalidInput:
        raise
    except Exception as exc:
        raise InvalidInput(f"MIDI does not parse: {exc}") from exc


def score_from_symusic(tick_score: "symusic.Score") -> Score:
    sec = tick_score.to("second")
    tracks = []
    for tr in sec.tracks:
        arr = tr.notes.numpy()
        start = arr["time"].astype(np.float64)
        notes = Notes.from_lists(start, start + arr["duration"].astype(np.float64), arr["pitch"], arr["velocity"])
        tracks.append(Track(name=str(tr.name), program=int(tr.program), is_drum=bool(tr.is_drum), notes=notes))
    tempos = list(sec.tempos)
    if tempos:
        time_s = np.array([float(t.time) for t in tempos])
        bpm = np.array([float(t.qpm) for t in tempos])
        time_s[0] = 0.0
        default_only = bool(len(tempos) == 1 and abs(bpm[0] - DEFAULT_TEMPO_BPM) < 1e-3)
    else:
        time_s, bpm, default_only = np.zeros(1), np.array([DEFAULT_TEMPO_BPM]), True
    sigs = tuple(
        TimeSignature(time_s=float(ts.time), numerator=int(ts.numerator), denominator=int(ts.denominator))
        for ts in sec.time_signatures
    )
    return Score(
        tracks=tuple(tracks),
        tempo=TempoMap(time_s=time_s, bpm=bpm, is_default_only=default_only),
        time_signatures=sigs,
        duration_s=float(sec.end()) if sec.note_num() else 0.0,
        ticks_per_quarter=int(tick_score.ticks_per_quarter),
    )


def write_score(score: Score, path: Path | str) -> None:
    """Write `score` as a type-1 MIDI file with its tempo map and time signatures.

    The write goes to `path` directly; callers that need atomicity write
    `score_midi_bytes(score)` with `kellyd.atomic` instead.
    """
    Path(path).write_bytes(score_midi_bytes(score))


def score_midi_bytes(score: Score) -> bytes:
    """The bytes of `score` as a type-1 MIDI file, serialised in memory (no file, no re-read)."""
    out = symusic.Score(score.ticks_per_quarter, ttype="second")
    for t_s, bpm in zip(score.tempo.time_s, score.tempo.bpm):
        out.tempos.append(symusic.Tempo(float(t_s), qpm=float(bpm), ttype="second"))
    for ts in score.time_signatures:
        out.time_signatures.append(symusic.TimeSignature(ts.time_s, ts.numerator, ts.denominator, ttype="second"))
    for tr in score.tracks:
        st = symusic.Track(name=tr.name, program=tr.program, is_drum=tr.is_drum, ttype="second")
        n = tr.notes
        start_s = np.asarray(n.start_s, dtype=np.float64)
        duration_s = np.maximum(np.asarray(n.end_s, dtype=np.float64) - start_s, 1e-4)
        # One call per track, not one Python object per note; the same bytes as note by note.
        st.notes = symusic.Note.from_numpy(start_s.astype(np.float32), duration_s.astype(np.float32),
                                           np.asarray(n.pitch).astype(np.int8), np.asarray(n.velocity).astype(np.int8),
                                           ttype="second")
        out.tracks.append(st)
    return out.to("tick").dumps_midi()
