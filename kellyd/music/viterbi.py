"""The one dynamic-programming pass kellyd needs: a state path with a constant price per change."""

from __future__ import annotations

import numpy as np


def viterbi_constant_switch(score: np.ndarray, switch_penalty: float) -> np.ndarray:
    """(frames,) state indices maximising the summed `score` (frames, states) minus
    `switch_penalty` per change of state between consecutive frames.

    With a constant penalty the best predecessor of a state is either itself or
    the overall best state of the previous frame, so one frame costs O(states).
    """
    score = np.asarray(score, dtype=np.float64)
    if score.ndim != 2 or score.shape[1] == 0:
        raise ValueError(f"score must be (frames, states) with states >= 1, got shape {score.shape}")
    if switch_penalty < 0 or not np.isfinite(switch_penalty):
        raise ValueError(f"switch_penalty must be a finite number >= 0, got {switch_penalty!r}")
    n_frames, n_states = score.shape
    if n_frames == 0:
        return np.zeros(0, dtype=np.int64)
    # Per frame: whether each state is best reached from itself, else from the previous frame's best.
    stays = np.ones((n_frames, n_states), dtype=bool)
    best_prev = np.zeros(n_frames, dtype=np.int64)
    total = score[0].copy()
    for t in range(1, n_frames):
        best = int(total.argmax())
        switch = total[best] - switch_penalty
        np.greater_equal(total, switch, out=stays[t])
        best_prev[t] = best
        total = np.maximum(total, switch) + score[t]  # the better of staying and switching
    path = np.empty(n_frames, dtype=np.int64)
    path[-1] = int(np.argmax(total))
    for t in range(n_frames - 1, 0, -1):
        path[t - 1] = path[t] if stays[t, path[t]] else best_prev[t]
    return path


def runs(path: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(starts, ends) frame indices of the runs of equal consecutive values in `path` (ends exclusive)."""
    path = np.asarray(path)
    if len(path) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    change = np.flatnonzero(path[1:] != path[:-1]) + 1
    return np.concatenate(([0], change)), np.concatenate((change, [len(path)]))
