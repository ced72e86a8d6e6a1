"""Key and chords of a song from constant-Q chroma, and the theory layer on top of them.

Chroma: the log-compressed CQT (three bins per semitone, tuned to the
recording) summed to semitones; each semitone then gathers its own first
`N_HARMONICS` partials (harmonic summation: the fundamental of a note collects
the energy its overtones spread over the fifth and the third above, so a C
piano note counts more as C than as G or E); semitones between
`TREBLE_MIDI_RANGE` fold into the chroma, those in `BASS_MIDI_RANGE` into a
bass chroma. Both are averaged between beats.

Chords: `kellyd.music.chords.detect_chords` (the templates, bass bonus and
Viterbi smoothing the MIDI side uses) on the beat chroma, with each beat's
chroma stretched so its quietest pitch classes count as absent; the bass
pitch class is the bass chroma's peak when it stands out.

Key: the global key from `kellyd.music.audio_key` (the clip features' estimator:
overtones taken out, profile correlation, segment votes) on the CQT's semitones;
section keys from `kellyd.music.key.key_segments` over the bars' chroma. Roman numerals,
cadences and the progression's complexity come from `kellyd.music.chords`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kellyd.music import chords as chord_mod
from kellyd.music.audio_key import chroma_from_semitones, estimate_key_from_frames
from kellyd.music.key import KeyEstimate, KeySegment, key_segments
from kellyd.song.frontend import CQT_BINS_PER_SEMITONE, CQT_FMIN_MIDI, SongSignal

N_HARMONICS = 4
HARMONIC_DECAY = 0.6
TREBLE_MIDI_RANGE = (40, 84)
BASS_MIDI_RANGE = (28, 55)
KEY_MIDI_RANGE = (36, 96)
LOG_COMPRESSION = 10.0
# Pitch classes below this share of a beat's chroma range count as absent for the chord templates.
CHORD_FLOOR_SHARE = 0.2
# Overtones and passing notes fill in a seventh or a suspension in audio chroma: such chords must
# beat the triad by this much (cosine units). Tuned on rendered POP909 (bench/accuracy_song.py).
AUDIO_QUALITY_PENALTY = {"maj7": 0.1, "min7": 0.1, "7": 0.1, "hdim7": 0.1, "dim7": 0.1, "sus2": 0.2, "sus4": 0.2}
# A beat whose chroma range is below this share of the song's median beat is silence for the chords.
QUIET_BEAT_SHARE = 0.25
# The bass chroma's peak names the bass when it holds at least this share of the bass energy.
BASS_PEAK_SHARE = 0.2


@dataclass(frozen=True)
class SongChord:
    start_s: float
    end_s: float
    label: str
    roman: str | None

    def to_json(self) -> dict:
        return {"start_s": round(self.start_s, 3), "end_s": round(self.end_s, 3), "label": self.label,
                "roman": self.roman}


@dataclass(frozen=True)
class SongCadence:
    """A cadence arriving at `time_s` (the start of its second chord)."""

    time_s: float
    kind: str
    numerals: tuple[str, str]

    def to_json(self) -> dict:
        return {"time_s": round(self.time_s, 3), "kind": self.kind, "numerals": list(self.numerals)}


@dataclass(frozen=True)
class SongHarmony:
    key: KeyEstimate | None
    section_keys: tuple[KeySegment, ...]
    chords: tuple[SongChord, ...]
    cadences: tuple[SongCadence, ...]
    complexity: chord_mod.ProgressionComplexity
    beat_chroma: np.ndarray  # (12, n_beats)


def semitone_salience(signal: SongSignal) -> np.ndarray:
    """(84, F) harmonic-summed salience of each semitone from C1, per CQT frame.

    (Taking the overtones out first, as the key does, loses chord tones that coincide with a
    lower note's partials: chord WCSR majmin on rendered POP909 fell from 0.85 to 0.83.)"""
    amplitude = 10.0 ** (signal.cqt_db.astype(np.float64) / 20.0)
    semis = _semitones(np.log1p(LOG_COMPRESSION * amplitude))
    n_semitones = semis.shape[0]
    salience = np.zeros_like(semis)
    for h in range(1, N_HARMONICS + 1):
        shift = int(round(12 * np.log2(h)))
        if shift < n_semitones:
            salience[: n_semitones - shift] += HARMONIC_DECAY ** (h - 1) * semis[shift:]
    return salience


def key_chroma(signal: SongSignal) -> np.ndarray:
    """(12, F) chroma for the key: linear CQT semitone amplitudes through the clip features' estimator
    (`kellyd.music.audio_key.chroma_from_semitones`, which takes the overtones out)."""
    amplitude = _semitones(10.0 ** (signal.cqt_db.astype(np.float64) / 20.0))
    lo, hi = (m - CQT_FMIN_MIDI for m in KEY_MIDI_RANGE)
    return chroma_from_semitones(amplitude[lo:hi], KEY_MIDI_RANGE[0])


def _semitones(bins: np.ndarray) -> np.ndarray:
    n_semitones = bins.shape[0] // CQT_BINS_PER_SEMITONE
    return bins[: n_semitones * CQT_BINS_PER_SEMITONE].reshape(n_semitones, CQT_BINS_PER_SEMITONE, -1).max(axis=1)


def _fold(salience: np.ndarray, midi_range: tuple[int, int]) -> np.ndarray:
    lo, hi = (m - CQT_FMIN_MIDI for m in midi_range)
    part = salience[max(lo, 0):hi]
    first_pc = (CQT_FMIN_MIDI + max(lo, 0)) % 12
    chroma = np.zeros((12, salience.shape[1]))
    for i, row in enumerate(part):
        chroma[(first_pc + i) % 12] += row
    return chroma


def beat_sync(frames: np.ndarray, frame_rate_hz: float, boundaries_s: np.ndarray) -> np.ndarray:
    """(rows, m) mean of `frames` (rows, F) between consecutive boundaries (m + 1,) seconds."""
    idx = np.clip(np.rint(np.asarray(boundaries_s) * frame_rate_hz).astype(np.int64), 0, frames.shape[1])
    cum = np.concatenate((np.zeros((frames.shape[0], 1)), np.cumsum(frames, axis=1)), axis=1)
    counts = np.maximum(idx[1:] - idx[:-1], 1)
    sums = cum[:, idx[1:]] - cum[:, idx[:-1]]
    single = idx[1:] <= idx[:-1]
    if np.any(single):
        at = np.clip(idx[:-1][single], 0, frames.shape[1] - 1)
        sums[:, single] = frames[:, at]
    return sums / counts


def chroma_pair(signal: SongSignal) -> tuple[np.ndarray, np.ndarray]:
    """(treble chroma (12, F), bass chroma (12, F)) per CQT frame."""
    salience = semitone_salience(signal)
    return _fold(salience, TREBLE_MIDI_RANGE), _fold(salience, BASS_MIDI_RANGE)


def chord_weights(chroma: np.ndarray) -> np.ndarray:
    """(m, 12) per-beat pitch-class weights for the templates: the part above CHORD_FLOOR_SHARE of the range.

    Beats much quieter than the song's typical beat (silence, a fade, a count-in click) get no
    weight, so the chord detector calls them N instead of reading a chord into the noise floor.
    """
    c = chroma.T
    lo = c.min(axis=1, keepdims=True)
    span = c.max(axis=1, keepdims=True) - lo
    weights = np.clip((c - lo) / np.maximum(span, 1e-9) - CHORD_FLOOR_SHARE, 0.0, None)
    quiet = span[:, 0] < QUIET_BEAT_SHARE * max(float(np.median(span)), 1e-9)
    weights[quiet] = 0.0
    return weights


def bass_pitch_classes(bass: np.ndarray) -> np.ndarray:
    """(m,) the bass chroma's peak per beat, or -1 where no pitch class stands out."""
    c = bass - bass.min(axis=0, keepdims=True)
    total = c.sum(axis=0)
    peak = c.argmax(axis=0)
    share = np.divide(c.max(axis=0), total, out=np.zeros_like(total), where=total > 0)
    return np.where(share >= BASS_PEAK_SHARE, peak, -1)


def analyse_harmony(signal: SongSignal, beats_s: np.ndarray, downbeats_s: np.ndarray) -> SongHarmony:
    """Key, section keys, chords with Roman numerals, cadences and complexity on the beat grid."""
    treble, bass = chroma_pair(signal)
    rate = signal.cqt_frame_rate_hz
    if signal.is_silent:
        # Nothing sounds: no key, and one N over the whole song (the chroma of digital silence is noise).
        no_chord = SongChord(0.0, signal.duration_s, chord_mod.NO_CHORD, None)
        return SongHarmony(None, (), (no_chord,), (), chord_mod.progression_complexity([]), np.zeros((12, 0)))
    boundaries = _frame_boundaries(beats_s, signal.duration_s)
    beat_chroma = beat_sync(treble, rate, boundaries)
    beat_bass = beat_sync(bass, rate, boundaries)
    found = estimate_key_from_frames(key_chroma(signal), signal.cqt_frame_rate_hz)
    key = None if found is None else KeyEstimate(found.tonic_pc, found.mode, found.correlation, found.margin)
    bars = _frame_boundaries(downbeats_s, signal.duration_s)
    sections = key_segments(beat_sync(treble, rate, bars).T, bars) if len(bars) > 1 else ()
    frames = chord_mod.detect_chords(chord_weights(beat_chroma), bass_pitch_classes(beat_bass), boundaries,
                                     AUDIO_QUALITY_PENALTY)
    chords = tuple(_with_roman(seg, sections, key) for seg in chord_mod.chord_segments(frames))
    named = [c for c in chords if c.roman is not None]
    romans = [c.roman for c in named]
    cadences = tuple(SongCadence(named[c.index].start_s, c.kind, c.numerals) for c in chord_mod.find_cadences(romans))
    return SongHarmony(
        key=key,
        section_keys=sections,
        chords=chords,
        cadences=cadences,
        complexity=chord_mod.progression_complexity([c.label for c in chords], romans),
        beat_chroma=beat_chroma,
    )


def _frame_boundaries(times_s: np.ndarray, duration_s: float) -> np.ndarray:
    """Boundaries from 0 through each time to the end: the stretch before the first beat is a frame too."""
    inner = np.asarray(times_s, dtype=np.float64)
    inner = inner[(inner > 0.0) & (inner < duration_s)]
    return np.concatenate(([0.0], inner, [duration_s]))


def _with_roman(seg: chord_mod.ChordSegment, sections: tuple[KeySegment, ...], key: KeyEstimate | None) -> SongChord:
    roman = None
    if seg.quality is not None:
        local = next((k for k in sections if k.start_s <= seg.start_s < k.end_s), None)
        if local is not None:
            roman = chord_mod.roman_numeral(seg.root, seg.quality, local.tonic_pc, local.mode)
        elif key is not None:
            roman = chord_mod.roman_numeral(seg.root, seg.quality, key.tonic_pc, key.mode)
    return SongChord(seg.start_s, seg.end_s, seg.symbol, roman)
