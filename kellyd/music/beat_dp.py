"""Beat tracking by dynamic programming over an onset-strength envelope (times in seconds).

The beats are the path through the envelope that maximises the onset strength
collected on the beats minus a penalty for every inter-beat interval that
departs from the expected period: `TIGHTNESS * log(interval / period)^2`, the
log so that a beat played 10 % late costs as much as one 10 % early in tempo
terms. Each frame's best predecessor is searched between half and twice the
period back. This follows the tempo of a performance (rubato, drift) while the
period keeps it on one metrical level.
"""

from __future__ import annotations

import numpy as np

# Envelope resolution of the tracker: 10 ms is below what a listener hears as a beat misplaced.
DP_HOP_S = 0.01
# Gaussian smoothing of the onset impulses: the spread of a player's timing around a beat.
DP_SMOOTH_S = 0.03
# Penalty weight on log interval deviation (envelope normalised to unit standard deviation).
TIGHTNESS = 100.0


def onset_envelope(onset_s: np.ndarray, weight: np.ndarray, start_s: float, end_s: float) -> np.ndarray:
    """Onset impulses (weights) binned at `DP_HOP_S` from `start_s` to `end_s`, Gaussian smoothed,
    scaled to unit standard deviation; frame i is time start_s + i * DP_HOP_S."""
    n = max(int(np.ceil((end_s - start_s) / DP_HOP_S)) + 1, 1)
    idx = np.clip(np.round((onset_s - start_s) / DP_HOP_S).astype(np.int64), 0, n - 1)
    env = np.bincount(idx, weights=weight, minlength=n).astype(np.float64)
    half = int(np.ceil(3 * DP_SMOOTH_S / DP_HOP_S))
    kernel = np.exp(-0.5 * (np.arange(-half, half + 1) * DP_HOP_S / DP_SMOOTH_S) ** 2)
    env = np.convolve(env, kernel, mode="same")
    std = float(env.std())
    return env / std if std > 0 else env


def track_beats(envelope: np.ndarray, period_s: float, tightness: float = TIGHTNESS) -> np.ndarray:
    """Frame indices of the beats (ascending) along `envelope` for an expected `period_s`.

    Empty when the envelope is shorter than one period.
    """
    period = period_s / DP_HOP_S
    n = len(envelope)
    if n < 2 or period < 2 or n < period:
        return np.zeros(0, dtype=np.int64)
    lo, hi = int(np.floor(period / 2)), int(np.ceil(2 * period))
    lags = np.arange(lo, hi + 1)
    penalty = -tightness * np.log(lags / period) ** 2
    score = envelope.astype(np.float64).copy()
    back = np.full(n, -1, dtype=np.int64)
    # Row j of `windows` is score[j .. j + hi - lo]: read backwards from its end, the predecessors of
    # frame j + hi in the order of `lags`. A view, so it sees the scores the blocks before have set.
    windows = np.lib.stride_tricks.sliding_window_view(score, len(lags))[:, ::-1] if n >= len(lags) else None
    # Every predecessor lies at least `lo` frames back, so a block of `lo` frames depends only on
    # frames before it: one vectorised step per block instead of one per frame.
    frames, rows = np.arange(n), np.arange(lo)
    for t0 in range(lo, n, lo):
        t1 = min(t0 + lo, n)
        if windows is not None and t0 >= hi:  # every lag reaches back into the envelope
            cand = windows[t0 - hi : t1 - hi] + penalty
        else:
            prev = frames[t0:t1, None] - lags[None, :]
            cand = np.where(prev >= 0, score[np.maximum(prev, 0)] + penalty[None, :], -np.inf)
        best = np.argmax(cand, axis=1)
        gain = cand[rows[: t1 - t0], best]
        chained = gain > 0
        score[t0:t1] = np.where(chained, envelope[t0:t1] + gain, score[t0:t1])
        back[t0:t1] = np.where(chained, frames[t0:t1] - lags[best], -1)
    # End on the best-scoring frame within the last period (the piece may end between beats).
    tail = max(n - int(np.ceil(period)), 0)
    t = tail + int(np.argmax(score[tail:]))
    path = [t]
    while back[t] >= 0:
        t = int(back[t])
        path.append(t)
    return np.array(path[::-1], dtype=np.int64)
