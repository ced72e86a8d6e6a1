"""Key and mode by key-profile correlation, globally and in windows (modulations).

The duration-weighted pitch-class histogram of the pitched notes is correlated
(Pearson) with a major and a minor key profile rotated to each of the 12
tonics; the best of the 24 is the key. `key_confidence` is that correlation
clipped to [0, 1]; `margin` is its lead over the runner-up.

Profiles (tonic first) are published figures:
- Krumhansl & Kessler (1982), probe-tone ratings;
- Temperley (2007), from the Kostka-Payne harmony textbook corpus;
- Albrecht & Shanahan (2013), from a corpus of 490 common-practice pieces.
The default is Albrecht & Shanahan's, trained on the largest corpus with
particular care for the minor mode, where the older profiles err most; on the
POP909 songs of the real data corpus it ties Temperley's and beats
Krumhansl & Kessler's (bench/accuracy_midi.py reports all three).

Modulations: the histogram is taken per bar and summed over a sliding window
of `WINDOW_BARS`; a Viterbi pass over the 24 keys with a `SWITCH_PENALTY` per
change picks the key sequence; segments shorter than `MIN_SEGMENT_BARS` are
merged into a neighbour so the key does not flicker, and neighbouring
segments in relative keys (same key signature) are joined, since a profile
cannot tell a passage in A minor from one in C major reliably.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from kellyd.music.pitch_classes import Mode, pitch_name
from kellyd.music.viterbi import runs, viterbi_constant_switch

PROFILES: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "krumhansl_kessler": (
        (6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88),
        (6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17),
    ),
    "temperley": (
        (0.748, 0.060, 0.488, 0.082, 0.670, 0.460, 0.096, 0.715, 0.104, 0.366, 0.057, 0.400),
        (0.712, 0.084, 0.474, 0.618, 0.049, 0.460, 0.105, 0.747, 0.404, 0.067, 0.133, 0.330),
    ),
    "albrecht_shanahan": (
        (0.238, 0.006, 0.111, 0.006, 0.137, 0.094, 0.016, 0.214, 0.009, 0.080, 0.008, 0.081),
        (0.220, 0.006, 0.104, 0.123, 0.019, 0.103, 0.012, 0.214, 0.062, 0.022, 0.061, 0.052),
    ),
}
DEFAULT_PROFILE = "albrecht_shanahan"
WINDOW_BARS = 8
MIN_SEGMENT_BARS = 8
# In correlation units per change; a window must prefer the new key by this much, summed over bars.
SWITCH_PENALTY = 1.5
MODES: tuple[Mode, Mode] = ("major", "minor")


@dataclass(frozen=True)
class KeyEstimate:
    tonic_pc: int
    mode: Mode
    correlation: float
    margin: float

    @property
    def name(self) -> str:
        """The tonic as spelled in labels, e.g. "F#" (see `kellyd.music.pitch_classes`)."""
        return pitch_name(self.tonic_pc)

    @property
    def confidence(self) -> float:
        return float(np.clip(self.correlation, 0.0, 1.0))


@dataclass(frozen=True)
class KeySegment:
    start_s: float
    end_s: float
    tonic_pc: int
    mode: Mode

    def to_json(self) -> dict:
        return {"start_s": self.start_s, "end_s": self.end_s, "key": pitch_name(self.tonic_pc), "mode": self.mode}


@lru_cache(maxsize=None)
def profile_matrix(profile: str = DEFAULT_PROFILE) -> np.ndarray:
    """(24, 12) z-scored key profiles, read-only; row k is tonic k % 12, major for k < 12, minor from 12."""
    if profile not in PROFILES:
        raise ValueError(f"unknown key profile {profile!r}; known: {sorted(PROFILES)}")
    rows = []
    for base in PROFILES[profile]:
        p = np.asarray(base, dtype=np.float64)
        p = (p - p.mean()) / p.std()
        rows.extend(np.roll(p, tonic) for tonic in range(12))
    matrix = np.array(rows)
    matrix.flags.writeable = False
    return matrix


def key_correlations(pc_weight: np.ndarray, profile: str = DEFAULT_PROFILE) -> np.ndarray:
    """(..., 24) Pearson correlation of pitch-class weights (..., 12) with each key; 0 for a flat histogram."""
    w = np.asarray(pc_weight, dtype=np.float64)
    centred = w - w.mean(axis=-1, keepdims=True)
    norm = np.sqrt((centred**2).sum(axis=-1, keepdims=True))
    z = np.divide(centred, norm, out=np.zeros_like(centred), where=norm > 1e-12)
    return z @ profile_matrix(profile).T / np.sqrt(12.0)


def estimate_key(pc_weight: np.ndarray, profile: str = DEFAULT_PROFILE) -> KeyEstimate | None:
    """The best of the 24 keys for a (12,) pitch-class weight vector; None when it carries no pitch."""
    w = np.asarray(pc_weight, dtype=np.float64)
    if w.shape != (12,):
        raise ValueError(f"pc_weight must have shape (12,), got {w.shape}")
    if float(w.sum()) <= 0 or float(w.max() - w.min()) <= 1e-12:
        return None
    corr = key_correlations(w, profile)
    order = np.argsort(corr)[::-1]
    best = int(order[0])
    return KeyEstimate(best % 12, MODES[best // 12], float(corr[best]), float(corr[best] - corr[order[1]]))


def _merge_short_runs(path: np.ndarray, min_len: int, score: np.ndarray) -> np.ndarray:
    """Give runs shorter than `min_len` frames to the neighbour whose key scores better over them."""
    path = path.copy()
    while True:
        starts, ends = runs(path)
        lengths = ends - starts
        if len(starts) == 1 or lengths.min() >= min_len:
            return path
        i = int(np.argmin(lengths))
        s, e = starts[i], ends[i]
        candidates = []
        if i > 0:
            candidates.append(path[s - 1])
        if i + 1 < len(starts):
            candidates.append(path[e])
        path[s:e] = max(candidates, key=lambda k: float(score[s:e, k].sum()))


def _merge_relative_keys(path: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Join neighbouring runs in relative keys (C major / A minor: one key signature) and give the
    joined run the one of the two that scores better over it.

    A key profile barely tells a key from its relative, so a verse in A minor
    inside a song in C major is not counted as a modulation.
    """
    # Index of the relative major's tonic: a minor key's tonic is three semitones below it.
    signature = np.where(path < 12, path, (path % 12 + 3) % 12)
    path = path.copy()
    for s, e in zip(*runs(signature)):
        major = int(signature[s])
        minor = 12 + (major - 3) % 12
        path[s:e] = major if score[s:e, major].sum() >= score[s:e, minor].sum() else minor
    return path


def key_segments(
    bar_pc_weight: np.ndarray,
    bar_boundaries_s: np.ndarray,
    profile: str = DEFAULT_PROFILE,
    window_bars: int = WINDOW_BARS,
    min_segment_bars: int = MIN_SEGMENT_BARS,
    switch_penalty: float = SWITCH_PENALTY,
) -> tuple[KeySegment, ...]:
    """Key segments from per-bar pitch-class weights (m, 12) and bar boundaries (m+1,) in seconds.

    Bars without notes take the key of their neighbours. Empty when no bar has notes.
    """
    weight = np.asarray(bar_pc_weight, dtype=np.float64)
    if weight.ndim != 2 or weight.shape[1] != 12 or len(bar_boundaries_s) != len(weight) + 1:
        raise ValueError(f"need (m, 12) weights and m+1 boundaries, got {weight.shape} and {len(bar_boundaries_s)}")
    if window_bars < 1 or min_segment_bars < 1:
        raise ValueError(f"window_bars and min_segment_bars must be >= 1, got {window_bars}, {min_segment_bars}")
    if len(weight) == 0 or float(weight.sum()) <= 0:
        return ()
    # Centred moving sum over the window, through a cumulative sum.
    cum = np.vstack((np.zeros((1, 12)), np.cumsum(weight, axis=0)))
    half = window_bars // 2
    idx = np.arange(len(weight))
    lo = np.clip(idx - half, 0, len(weight))
    hi = np.clip(idx - half + window_bars, 0, len(weight))
    windowed = cum[hi] - cum[lo]
    score = key_correlations(windowed, profile)
    path = _merge_short_runs(viterbi_constant_switch(score, switch_penalty), min_segment_bars, score)
    path = _merge_relative_keys(path, score)
    starts, ends = runs(path)
    return tuple(
        KeySegment(float(bar_boundaries_s[s]), float(bar_boundaries_s[e]), int(path[s] % 12), MODES[int(path[s]) // 12])
        for s, e in zip(starts, ends)
    )
