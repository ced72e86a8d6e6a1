"""Groove from onsets in seconds: swing ratio, micro-timing, syncopation, density, groove type.

Onsets are placed on a `BeatGrid` (quarter-note beats, from the tempo map or
estimated); the phase of an onset is its position inside its beat, in
[-0.125, 0.875) so that a note played slightly early still belongs to the beat
it anticipates.

Swing ratio, the definition used everywhere in kellyd: for a pair of eighth
notes filling one beat, long / (long + short), the share of the beat taken by
the first (on-beat) eighth. Straight eighths give 0.5, a 2:1 (triplet) swing
0.667, a 3:1 (dotted) swing 0.75. It is measured as the position, inside its
beat, of the off-beat eighth: the highest mode, in [`SWING_SEARCH_LO`,
`SWING_SEARCH_HI`], of the velocity-weighted kernel density of onset phases
(Gaussian kernel of `SWING_KERNEL_BEATS`). That equals long/(long+short) of
each pair, measured from where the on-beat notes are played (their weighted median
offset from the grid is subtracted), and it ignores straight
sixteenths at 0.75 as long as the eighth off-beat is the stronger layer. With
fewer than `MIN_SWING_OFFBEATS` onsets within `SWING_HALF_WIDTH` of the mode
the ratio is undefined (None).

Micro-timing: the signed offset of each onset from the nearest grid position
(sixteenths for straight music, eighth triplets when swung), in milliseconds;
positive means late (behind the beat). Onsets more than a third of a grid step
from every line (flams, 32nds, tuplets) are left out.

Syncopation: a Longuet-Higgins & Lee measure on the sixteenth grid. Each
position of the bar has a metrical weight (bar 0, half bar -1, beat -2, eighth
-3, sixteenth -4); an onset followed by silence on a stronger position
syncopates by the difference. `syncopation` is the mean of these over onsets,
divided by 4 so it lies in [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np

from kellyd.music.tempo import BeatGrid

SWING_SEARCH_LO = 0.42
SWING_SEARCH_HI = 0.72
SWING_HALF_WIDTH = 0.04
SWING_KERNEL_BEATS = 0.02
SWING_BIN_BEATS = 0.005
MIN_SWING_OFFBEATS = 8
# On-beat onsets: within this many beats of the grid line (a sixteenth is 0.25).
ONBEAT_HALF_WIDTH = 0.1
MEAN_SHIFT_MAX_STEPS = 50
MEAN_SHIFT_TOLERANCE = 1e-6
# A swing ratio at or above this reads as a swing feel (between straight 0.5 and triplet 0.667).
SWING_FEEL_RATIO = 0.58
# A swing feel whose swung off-beat fills at least this share of the played beats is a shuffle
# (every beat swung, as in a blues shuffle); below it, a jazz swing (the ride's "spang-a-lang").
SHUFFLE_BEAT_SHARE = 0.55
# A mean micro-timing offset beyond this many milliseconds is laid back (late) or rushed (early).
TIMING_FEEL_MS = 15.0
# Micro-timing counts onsets within this fraction of a grid step from their grid line.
TIMING_CAPTURE_STEPS = 1.0 / 3.0
# Onsets closer than this are one event for density.
SAME_ONSET_S = 0.025
MAX_METRICAL_DEPTH = 4

GrooveType = Literal["straight", "swing", "shuffle", "laid_back", "rushed"]


@dataclass(frozen=True)
class SwingEstimate:
    """`ratio` long/(long+short) (None when undefined), `offbeats` onsets supporting it,
    `beat_share` share of played beats that carry the swung off-beat."""

    ratio: float | None
    offbeats: int
    beat_share: float


@dataclass(frozen=True)
class Microtiming:
    """Offsets from the grid in milliseconds: mean absolute, standard deviation, signed mean."""

    mean_abs_ms: float
    std_ms: float
    signed_mean_ms: float


@dataclass(frozen=True)
class GrooveStats:
    swing: SwingEstimate
    timing: Microtiming
    syncopation: float
    density_per_beat: float
    onset_count: int
    groove_type: GrooveType


def beat_phase(onset_beats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(beat index, phase in [-0.125, 0.875)) of beat positions."""
    beat = np.floor(onset_beats + 0.125)
    return beat.astype(np.int64), onset_beats - beat


def _density_mode(x: np.ndarray, w: np.ndarray) -> float:
    """The highest mode, searched in [SWING_SEARCH_LO, SWING_SEARCH_HI], of the weighted Gaussian
    kernel density of phases `x`: a histogram finds the peak, mean-shift climbs to the exact mode
    (so the result moves smoothly with the onsets instead of jumping with the histogram's bins)."""
    lo = SWING_SEARCH_LO - SWING_HALF_WIDTH
    n_bins = int(round((SWING_SEARCH_HI + SWING_HALF_WIDTH - lo) / SWING_BIN_BEATS)) + 1
    bins = ((x - lo) / SWING_BIN_BEATS).astype(np.int64)
    hist = np.bincount(np.minimum(np.maximum(bins, 0), n_bins - 1), weights=w, minlength=n_bins)
    kernel, centres, searchable = _swing_kernel(n_bins)
    density = np.convolve(hist, kernel, mode="same")
    mode = float(centres[searchable][int(np.argmax(density[searchable]))])
    for _ in range(MEAN_SHIFT_MAX_STEPS):
        k = w * np.exp(-0.5 * ((x - mode) / SWING_KERNEL_BEATS) ** 2)
        total = k.sum()
        if float(total) <= 0:
            break
        previous, mode = mode, float(np.sum(k * x) / total)
        if abs(mode - previous) < MEAN_SHIFT_TOLERANCE:
            break
    return mode


@lru_cache(maxsize=1)
def _swing_kernel(n_bins: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(Gaussian kernel, bin centres, bins inside the search range) of `_density_mode`: constants."""
    lo = SWING_SEARCH_LO - SWING_HALF_WIDTH
    half = int(3 * SWING_KERNEL_BEATS / SWING_BIN_BEATS)
    kernel = np.exp(-0.5 * (np.arange(-half, half + 1) * SWING_BIN_BEATS / SWING_KERNEL_BEATS) ** 2)
    centres = lo + (np.arange(n_bins) + 0.5) * SWING_BIN_BEATS
    searchable = (centres >= SWING_SEARCH_LO) & (centres <= SWING_SEARCH_HI)
    for a in (kernel, centres, searchable):
        a.flags.writeable = False
    return kernel, centres, searchable


def count_distinct(values: np.ndarray) -> int:
    """Number of distinct values; ascending input (onsets on a grid) is counted without sorting."""
    if len(values) == 0:
        return 0
    steps = np.diff(values)
    if np.all(steps >= 0):
        return int(np.count_nonzero(steps)) + 1
    return len(np.unique(values))


def swing_ratio(onset_beats: np.ndarray, weight: np.ndarray) -> SwingEstimate:
    """Swing ratio of onsets given as beat positions (n,) with weights (n,) (see the module docstring).

    Undefined (None) with too little off-beat evidence, or when the strongest
    off-beat layer sits beyond the search range (straight sixteenths at 0.75).
    """
    beat, phase = beat_phase(onset_beats)
    window = (phase > SWING_SEARCH_LO - SWING_HALF_WIDTH) & (phase < SWING_SEARCH_HI + SWING_HALF_WIDTH)
    if int(window.sum()) < MIN_SWING_OFFBEATS:
        return SwingEstimate(None, int(window.sum()), 0.0)
    x, w = phase[window], weight[window]
    mode = _density_mode(x, w)
    near = np.abs(x - mode) <= SWING_HALF_WIDTH
    if int(near.sum()) < MIN_SWING_OFFBEATS or not SWING_SEARCH_LO <= mode <= SWING_SEARCH_HI:
        return SwingEstimate(None, int(near.sum()), 0.0)
    swung_beats = count_distinct(beat[window][near])
    # Long/(long+short) is measured from the played on-beat, not the grid: a player who sits
    # uniformly behind (or ahead of) the click shifts both eighths and keeps straight eighths at 0.5.
    ratio = mode - onbeat_lag_beats(phase, weight)
    return SwingEstimate(ratio, int(near.sum()), float(swung_beats / count_distinct(beat)))


def onbeat_lag_beats(phase: np.ndarray, weight: np.ndarray) -> float:
    """Weighted median phase of the on-beat onsets (|phase| < ONBEAT_HALF_WIDTH), in beats; 0 without
    enough of them. Positive: the player sits behind the grid."""
    onbeat = np.abs(phase) < ONBEAT_HALF_WIDTH
    if int(onbeat.sum()) < MIN_SWING_OFFBEATS:
        return 0.0
    x, w = phase[onbeat], np.maximum(weight[onbeat], 1e-9)
    order = np.argsort(x)
    cumulative = np.cumsum(w[order])
    return float(x[order][np.searchsorted(cumulative, cumulative[-1] / 2)])


def microtiming(onset_s: np.ndarray, onset_beats: np.ndarray, grid: BeatGrid, subdivision: int) -> Microtiming:
    """Offsets of onsets from the nearest 1/`subdivision` beat, in milliseconds (positive = late)."""
    if subdivision <= 0:
        raise ValueError(f"subdivision must be positive, got {subdivision}")
    if len(onset_s) == 0:
        return Microtiming(0.0, 0.0, 0.0)
    scaled = onset_beats * subdivision
    offset_steps = scaled - np.round(scaled)
    # Onsets far from every grid line (flams, 32nds, tuplets) belong to no line: leave them out.
    clear = np.abs(offset_steps) <= TIMING_CAPTURE_STEPS
    if not np.any(clear):
        return Microtiming(0.0, 0.0, 0.0)
    offset_ms = offset_steps[clear] / subdivision * grid.seconds_per_beat(onset_s[clear]) * 1000.0
    return Microtiming(float(np.mean(np.abs(offset_ms))), float(np.std(offset_ms)), float(np.mean(offset_ms)))


def metrical_weight(slot: np.ndarray, bar_slots: int) -> np.ndarray:
    """Metrical weight (0 strongest .. -4) of sixteenth positions `slot` in bars of `bar_slots` sixteenths."""
    pos = np.mod(slot, bar_slots)
    weight = np.full(pos.shape, -4, dtype=np.int64)
    weight[pos % 2 == 0] = -3
    weight[pos % 4 == 0] = -2
    if bar_slots % 8 == 0:
        weight[pos % (bar_slots // 2) == 0] = -1
    weight[pos == 0] = 0
    return weight


def _strongest_between(a: np.ndarray, b: np.ndarray, bar_slots: int) -> np.ndarray:
    """Metrical weight of the strongest sixteenth strictly between slots a < b (-5 when none)."""
    out = np.full(a.shape, -5, dtype=np.int64)
    levels = [(1, -4), (2, -3), (4, -2)]
    if bar_slots % 8 == 0:
        levels.append((bar_slots // 2, -1))
    levels.append((bar_slots, 0))
    for step, w in levels:
        # A multiple of `step` lies in (a, b) exactly when floor((b-1)/step) > floor(a/step).
        has = np.floor_divide(b - 1, step) > np.floor_divide(a, step)
        out[has] = w
    return out


def syncopation(onset_beats: np.ndarray, beats_per_bar: float) -> float:
    """Mean LHL syncopation per onset on the sixteenth grid, in [0, 1] (see the module docstring)."""
    bar_slots = int(round(beats_per_bar * 4))
    if bar_slots <= 0:
        raise ValueError(f"beats_per_bar must be positive, got {beats_per_bar}")
    slots = np.round(onset_beats * 4).astype(np.int64)
    steps = np.diff(slots)
    # Onsets in time order give ascending slots: dropping repeats is np.unique without its sort.
    slots = np.concatenate((slots[:1], slots[1:][steps != 0])) if np.all(steps >= 0) else np.unique(slots)
    if len(slots) < 2:
        return 0.0
    here, following = slots[:-1], slots[1:]
    gain = _strongest_between(here, following, bar_slots) - metrical_weight(here, bar_slots)
    return float(np.mean(np.clip(gain, 0, None)) / MAX_METRICAL_DEPTH)


def density_per_beat(onset_s: np.ndarray, onset_beats: np.ndarray) -> float:
    """Distinct onsets (merged within `SAME_ONSET_S`) per beat over the played span (at least one beat)."""
    if len(onset_s) == 0:
        return 0.0
    distinct = 1 + int(np.count_nonzero(np.diff(np.sort(onset_s)) > SAME_ONSET_S))
    span_beats = max(float(onset_beats.max() - onset_beats.min()), 1.0)
    return distinct / span_beats


def classify_groove(swing: SwingEstimate, timing: Microtiming) -> GrooveType:
    """Swing feel first (shuffle when every beat swings), then the timing feel, else straight."""
    if swing.ratio is not None and swing.ratio >= SWING_FEEL_RATIO:
        return "shuffle" if swing.beat_share >= SHUFFLE_BEAT_SHARE else "swing"
    if timing.signed_mean_ms >= TIMING_FEEL_MS:
        return "laid_back"
    if timing.signed_mean_ms <= -TIMING_FEEL_MS:
        return "rushed"
    return "straight"


def analyse_groove(onset_s: np.ndarray, weight: np.ndarray, grid: BeatGrid, beats_per_bar: float) -> GrooveStats:
    """All groove measures of onsets `onset_s` (seconds, ascending, (n,)) with weights (n,) on `grid`."""
    onset_s = np.asarray(onset_s, dtype=np.float64)
    weight = np.asarray(weight, dtype=np.float64)
    if onset_s.shape != weight.shape:
        raise ValueError(f"onset_s has shape {onset_s.shape} but weight has {weight.shape}")
    beats = grid.to_beats(onset_s)
    swing = swing_ratio(beats, weight)
    swung = swing.ratio is not None and swing.ratio >= SWING_FEEL_RATIO
    timing = microtiming(onset_s, beats, grid, 3 if swung else 4)
    return GrooveStats(
        swing=swing,
        timing=timing,
        syncopation=syncopation(beats, beats_per_bar),
        density_per_beat=density_per_beat(onset_s, beats),
        onset_count=len(onset_s),
        groove_type=classify_groove(swing, timing),
    )
