"""The input of EmotionRecognizer-midi: fixed-length time frames of what carries emotion in notes.

One frame every `FRAME_S` seconds of the note list (seconds, not beats: the frames do
not depend on a beat grid that may be mis-phased, and a tempo stretch only changes how
many frames a passage spans). Every value of frame t depends only on what is known at
the end of frame t (the notes started so far, as far as they have sounded), so a
plug-in computes the frames as it plays and the model streams over them.

Pitch is read relative to the key: the key is estimated causally from the
duration-weighted pitch-class histogram of everything heard so far (the key profiles of
`kellyd.music.key`), and pitch classes are rotated so that degree 0 is the tonic of the
key signature (the major tonic; for a minor key its relative major). Transposing a piece
therefore leaves the pitch-class part of the frames unchanged, and the major/minor
colour shows as weight on degrees 9 and 2 against 0 and 4 instead of depending on a
hard major/minor decision.

Values per frame (names in `FRAME_NAMES`):
- `degree_<d>` (12): share of the frame's sounding time on each key-relative degree;
- `mode_major_minus_minor`, `key_clarity`: running best-major minus best-minor key
  correlation, and the best correlation (how tonal the piece is so far);
- `chord_<q>` (6): best correlation over the 12 roots of the frame's pitch classes with
  a major, minor, diminished, augmented, dominant-seventh and suspended template
  (transposition invariant by construction);
- `dissonance`: share of sounding pitch-class pairs a semitone or a tritone apart;
- `in_key`: share of sounding time on the running key's diatonic degrees;
- register: mean, lowest and highest sounding pitch, over 127;
- density: onsets per second (log), mean notes sounding together;
- dynamics: mean, highest and spread of the onset velocities, over 127;
- articulation: mean log duration of the notes ending here, and how much of the gap
  from the previous onset its notes were held (legato near 1, staccato small);
- `ioi_log`: log median gap back to the previous onset of the frame's onsets (a tempo proxy);
- `silence`: 1 when no pitched note sounds;
- drums (when the notes have some): onsets per second (log), mean velocity, log median gap
  back to the previous hit, and hits per second (log) of each General MIDI drum class;
- running means of the register, density, dynamics and articulation values and of the
  degree shares, so that a short window still sees the piece's overall character.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kellyd.music.key import key_correlations
from kellyd.train.timing import DRUM_CLASS_OF_PITCH, DRUM_CLASSES

FRAME_S = 0.5
# Velocity and pitch scales: MIDI values over 127.
MIDI_MAX = 127.0
MAX_DURATION_S = 4.0
DIATONIC_DEGREES = (0, 2, 4, 5, 7, 9, 11)
# Chord templates, root first, as pitch-class sets.
CHORD_TEMPLATES: dict[str, tuple[int, ...]] = {
    "major": (0, 4, 7), "minor": (0, 3, 7), "diminished": (0, 3, 6), "augmented": (0, 4, 8),
    "dominant7": (0, 4, 7, 10), "suspended": (0, 5, 7),
}
_LOCAL_NAMES: tuple[str, ...] = (
    *(f"degree_{d}" for d in range(12)), "mode_major_minus_minor", "key_clarity",
    *(f"chord_{q}" for q in CHORD_TEMPLATES), "dissonance", "in_key",
    "pitch_mean", "pitch_low", "pitch_high", "onsets_per_s_log", "polyphony",
    "velocity_mean", "velocity_max", "velocity_std", "duration_log", "legato", "ioi_log", "silence",
    "drum_onsets_per_s_log", "drum_velocity_mean", "drum_ioi_log",
    *(f"drum_{d}_per_s_log" for d in DRUM_CLASSES),
)
# The local values whose running mean over the piece so far is appended.
RUNNING_OF: tuple[str, ...] = (
    *(f"degree_{d}" for d in range(12)), *(f"chord_{q}" for q in CHORD_TEMPLATES), "dissonance", "in_key",
    "pitch_mean", "pitch_low", "onsets_per_s_log", "polyphony", "velocity_mean", "velocity_std",
    "duration_log", "legato", "ioi_log", "drum_onsets_per_s_log", "drum_velocity_mean", "drum_ioi_log",
    *(f"drum_{d}_per_s_log" for d in DRUM_CLASSES),
)
FRAME_NAMES: tuple[str, ...] = (*_LOCAL_NAMES, *(f"running_{n}" for n in RUNNING_OF))
_RUNNING_INDEX = np.array([_LOCAL_NAMES.index(n) for n in RUNNING_OF])


@dataclass(frozen=True)
class NoteEvents:
    """Notes in seconds: (n,) arrays, any order. `is_drum` (default: none) marks drum hits, which
    count for the drum values only (their pitch is an instrument, not a pitch)."""

    start_s: np.ndarray
    end_s: np.ndarray
    pitch: np.ndarray
    velocity: np.ndarray
    is_drum: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.start_s)
        if self.is_drum is None:
            object.__setattr__(self, "is_drum", np.zeros(n, dtype=bool))
        arrays = (self.start_s, self.end_s, self.pitch, self.velocity, self.is_drum)
        if any(len(a) != n for a in arrays):
            raise ValueError(f"note arrays differ in length: {[len(a) for a in arrays]}")

    def where(self, keep: np.ndarray) -> "NoteEvents":
        return NoteEvents(self.start_s[keep], self.end_s[keep], self.pitch[keep], self.velocity[keep],
                          self.is_drum[keep])

    def __len__(self) -> int:
        return len(self.start_s)

    def transposed(self, semitones: int) -> "NoteEvents":
        """The same notes `semitones` higher, clipped to the MIDI range (drums stay as they are)."""
        pitch = np.where(self.is_drum, self.pitch, np.clip(self.pitch + semitones, 0, 127))
        return NoteEvents(self.start_s, self.end_s, pitch, self.velocity, self.is_drum)

    def stretched(self, factor: float) -> "NoteEvents":
        """The same notes played `factor` times as long (factor 1.1: 10 % slower)."""
        if not factor > 0:
            raise ValueError(f"stretch factor must be positive, got {factor}")
        return NoteEvents(self.start_s * factor, self.end_s * factor, self.pitch, self.velocity, self.is_drum)


def _templates() -> np.ndarray:
    """(len(CHORD_TEMPLATES), 12, 12): template q rotated to root r, unit length."""
    out = np.zeros((len(CHORD_TEMPLATES), 12, 12))
    for q, pcs in enumerate(CHORD_TEMPLATES.values()):
        base = np.zeros(12)
        base[list(pcs)] = 1.0
        base /= np.linalg.norm(base)
        for root in range(12):
            out[q, root] = np.roll(base, root)
    return out


_TEMPLATES = _templates()
_DISSONANT = np.zeros((12, 12))
for _a in range(12):
    for _b in range(12):
        if (_a - _b) % 12 in (1, 11, 6):
            _DISSONANT[_a, _b] = 1.0


def _sounding(events: NoteEvents, n_frames: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per frame: (12,) seconds per pitch class, sounding seconds x pitch sum, lowest and highest pitch."""
    pc_time = np.zeros((n_frames, 12))
    pitch_time = np.zeros(n_frames)
    low = np.full(n_frames, np.inf)
    high = np.full(n_frames, -np.inf)
    first = np.minimum((events.start_s / FRAME_S).astype(np.int64), n_frames - 1)
    last = np.minimum(np.maximum((np.maximum(events.end_s, events.start_s + 1e-3) / FRAME_S - 1e-9).astype(np.int64),
                                 first), n_frames - 1)
    count = last - first + 1
    note = np.repeat(np.arange(len(events)), count)
    frame = np.repeat(first, count) + (np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count))
    lo = np.maximum(events.start_s[note], frame * FRAME_S)
    hi = np.minimum(np.maximum(events.end_s[note], events.start_s[note] + 1e-3), (frame + 1) * FRAME_S)
    overlap = np.maximum(hi - lo, 1e-3)
    pitch = events.pitch[note].astype(np.float64)
    np.add.at(pc_time, (frame, events.pitch[note] % 12), overlap)
    np.add.at(pitch_time, frame, overlap * pitch)
    np.minimum.at(low, frame, pitch)
    np.maximum.at(high, frame, pitch)
    return pc_time, pitch_time, low, high


def _onset_stats(events: NoteEvents, n_frames: int) -> np.ndarray:
    """(n_frames, 7): onsets, velocity mean/max/std, mean log duration, legato, log median IOI.

    Only what is known when the frame ends: a duration counts in the frame where the note
    ends; the IOI is the gap back to the previous distinct onset, and legato is the share of
    that gap the previous onset's longest note was still held (1: connected, small: detached).
    """
    out = np.zeros((n_frames, 7))
    order = np.argsort(events.start_s, kind="stable")
    start = events.start_s[order]
    end = np.maximum(events.end_s[order], start + 1e-3)
    frame = np.minimum((start / FRAME_S).astype(np.int64), n_frames - 1)
    velocity = events.velocity[order].astype(np.float64) / MIDI_MAX
    count = np.bincount(frame, minlength=n_frames).astype(np.float64)
    out[:, 0] = count
    out[:, 1] = np.bincount(frame, weights=velocity, minlength=n_frames) / np.maximum(count, 1)
    np.maximum.at(out[:, 2], frame, velocity)
    second = np.bincount(frame, weights=velocity**2, minlength=n_frames) / np.maximum(count, 1)
    out[:, 3] = np.sqrt(np.maximum(second - out[:, 1] ** 2, 0.0))
    end_frame = np.minimum((end / FRAME_S).astype(np.int64), n_frames - 1)
    log_duration = np.log(np.clip(end - start, 1e-3, MAX_DURATION_S))
    ended = np.bincount(end_frame, minlength=n_frames)
    out[:, 4] = np.bincount(end_frame, weights=log_duration, minlength=n_frames) / np.maximum(ended, 1)
    # Distinct onsets (a chord counts once) and the latest end of the notes struck at each.
    onset_s, onset_of = np.unique(start.round(3), return_inverse=True)
    held_until = np.full(len(onset_s), -np.inf)
    np.maximum.at(held_until, onset_of, end)
    if len(onset_s) > 1:
        gap = np.diff(onset_s)
        held = np.clip((np.minimum(held_until[:-1], onset_s[1:]) - onset_s[:-1]) / np.maximum(gap, 1e-3), 0.0, 1.0)
        at = np.minimum((onset_s[1:] / FRAME_S).astype(np.int64), n_frames - 1)
        with_gap = np.bincount(at, minlength=n_frames)
        out[:, 5] = np.bincount(at, weights=held, minlength=n_frames) / np.maximum(with_gap, 1)
        log_gap = np.log(np.maximum(gap, 1e-3))
        for f in np.flatnonzero(with_gap):
            out[f, 6] = float(np.median(log_gap[at == f]))
    return out


def key_signature_tonics(pc_time: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per frame, from the pitch-class seconds heard up to and including it: the major tonic of the
    best key's signature (0..11), best major minus best minor correlation, and the best correlation."""
    running = np.cumsum(pc_time, axis=0)
    corr = key_correlations(running)
    best = corr.argmax(axis=1)
    tonic = np.where(best < 12, best, (best - 12 + 3) % 12)
    heard = running.sum(axis=1) > 0
    tonic = np.where(heard, tonic, 0)
    mode = np.where(heard, corr[:, :12].max(axis=1) - corr[:, 12:].max(axis=1), 0.0)
    clarity = np.where(heard, corr.max(axis=1), 0.0)
    return tonic.astype(np.int64), mode, clarity


def emotion_frames(events: NoteEvents) -> np.ndarray:
    """(n_frames, len(FRAME_NAMES)) float32, one frame per FRAME_S seconds from time 0 to the last
    note's end; (0, len(FRAME_NAMES)) for no notes."""
    if len(events) == 0:
        return np.zeros((0, len(FRAME_NAMES)), dtype=np.float32)
    if np.any(events.start_s < 0) or not np.all(np.isfinite(events.start_s)) or not np.all(np.isfinite(events.end_s)):
        raise ValueError("note times must be finite and non-negative")
    n_frames = int(np.ceil(max(float(events.end_s.max()), float(events.start_s.max()) + 1e-3) / FRAME_S))
    drums, pitched = events.where(events.is_drum), events.where(~events.is_drum)
    pc_time, pitch_time, low, high = _sounding(pitched, n_frames)
    onsets = _onset_stats(pitched, n_frames)
    drum_frame = np.minimum((drums.start_s / FRAME_S).astype(np.int64), n_frames - 1)
    drum_count = np.bincount(drum_frame, minlength=n_frames)
    drum_velocity = np.bincount(drum_frame, weights=drums.velocity / MIDI_MAX, minlength=n_frames)
    drum_class = DRUM_CLASS_OF_PITCH[np.clip(drums.pitch, 0, 127)]
    known = drum_class >= 0
    per_class = np.zeros((n_frames, len(DRUM_CLASSES)))
    np.add.at(per_class, (drum_frame[known], drum_class[known]), 1.0)
    drum_gap = _onset_stats(drums, n_frames)[:, 6]
    tonic, mode, clarity = key_signature_tonics(pc_time)
    sounding = pc_time.sum(axis=1)
    some = sounding > 0
    share = pc_time / np.maximum(sounding, 1e-9)[:, None]
    rows = np.arange(n_frames)[:, None]
    degrees = share[rows, (np.arange(12)[None, :] + tonic[:, None]) % 12]
    unit = share / np.maximum(np.linalg.norm(share, axis=1, keepdims=True), 1e-9)
    chords = np.einsum("fp,qrp->fqr", unit, _TEMPLATES).max(axis=2)
    present = share > 0.05
    pairs = present[:, :, None] & present[:, None, :]
    n_pairs = pairs.sum(axis=(1, 2)) - present.sum(axis=1)
    dissonance = np.where(n_pairs > 0, (pairs * _DISSONANT).sum(axis=(1, 2)) / np.maximum(n_pairs, 1), 0.0)
    in_key = degrees[:, list(DIATONIC_DEGREES)].sum(axis=1)
    pitch_mean = np.where(some, pitch_time / np.maximum(sounding, 1e-9), 0.0) / MIDI_MAX
    local = np.column_stack([
        degrees, mode, clarity, chords, dissonance, in_key,
        pitch_mean, np.where(some, low, 0.0) / MIDI_MAX, np.where(some, high, 0.0) / MIDI_MAX,
        np.log1p(onsets[:, 0] / FRAME_S), sounding / FRAME_S,
        onsets[:, 1], onsets[:, 2], onsets[:, 3], onsets[:, 4], onsets[:, 5], onsets[:, 6],
        (~some).astype(np.float64),
        np.log1p(drum_count / FRAME_S), drum_velocity / np.maximum(drum_count, 1), drum_gap,
        np.log1p(per_class / FRAME_S),
    ])
    running = np.cumsum(local[:, _RUNNING_INDEX], axis=0) / np.arange(1, n_frames + 1)[:, None]
    return np.column_stack([local, running]).astype(np.float32)
