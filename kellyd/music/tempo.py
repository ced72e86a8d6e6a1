"""Tempo, beat grid and meter of a score, in seconds.

A beat is a quarter note (MIDI's beat). The tempo map of the file gives the
tempo label (its time-weighted median) and a first beat grid; the notes then
decide where the beat falls and whether the map is believed at all:

- Phase: the onsets' positions inside the map's beat, weighted by salience
  (loud, long, low notes weigh more: `midi_beats.note_salience`), gather
  where the music's beat is (`phase_salience`); the grid is moved there when
  that phase collects clearly more (`PHASE_MOVE_RATIO`) than the grid's own
  beats and lies beyond a player's timing feel (`MAX_TIMING_FEEL_S`). A grid
  0.2 or 0.47 of a beat off the music is re-phased even though its sixteenths
  still catch the onsets; a quantised file with a right map keeps its exact grid.
- Trust: a map whose (re-phased) grid the onsets fit (`grid_fit` above
  `grid_fit_threshold`) is kept. One that does not fit gives way to the
  onsets when there are enough of them, their tempo is not the map's at
  another metrical level, and beats tracked through them fit clearly better.
  The MIDI default (no tempo event, or one at 120 bpm) names no tempo: it gives
  way whenever the onsets name another pulse and fit beats tracked at that
  pulse about as well (90 bpm sixteenths also sit on 120 bpm triplets).
- Onsets: the tempo comes from the autocorrelation of the onset envelope with
  a tempo prior (`estimate_tempo`), the beats from dynamic programming through
  the envelope (`beat_dp`), one grid knot per beat, so rubato is followed
  (steady beats become an exact steady grid: `STEADY_BEATS_S`).

`grid_fit` (0..1) says how well onsets sit on a grid's sixteenths or eighth
triplets; it is also a feature (near 1 for quantised files).

Onset estimator: the onsets, weighted by the square root of their weight,
are binned at `HOP_S` and smoothed by a Gaussian of `SMOOTH_S`
(micro-timing tolerance); the autocorrelation of that envelope (unbiased;
`kellyd.music.onset_autocorrelation`) is scored at each candidate beat period P as
ACF(P) + 0.5 ACF(2P) + 0.5 ACF(P/2) + 0.25 ACF(P/4) (beat, half bar, eighth,
sixteenth), times a log-normal tempo prior centred at `PRIOR_BPM` with a spread
of `PRIOR_OCTAVES` octaves. Its phase is the peak of the weighted histogram of
onset phases modulo P (`phase_offset_beats`). Figures on Groove MIDI and POP909:
bench/accuracy_midi.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np

from kellyd.music.beat_dp import DP_HOP_S, onset_envelope, track_beats
from kellyd.music.notes import DEFAULT_TEMPO_BPM, TempoMap, TimeSignature
from kellyd.music.onset_autocorrelation import envelope_autocorrelation

HOP_S = 0.005
SMOOTH_S = 0.02
MIN_BPM = 40.0
MAX_BPM = 240.0
PRIOR_BPM = 120.0
PRIOR_OCTAVES = 1.0
CANDIDATES_PER_OCTAVE = 480
# (multiple of the beat period, weight) summed into a candidate's score: beat, half bar, eighth, sixteenth.
PERIOD_MULTIPLES = ((1.0, 1.0), (2.0, 0.5), (0.5, 0.5), (0.25, 0.25))
# Fewer onsets than this carry no usable periodicity.
MIN_ONSETS_FOR_ESTIMATE = 4
# Subdivisions checked when deciding whether onsets sit on a grid: 16ths and eighth triplets.
GRID_SUBDIVISIONS = (4, 3)
# A grid is "fitted" above max(GRID_FIT_FLOOR, GRID_FIT_CHANCE_FACTOR / sqrt(n_eff)): for n random
# onsets, 99 % of fits stay below 1.8 / sqrt(n) (simulated, n = 8..300).
GRID_FIT_FLOOR = 0.3
GRID_FIT_CHANCE_FACTOR = 1.8
# A default tempo is only overridden by an estimate from at least this many onsets.
MIN_ONSETS_TO_OVERRIDE = 16
# Tempo ratios under which two estimates name the same pulse at another metrical level ("acc2").
METRICAL_RATIOS = (1.0, 2.0, 0.5, 3.0, 1.0 / 3.0)
ACC1_TOLERANCE = 0.04

# Resolution of the onset-phase histogram that finds where the beat falls.
PHASE_BINS = 48
# Beat phase salience: kernel width (beats) and resolution of the phase search.
PHASE_KERNEL_BEATS = 0.04
PHASE_STEPS = 400
# The grid is moved to the notes' most salient beat phase only when that phase collects at least
# this many times the salience on the grid's own beats (a clear case, not a near-tie).
PHASE_MOVE_RATIO = 1.25
# A tempo event, or a default grid the onsets fit, is not overruled by fewer onsets than this (a short
# fill is too little evidence against the tempo it was played to); a tempo event is not overruled by an
# estimate in a 3:2 relation to it either (a dotted, compound pulse).
MIN_ONSETS_TO_OVERRULE_MAP = 64
COMPOUND_RATIOS = (1.5, 2.0 / 3.0)
# Tracked beats replace a tempo event only when the onsets fit them by this much more than they fit
# the event's grid at any phase (`grid_coherence`).
MAP_OVERRULE_MARGIN = 0.2
# A default-only grid the onsets fit is replaced by tracked beats they fit at least as well, within this.
DEFAULT_FIT_TOLERANCE = 0.02
# Tracked beats within this of a steady tempo (s) are a steady grid: a quantised file without a tempo
# event gets exact beats, not beats rounded to the tracker's frames.
STEADY_BEATS_S = 0.012
# Players sit up to a few tens of milliseconds ahead of or behind the beat on purpose; a grid
# is only moved to meet the music by more than that, so a laid-back feel is not "corrected" away.
MAX_TIMING_FEEL_S = 0.05

TempoSource = Literal["tempo_map", "default_confirmed", "onsets", "default"]


def _segment(knots: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Index of the knot segment holding each `x` (ascending `knots`): the last knot at or before it,
    0 before the first. Counting only the knots after the first needs no clipping (a hot path)."""
    return np.searchsorted(knots[1:], x, side="right")


@dataclass(frozen=True)
class BeatGrid:
    """A piecewise-linear map between seconds and beats.

    `knot_s` (k,) ascending times; `knot_beat` (k,) beat position at each knot;
    `bpm` (k,) tempo from that knot on. The first tempo extends before the first
    knot and the last one after the last knot, so every time has a beat position.
    """

    knot_s: np.ndarray
    knot_beat: np.ndarray
    bpm: np.ndarray

    @classmethod
    def from_tempo_map(cls, tempo: TempoMap) -> "BeatGrid":
        beats_per_s = tempo.bpm / 60.0
        knot_beat = np.concatenate(([0.0], np.cumsum(np.diff(tempo.time_s) * beats_per_s[:-1])))
        return cls(np.asarray(tempo.time_s, dtype=np.float64), knot_beat, np.asarray(tempo.bpm, dtype=np.float64))

    @classmethod
    def constant(cls, bpm: float, phase_s: float = 0.0) -> "BeatGrid":
        """A steady tempo whose beat 0 falls at `phase_s`."""
        if not (np.isfinite(bpm) and bpm > 0):
            raise ValueError(f"bpm must be a positive number, got {bpm!r}")
        return cls(np.array([float(phase_s)]), np.zeros(1), np.array([float(bpm)]))

    def shifted(self, offset_beats: float) -> "BeatGrid":
        """The same tempo with every beat moved later by `offset_beats` of a beat."""
        return BeatGrid(self.knot_s, self.knot_beat - offset_beats, self.bpm)

    def to_beats(self, t_s: np.ndarray) -> np.ndarray:
        """Beat positions (float, quarter notes) of times `t_s` (seconds), any shape."""
        t = np.asarray(t_s, dtype=np.float64)
        i = _segment(self.knot_s, t)
        return self.knot_beat[i] + (t - self.knot_s[i]) * (self.bpm[i] / 60.0)

    def to_seconds(self, beats: np.ndarray) -> np.ndarray:
        """Times (seconds) of beat positions `beats`, any shape."""
        b = np.asarray(beats, dtype=np.float64)
        i = _segment(self.knot_beat, b)
        return self.knot_s[i] + (b - self.knot_beat[i]) * (60.0 / self.bpm[i])

    def seconds_per_beat(self, t_s: np.ndarray) -> np.ndarray:
        """Beat length (seconds) of the tempo in force at times `t_s`."""
        t = np.asarray(t_s, dtype=np.float64)
        return 60.0 / self.bpm[_segment(self.knot_s, t)]


@dataclass(frozen=True)
class TempoEstimate:
    """An onset-based tempo: `bpm`, the time `phase_s` of one beat, and `strength` in [0, 1]
    (the envelope's normalised autocorrelation at the chosen beat period)."""

    bpm: float
    phase_s: float
    strength: float


@dataclass(frozen=True)
class TempoResult:
    """The tempo a score is labelled with, where it came from, the beat grid to analyse timing on,
    how well the onsets fit that grid (see `grid_fit`), and how far (in beats) the grid was moved
    from the tempo map's to meet the music (0 unless the notes put the beat elsewhere), and how many
    whole beats it was then moved so its bar lines fall on the downbeats (`midi_beats`)."""

    bpm: float
    source: TempoSource
    grid: BeatGrid
    grid_fit: float
    grid_shift_beats: float = 0.0
    downbeat_shift_beats: int = 0


def map_tempo_bpm(tempo: TempoMap, start_s: float, end_s: float) -> float:
    """The tempo (bpm) in force for the longest total time over [start_s, end_s].

    That is the time-weighted median of the tempo map, which ignores short
    ritardandi and a tempo event placed before the music starts.
    """
    if end_s <= start_s:
        return tempo.bpm_at(start_s)
    bounds = np.concatenate(([start_s], np.clip(tempo.time_s[1:], start_s, end_s), [end_s]))
    span_s = np.diff(bounds)
    order = np.argsort(tempo.bpm, kind="stable")
    cum = np.cumsum(span_s[order])
    return float(tempo.bpm[order][np.searchsorted(cum, 0.5 * cum[-1])])


def grid_fit(onset_s: np.ndarray, weight: np.ndarray, grid: BeatGrid) -> float:
    """How well onsets sit on a grid's 16ths or eighth triplets, in [0, 1].

    The weighted mean cosine of the onsets' phases at the subdivision: 1 when
    every onset is exactly on a grid line, about 1/sqrt(n) or less for random
    onsets, and near 0 (clipped) when they sit regularly but between the lines;
    the better of the two subdivisions.
    """
    if len(onset_s) == 0 or float(np.sum(weight)) <= 0:
        return 0.0
    beats = grid.to_beats(onset_s)
    total = float(np.sum(weight))
    best = max(float(np.sum(weight * np.cos(2 * np.pi * sub * beats))) / total for sub in GRID_SUBDIVISIONS)
    return max(best, 0.0)


def grid_coherence(onset_s: np.ndarray, weight: np.ndarray, grid: BeatGrid) -> float:
    """How regularly onsets sit on a grid's 16ths or eighth triplets whatever the grid's phase, in
    [0, 1]: `grid_fit` at the best shift of the grid (the length of the weighted mean phase vector)."""
    if len(onset_s) == 0 or float(np.sum(weight)) <= 0:
        return 0.0
    beats = grid.to_beats(onset_s)
    total = float(np.sum(weight))
    return max(float(np.abs(np.sum(weight * np.exp(2j * np.pi * sub * beats)))) / total for sub in GRID_SUBDIVISIONS)


def grid_fit_threshold(weight: np.ndarray) -> float:
    """The coherence above which a grid fit is better than chance for these onset weights."""
    total = float(np.sum(weight))
    n_eff = total * total / max(float(np.sum(weight * weight)), 1e-12)
    return max(GRID_FIT_FLOOR, GRID_FIT_CHANCE_FACTOR / np.sqrt(max(n_eff, 1.0)))


def metrically_related(bpm_a: float, bpm_b: float, tolerance: float = ACC1_TOLERANCE,
                       ratios: tuple[float, ...] = METRICAL_RATIOS) -> bool:  # fmt: skip
    """True when `bpm_a` is `bpm_b` times one of `ratios` within `tolerance` (by default 1, 2, 1/2,
    3 or 1/3: the MIREX acc2 relation)."""
    return any(abs(bpm_a / (bpm_b * r) - 1.0) <= tolerance for r in ratios)


# The longest lag (HOP_S bins) `estimate_tempo` reads: the longest multiple of the longest beat period.
MAX_LAG_BINS = int(np.ceil(max(m for m, _ in PERIOD_MULTIPLES) * 60.0 / MIN_BPM / HOP_S))


@lru_cache(maxsize=1)
def _candidates() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(bpm, beat period s, tempo prior) of every candidate tempo: constants, computed once."""
    n_cand = int(CANDIDATES_PER_OCTAVE * np.log2(MAX_BPM / MIN_BPM)) + 1
    bpm = np.exp(np.linspace(np.log(MIN_BPM), np.log(MAX_BPM), n_cand))
    prior = np.exp(-0.5 * (np.log2(bpm / PRIOR_BPM) / PRIOR_OCTAVES) ** 2)
    arrays = (bpm, 60.0 / bpm, prior)
    for a in arrays:
        a.flags.writeable = False
    return arrays


def _acf_at(acf: np.ndarray, lag_s: np.ndarray) -> np.ndarray:
    x = lag_s / HOP_S
    i = np.floor(x).astype(np.int64)
    frac = x - i
    inside = i + 1 < len(acf)
    out = np.zeros_like(x)
    out[inside] = acf[i[inside]] * (1 - frac[inside]) + acf[i[inside] + 1] * frac[inside]
    return out


def estimate_tempo(onset_s: np.ndarray, weight: np.ndarray | None = None) -> TempoEstimate:
    """Estimate a steady tempo from onset times (seconds, (n,)) and weights ((n,), default 1).

    Returns the default tempo with zero strength when there are fewer than
    `MIN_ONSETS_FOR_ESTIMATE` onsets or they all fall at one instant.
    """
    onset_s = np.asarray(onset_s, dtype=np.float64)
    weight = np.ones_like(onset_s) if weight is None else np.asarray(weight, dtype=np.float64)
    if onset_s.shape != weight.shape:
        raise ValueError(f"onset_s has shape {onset_s.shape} but weight has {weight.shape}")
    if not np.all(np.isfinite(onset_s)):
        raise ValueError("onset_s contains NaN or infinite times")
    order = np.argsort(onset_s, kind="stable")
    onset_s, weight = onset_s[order], weight[order]
    if len(onset_s) < MIN_ONSETS_FOR_ESTIMATE or onset_s[-1] - onset_s[0] < 60.0 / MAX_BPM:
        return TempoEstimate(DEFAULT_TEMPO_BPM, float(onset_s[0]) if len(onset_s) else 0.0, 0.0)
    # Square-root compression: a loud backbeat should not drown the quieter subdivisions out.
    acf = envelope_autocorrelation(onset_s, np.sqrt(np.maximum(weight, 0.0)), hop_s=HOP_S, smooth_s=SMOOTH_S,
                                   max_lag_bins=MAX_LAG_BINS + 1)  # + 1: `_acf_at` interpolates
    bpm, period_s, prior = _candidates()
    score = sum(w * _acf_at(acf, multiple * period_s) for multiple, w in PERIOD_MULTIPLES)
    best = int(np.argmax(score * prior))
    period = float(period_s[best])
    phase_s = onset_s[0] + phase_offset_beats((onset_s - onset_s[0]) / period, weight) * period
    phase_s = phase_s - np.floor(phase_s / period) * period
    return TempoEstimate(float(bpm[best]), float(phase_s), float(np.clip(_acf_at(acf, np.array([period]))[0], 0, 1)))


def phase_offset_beats(onset_beats: np.ndarray, weight: np.ndarray) -> float:
    """Where the onsets put the beat, as an offset in [-0.5, 0.5) beats from the integer positions.

    The peak of the circularly smoothed, weighted histogram of onset phases,
    refined by the weighted circular mean of the phases within a sixteenth of it.
    """
    if len(onset_beats) == 0:
        return 0.0
    frac = onset_beats - np.floor(onset_beats)
    hist = np.bincount((frac * PHASE_BINS).astype(np.int64) % PHASE_BINS, weights=weight, minlength=PHASE_BINS)
    # Circular smoothing over neighbouring bins, so a beat split by micro-timing is not halved.
    smooth = hist + 0.5 * (np.roll(hist, 1) + np.roll(hist, -1))
    peak = (int(np.argmax(smooth)) + 0.5) / PHASE_BINS
    dist = (frac - peak + 0.5) % 1.0 - 0.5
    near = np.abs(dist) <= 1.0 / 16
    if float(weight[near].sum()) > 0:
        peak += float(np.angle(np.sum(weight[near] * np.exp(2j * np.pi * dist[near])))) / (2 * np.pi)
    return float((peak + 0.5) % 1.0 - 0.5)


def phase_salience(onset_beats: np.ndarray, weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(phases (PHASE_STEPS,) in [0, 1), salience at each): the weighted density of the onsets'
    positions inside the beat, Gaussian kernel of `PHASE_KERNEL_BEATS`, circular.

    The beat is where the heavy onsets (loud, long, low) gather; an eighth or
    sixteenth layer between the beats collects less weight than the beats themselves.
    """
    frac = onset_beats - np.floor(onset_beats)
    phases, kernel_spectrum = _phase_kernel()
    hist = np.bincount((frac * PHASE_STEPS).astype(np.int64) % PHASE_STEPS, weights=weight, minlength=PHASE_STEPS)
    salience = np.fft.irfft(np.fft.rfft(hist) * kernel_spectrum, PHASE_STEPS)
    return phases, salience


@lru_cache(maxsize=1)
def _phase_kernel() -> tuple[np.ndarray, np.ndarray]:
    """(phases, spectrum of the circular Gaussian kernel) of `phase_salience`: constants, computed once."""
    phases = np.arange(PHASE_STEPS) / PHASE_STEPS
    dist = (np.arange(PHASE_STEPS) + PHASE_STEPS // 2) % PHASE_STEPS - PHASE_STEPS // 2
    kernel = np.exp(-0.5 * (dist / (PHASE_KERNEL_BEATS * PHASE_STEPS)) ** 2)
    spectrum = np.fft.rfft(kernel)
    phases.flags.writeable = False
    spectrum.flags.writeable = False
    return phases, spectrum


def salient_phase_offset(onset_beats: np.ndarray, weight: np.ndarray) -> tuple[float, float]:
    """(offset in [-0.5, 0.5) beats of the most salient beat phase, its salience over the salience
    at offset 0): where the notes put the beat, and how much more they put it there than on the grid."""
    if len(onset_beats) == 0 or float(np.sum(weight)) <= 0:
        return 0.0, 1.0
    phases, salience = phase_salience(onset_beats, weight)
    best = int(np.argmax(salience))
    frac = onset_beats - np.floor(onset_beats)
    # Refine to the weighted circular mean of the onsets within a sixteenth of the peak.
    dist = (frac - phases[best] + 0.5) % 1.0 - 0.5
    near = np.abs(dist) <= 1.0 / 16
    peak = phases[best]
    if float(weight[near].sum()) > 0:
        peak += float(np.angle(np.sum(weight[near] * np.exp(2j * np.pi * dist[near])))) / (2 * np.pi)
    ratio = float(salience[best]) / max(float(salience[0]), 1e-12)
    return float((peak + 0.5) % 1.0 - 0.5), ratio


def _align_grid(grid: BeatGrid, onset_s: np.ndarray, weight: np.ndarray, bpm: float) -> tuple[BeatGrid, float, float]:
    """(grid, fit, shift in beats): the grid moved so its beats fall where the notes put the beat
    (a pickup, leading silence that is not a whole number of beats, a file cut mid-beat).

    The grid keeps its own phase when the notes' most salient phase collects less
    than `PHASE_MOVE_RATIO` times the salience on the grid's beats, or lies within
    `MAX_TIMING_FEEL_S` of them, so a quantised file keeps its exact grid and a
    player's deliberate lag or push stays measurable as micro-timing.
    """
    offset, ratio = salient_phase_offset(grid.to_beats(onset_s), weight)
    if ratio < PHASE_MOVE_RATIO or abs(offset) * 60.0 / bpm <= MAX_TIMING_FEEL_S:
        return grid, grid_fit(onset_s, weight, grid), 0.0
    shifted = grid.shifted(offset)
    return shifted, grid_fit(onset_s, weight, shifted), offset


def tracked_grid(onset_s: np.ndarray, weight: np.ndarray, bpm: float, end_s: float) -> BeatGrid:
    """The beat grid of a performance: beats tracked through its onsets (`beat_dp`) at a period of
    `bpm`, one grid knot per beat so the grid follows rubato; a steady grid where fewer than two
    beats are found."""
    start_s = float(onset_s.min())
    envelope = onset_envelope(onset_s, weight, start_s, max(end_s, float(onset_s.max())))
    frames = track_beats(envelope, 60.0 / bpm)
    beat_s = start_s + frames * DP_HOP_S
    if len(beat_s) < 2:
        estimate = estimate_tempo(onset_s, weight)
        return BeatGrid.constant(bpm, estimate.phase_s)
    number = np.arange(len(beat_s), dtype=np.float64)
    slope_s, first_s = np.polyfit(number, beat_s, 1)
    if len(beat_s) >= 4 and slope_s > 0 and np.max(np.abs(first_s + slope_s * number - beat_s)) <= STEADY_BEATS_S:
        steady = BeatGrid.constant(60.0 / slope_s, first_s)
        # Put the steady beats exactly where the onsets are (the tracker works on 10 ms frames).
        return steady.shifted(phase_offset_beats(steady.to_beats(onset_s), weight))
    ibi_s = np.diff(beat_s)
    return BeatGrid(beat_s, number, 60.0 / np.append(ibi_s, ibi_s[-1]))


def resolve_tempo(tempo: TempoMap, onset_s: np.ndarray, weight: np.ndarray, end_s: float) -> TempoResult:
    """Pick the tempo label and beat grid of a score from its tempo map and onsets (seconds, (n,)),
    with onset weights (n,) (a note's salience: loud, long and low notes weigh more).

    The map's grid is first moved to the notes' beat phase (`_align_grid`).
    A real tempo event is then trusted when the onsets fit that grid
    (`grid_fit_threshold`); when they do not, it still stands against fewer than
    `MIN_ONSETS_TO_OVERRULE_MAP` onsets, an onset estimate naming its pulse at
    another metrical level or in a 3:2 relation, or tracked beats the onsets do
    not fit clearly better (`MAP_OVERRULE_MARGIN`). The MIDI default names no
    tempo: it stays when the estimate names its pulse (at any metrical level) or
    too few onsets could contradict it, and otherwise gives way to beats tracked
    at the estimated tempo unless its own grid fits clearly better
    (`DEFAULT_FIT_TOLERANCE`). Onset beats come from `tracked_grid`.
    """
    onset_s = np.asarray(onset_s, dtype=np.float64)
    weight = np.asarray(weight, dtype=np.float64)
    if onset_s.shape != weight.shape:
        raise ValueError(f"onset_s has shape {onset_s.shape} but weight has {weight.shape}")
    start_s = float(np.min(onset_s)) if len(onset_s) else 0.0
    map_bpm = map_tempo_bpm(tempo, start_s, max(end_s, start_s))
    map_source: TempoSource = "default" if tempo.is_default_only else "tempo_map"
    if len(onset_s) < MIN_ONSETS_FOR_ESTIMATE:
        grid = BeatGrid.from_tempo_map(tempo)
        return TempoResult(map_bpm, map_source, grid, grid_fit(onset_s, weight, grid))
    grid, fit, shift = _align_grid(BeatGrid.from_tempo_map(tempo), onset_s, weight, map_bpm)
    fits = fit >= grid_fit_threshold(weight)
    confirmed: TempoSource = "default_confirmed" if tempo.is_default_only else "tempo_map"
    kept = TempoResult(map_bpm, confirmed if fits else map_source, grid, fit, shift)
    if (fits and not tempo.is_default_only) or len(onset_s) < MIN_ONSETS_TO_OVERRIDE:
        return kept
    estimate = estimate_tempo(onset_s, weight)
    if estimate.strength <= 0:
        return kept
    if metrically_related(estimate.bpm, map_bpm):
        return TempoResult(map_bpm, confirmed, grid, fit, shift)
    if (fits or not tempo.is_default_only) and len(onset_s) < MIN_ONSETS_TO_OVERRULE_MAP:
        return kept
    if not tempo.is_default_only and metrically_related(estimate.bpm, map_bpm, ratios=COMPOUND_RATIOS):
        return kept
    onset_grid = tracked_grid(onset_s, weight, estimate.bpm, end_s)
    onset_fit = grid_fit(onset_s, weight, onset_grid)
    if not tempo.is_default_only:
        # A tempo event is only overruled by beats the onsets clearly fit better: a drum fill of
        # 32nds or flams fits no grid, and its file's tempo is still the one it was played to.
        bar = max(grid_fit_threshold(weight), grid_coherence(onset_s, weight, grid) + MAP_OVERRULE_MARGIN)
    else:
        # The default names no tempo, and its grid can fit by coincidence (90 bpm sixteenths fall on
        # 120 bpm triplets): beats at the estimated tempo that fit about as well replace it.
        bar = fit - DEFAULT_FIT_TOLERANCE if fits else -np.inf
    if onset_fit <= bar:
        return kept
    return TempoResult(estimate.bpm, "onsets", onset_grid, onset_fit)


def main_time_signature(signatures: tuple[TimeSignature, ...], end_s: float) -> TimeSignature:
    """The time signature in force for the longest time before `end_s`; 4/4 (the MIDI default) if none."""
    if not signatures:
        return TimeSignature(0.0, 4, 4)
    starts = np.array([ts.time_s for ts in signatures])
    bounds = np.append(np.clip(starts, 0, None), max(end_s, float(starts.max())))
    # The first signature also covers the time before it (MIDI assumes it from the start).
    span = np.diff(bounds)
    span[0] += max(float(bounds[0]), 0.0)
    totals: dict[tuple[int, int], float] = {}
    for ts, s in zip(signatures, span):
        key = (ts.numerator, ts.denominator)
        totals[key] = totals.get(key, 0.0) + float(s)
    numerator, denominator = max(totals, key=lambda k: totals[k])
    return TimeSignature(0.0, numerator, denominator)


def beats_per_bar(signature: TimeSignature) -> float:
    """Quarter-note beats in one bar of `signature` (6/8 -> 3.0, 3/4 -> 3.0, 4/4 -> 4.0)."""
    if signature.numerator <= 0 or signature.denominator <= 0:
        raise ValueError(f"time signature must be positive, got {signature.numerator}/{signature.denominator}")
    return signature.numerator * 4.0 / signature.denominator
