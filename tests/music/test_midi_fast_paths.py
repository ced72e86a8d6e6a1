"""The faster forms of the MIDI analysis give what the plain definitions give.

Each fast path is checked against the straightforward formula it replaced, written out here: the
beat grid's segment lookup, the onset envelope's autocorrelation from onset pairs, distinct counts
of ascending onsets, the beat tracker's recursion in blocks, the chord and key Viterbi pass.
"""

from __future__ import annotations

import numpy as np
import pytest

from kellyd.music import onset_autocorrelation, tempo
from kellyd.music.beat_dp import DP_HOP_S, track_beats
from kellyd.music.groove import count_distinct, swing_ratio, syncopation
from kellyd.music.tempo import BeatGrid, estimate_tempo
from kellyd.music.viterbi import viterbi_constant_switch


def segment_by_clipping(knots: np.ndarray, x: np.ndarray) -> np.ndarray:
    return np.clip(np.searchsorted(knots, x, side="right") - 1, 0, len(knots) - 1)


@pytest.mark.parametrize("n_knots", [1, 2, 7])
def test_grid_segment_lookup_is_the_clipped_search(n_knots):
    rng = np.random.default_rng(n_knots)
    knots = np.sort(rng.uniform(0, 10, n_knots))
    x = np.concatenate((rng.uniform(-5, 15, 500), knots, [-np.inf, np.inf, np.nan]))
    np.testing.assert_array_equal(tempo._segment(knots, x), segment_by_clipping(knots, x))


def test_grid_maps_seconds_and_beats_both_ways_across_tempo_changes():
    grid = BeatGrid(np.array([0.0, 2.0, 5.0]), np.array([0.0, 4.0, 7.0]), np.array([120.0, 60.0, 90.0]))
    t = np.array([-1.0, 0.0, 1.0, 2.0, 3.5, 5.0, 9.0])
    beats = grid.to_beats(t)
    np.testing.assert_allclose(beats, [-2.0, 0.0, 2.0, 4.0, 5.5, 7.0, 13.0])
    np.testing.assert_allclose(grid.to_seconds(beats), t)
    np.testing.assert_allclose(grid.seconds_per_beat(t), [0.5, 0.5, 0.5, 1.0, 1.0, 2 / 3, 2 / 3])
    assert float(BeatGrid.constant(100.0, 0.3).to_beats(0.9)) == pytest.approx(1.0)


def autocorrelation(onset_s: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """The autocorrelation as the tempo estimate asks for it."""
    return onset_autocorrelation.envelope_autocorrelation(onset_s, weight, hop_s=tempo.HOP_S, smooth_s=tempo.SMOOTH_S,
                                                          max_lag_bins=tempo.MAX_LAG_BINS + 1)


def autocorrelation_through_the_fft(onset_s: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """The definition: the envelope binned at HOP_S, its power spectrum smoothed by the Gaussian,
    back to lags, unbiased, normalised at lag 0."""
    idx = np.round((onset_s - onset_s.min()) / tempo.HOP_S).astype(np.int64)
    n = int(idx[-1]) + 1
    env = np.bincount(idx, weights=weight, minlength=n)
    n_fft = 1 << int(np.ceil(np.log2(2 * n)))
    spectrum = np.fft.rfft(env, n_fft)
    freq_hz = np.fft.rfftfreq(n_fft, tempo.HOP_S)
    power = np.abs(spectrum) ** 2 * np.exp(-((2 * np.pi * freq_hz * tempo.SMOOTH_S) ** 2))
    acf = np.fft.irfft(power, n_fft)[:n] / np.maximum(n - np.arange(n), 0.25 * n)
    return acf / acf[0]


def performed_onsets(rng: np.random.Generator, seconds: float, bpm: float) -> tuple[np.ndarray, np.ndarray]:
    """Sixteenths with micro-timing, accented on the beat, some off-beat ones left out, as a drummer plays."""
    grid_s = np.arange(0.0, seconds, 60.0 / bpm / 4)
    on_beat = np.arange(len(grid_s)) % 4 == 0
    kept = on_beat | (rng.random(len(grid_s)) > 0.3)
    weight = np.where(on_beat, 1.0, rng.uniform(0.2, 0.5, len(grid_s)))[kept]
    onset = np.maximum(grid_s[kept] + rng.normal(0, 0.008, int(kept.sum())), 0.0)
    order = np.argsort(onset, kind="stable")
    return onset[order], np.sqrt(weight[order])


@pytest.mark.parametrize("seconds", [0.4, 1.2, 2.9, 3.4, 30.0])
def test_autocorrelation_from_onset_pairs_is_the_fft_one(seconds):
    """Short envelopes included: there the FFT's circular wrap reaches the lags read, and the pair
    form reproduces it."""
    rng = np.random.default_rng(int(seconds * 10))
    onset, weight = performed_onsets(rng, seconds, bpm=rng.uniform(70, 160))
    ours = autocorrelation(onset, weight)
    reference = autocorrelation_through_the_fft(onset, weight)
    assert len(ours) == min(len(reference), tempo.MAX_LAG_BINS + 2)
    np.testing.assert_allclose(ours, reference[: len(ours)], rtol=0, atol=1e-12)


@pytest.mark.parametrize("n_bins", [120, 250, 500])
def test_autocorrelation_from_onset_pairs_keeps_the_ffts_wrap_around(n_bins):
    """An envelope just short of half the FFT's length: the FFT's circular correlation folds the
    negative lags into the last lags read, and the pair form gives the same values there."""
    rng = np.random.default_rng(n_bins)
    onset, weight = performed_onsets(rng, (n_bins - 1) * tempo.HOP_S, bpm=120.0)
    inside = (onset > tempo.HOP_S) & (onset < (n_bins - 2) * tempo.HOP_S)
    onset = np.concatenate(([0.0], onset[inside], [(n_bins - 1) * tempo.HOP_S]))  # spans exactly n_bins bins
    weight = np.concatenate(([0.7], weight[inside], [0.7]))
    ours = autocorrelation(onset, weight)
    reference = autocorrelation_through_the_fft(onset, weight)
    assert len(ours) == len(reference) == n_bins
    np.testing.assert_allclose(ours, reference, rtol=0, atol=1e-12)


def test_dense_onsets_take_the_fft_route_and_still_agree():
    rng = np.random.default_rng(3)
    onset = np.sort(rng.uniform(0, 20.0, 6000))  # ~1,000 onset pairs per onset within reach
    weight = rng.uniform(0.1, 1.0, len(onset))
    ours = autocorrelation(onset, weight)
    assert len(ours) > tempo.MAX_LAG_BINS + 2  # the FFT's whole envelope, not the pairs' first lags
    np.testing.assert_allclose(ours, autocorrelation_through_the_fft(onset, weight), rtol=0, atol=1e-12)


@pytest.mark.parametrize("bpm", [72.0, 97.0, 128.0, 174.0])
def test_the_tempo_estimate_finds_the_played_tempo(bpm):
    onset, weight = performed_onsets(np.random.default_rng(int(bpm)), 20.0, bpm)
    estimate = estimate_tempo(onset, weight)
    assert tempo.metrically_related(estimate.bpm, bpm)
    assert 0 < estimate.strength <= 1


def test_distinct_counts_match_unique_for_ascending_and_shuffled_values():
    rng = np.random.default_rng(5)
    for size in (0, 1, 2, 50):
        values = np.sort(rng.integers(0, 12, size))
        assert count_distinct(values) == len(np.unique(values))
        shuffled = rng.permutation(values)
        assert count_distinct(shuffled) == len(np.unique(shuffled))


def test_groove_measures_do_not_depend_on_the_order_of_the_onsets():
    """Ascending onsets take the fast path, shuffled ones the sorting one: the same figures."""
    rng = np.random.default_rng(8)
    swung = np.sort(np.concatenate((np.arange(32.0), np.arange(32.0) + 0.66)) + rng.normal(0, 0.01, 64))
    weight = rng.uniform(0.3, 1.0, 64)
    order = rng.permutation(64)
    assert syncopation(swung, 4.0) == syncopation(swung[order], 4.0)
    assert swing_ratio(swung, weight) == swing_ratio(swung[order], weight[order])
    assert swing_ratio(swung, weight).ratio == pytest.approx(0.66, abs=0.02)


def beats_frame_by_frame(envelope: np.ndarray, period_s: float, tightness: float = 100.0) -> np.ndarray:
    """The beat tracker's recursion, one frame at a time: a frame's score is its onset strength plus
    the best predecessor's score minus the tempo penalty, when that sum is positive."""
    period = period_s / DP_HOP_S
    n = len(envelope)
    lo, hi = int(np.floor(period / 2)), int(np.ceil(2 * period))
    score = envelope.astype(np.float64).copy()
    back = np.full(n, -1)
    for t in range(lo, n):
        best_gain, best_prev = -np.inf, -1
        for lag in range(lo, hi + 1):  # ascending: the shortest lag wins a tie
            if t - lag >= 0:
                gain = score[t - lag] - tightness * np.log(lag / period) ** 2
                if gain > best_gain:
                    best_gain, best_prev = gain, t - lag
        if best_gain > 0:
            score[t], back[t] = envelope[t] + best_gain, best_prev
    t = max(n - int(np.ceil(period)), 0) + int(np.argmax(score[max(n - int(np.ceil(period)), 0):]))
    path = [t]
    while back[t] >= 0:
        t = back[t]
        path.append(t)
    return np.array(path[::-1])


@pytest.mark.parametrize("seed", range(6))
def test_beat_tracking_in_blocks_is_the_frame_by_frame_recursion(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(60, 700))
    period_s = float(rng.uniform(0.03, 0.9))
    envelope = np.round(rng.random(n) ** 3 * (rng.random(n) < 0.3) * 4 - 0.2, 1)  # rounded: ties happen
    np.testing.assert_array_equal(track_beats(envelope, period_s), beats_frame_by_frame(envelope, period_s))


def viterbi_by_table(score: np.ndarray, penalty: float) -> np.ndarray:
    """The best path through the full (frames, states, states) table of transitions."""
    n_frames, n_states = score.shape
    total, back = score[0].copy(), np.zeros((n_frames, n_states), dtype=np.int64)
    switch = penalty * (1 - np.eye(n_states))
    for t in range(1, n_frames):
        arrive = total[:, None] - switch  # [from, to]
        back[t] = np.argmax(arrive, axis=0)
        total = arrive[back[t], np.arange(n_states)] + score[t]
    path = [int(np.argmax(total))]
    for t in range(n_frames - 1, 0, -1):
        path.append(int(back[t, path[-1]]))
    return np.array(path[::-1])


@pytest.mark.parametrize("seed", range(6))
def test_viterbi_with_a_constant_switch_price_is_the_full_table_search(seed):
    rng = np.random.default_rng(seed)
    score = rng.random((int(rng.integers(1, 60)), int(rng.integers(1, 30))))
    penalty = float(rng.choice([0.0, 0.15, 0.6]))

    def total_of(path: np.ndarray) -> float:
        return score[np.arange(len(path)), path].sum() - penalty * np.count_nonzero(np.diff(path))

    ours = viterbi_constant_switch(score, penalty)
    # Random scores have no ties: the best path is unique, and both searches must find it.
    np.testing.assert_array_equal(ours, viterbi_by_table(score, penalty))
    assert total_of(ours) == pytest.approx(total_of(viterbi_by_table(score, penalty)))
