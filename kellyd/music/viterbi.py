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
    states = np.arange(n_states)
    back = np.zeros((n_frames, n_states), dtype=np.int64)
    total = score[0].copy()
    for t in range(1, n_frames):
        best_prev = int(np.argmax(total))
        switch = total[best_prev] - switch_penalty
        stay = total >= switch
        back[t] = np.where(stay, states, best_prev)
        total = np.where(stay, total, switch) + score[t]
    path = np.empty(n_frames, dtype=np.int64)
    path[-1] = int(np.argmax(total))
    for t in range(n_frames - 1, 0, -1):
        path[t - 1] = back[t, path[t]]
    return path


def runs(path: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(starts, ends) frame indices of the runs of equal consecutive values in `path` (ends exclusive)."""
    path = np.asarray(path)
    if len(path) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    change = np.flatnonzero(path[1:] != path[:-1]) + 1
    return np.concatenate(([0], change)), np.concatenate((change, [len(path)]))
