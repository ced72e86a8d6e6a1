"""Metrics per clip: every clip (sample) counts once, however many windows it gave.

A long piece gives up to `max_examples_per_sample` windows, a short one a single
window, and the windows of one piece are alike: metrics over windows weigh long
pieces more and count one piece's windows as if they were independent evidence.
Per clip:

- a last-step head (one target per window, the clip's label): the outputs of the
  clip's windows are averaged (class probabilities, regression values) into one
  prediction for the clip, scored against the clip's target;
- a per-step head (a target at every step, different along the piece): every
  scored position weighs 1 / (the clip's scored positions), so each clip weighs 1.

The names and the baselines (training majority class, training mean) are those of
`kellyd.train.metrics.evaluate`; `count` is the number of clips scored.
"""

from __future__ import annotations

from collections import Counter
from typing import Mapping, Sequence

import numpy as np

from kellyd.train.data import Head, SplitData
from kellyd.train.metrics import Metric, head_slices
from kellyd.train.objective import softmax


def clip_index(split: SplitData) -> tuple[np.ndarray, int]:
    """(clip number of every example, number of clips), clips numbered in order of appearance."""
    numbers: dict[str, int] = {}
    index = np.array([numbers.setdefault(s, len(numbers)) for s in split.sample_ids], dtype=np.int64)
    return index, len(numbers)


def weighted_macro_f1(predicted: np.ndarray, actual: np.ndarray, weights: np.ndarray, n_classes: int) -> float:
    """Macro F1 where every position counts `weights[i]` (classes absent from both sides are left out)."""
    scores = []
    for c in range(n_classes):
        tp = float(weights[(predicted == c) & (actual == c)].sum())
        fp = float(weights[(predicted == c) & (actual != c)].sum())
        fn = float(weights[(predicted != c) & (actual == c)].sum())
        if tp + fp + fn <= 0:
            continue
        scores.append(2 * tp / (2 * tp + fp + fn))
    return float(np.mean(scores)) if scores else 0.0


def _class_metrics(name: str, predicted: np.ndarray, base: np.ndarray, actual: np.ndarray, weights: np.ndarray,
                   n_classes: int, clips: int) -> dict[str, Metric]:
    total = float(weights.sum())
    if total <= 0:
        return {f"{name}.accuracy": Metric(f"{name}.accuracy", 0.0, 0.0, "higher", "", 0),
                f"{name}.macro_f1": Metric(f"{name}.macro_f1", 0.0, 0.0, "higher", "", 0)}
    accuracy = float(weights[predicted == actual].sum()) / total
    base_accuracy = float(weights[base == actual].sum()) / total
    return {f"{name}.accuracy": Metric(f"{name}.accuracy", accuracy, base_accuracy, "higher", "", clips),
            f"{name}.macro_f1": Metric(f"{name}.macro_f1", weighted_macro_f1(predicted, actual, weights, n_classes),
                                       weighted_macro_f1(base, actual, weights, n_classes), "higher", "", clips)}


def evaluate_clips(outputs: np.ndarray, split: SplitData, heads: Sequence[Head],
                   majority: Mapping[str, int]) -> dict[str, Metric]:
    """Per-clip metrics of `outputs` (n, steps, out) on `split` (see the module's docstring)."""
    if outputs.shape[0] != len(split):
        raise ValueError(f"{outputs.shape[0]} outputs for {len(split)} examples")
    clip, n_clips = clip_index(split)
    metrics: dict[str, Metric] = {}
    for head, where in zip(heads, head_slices(heads).values()):
        values = (outputs[:, :, where] if head.per_step else outputs[:, -1, where]).astype(np.float64)
        targets = split.targets[head.name]
        if head.kind == "class":
            if head.per_step:
                flat_clip = np.repeat(clip, targets.shape[1])
                flat_targets = targets.reshape(-1)
                valid = flat_targets >= 0
                actual, owner = flat_targets[valid], flat_clip[valid]
                predicted = values.reshape(-1, head.size)[valid].argmax(axis=1)
                counts = np.bincount(owner, minlength=n_clips)
                weights = 1.0 / counts[owner] if owner.size else np.zeros(0)
                scored = int(np.count_nonzero(counts))
            else:
                probabilities = softmax(values)
                predicted_list, actual_list = [], []
                for c in range(n_clips):
                    rows = (clip == c) & (targets >= 0)
                    if not rows.any():
                        continue
                    actual_list.append(Counter(targets[rows].tolist()).most_common(1)[0][0])
                    predicted_list.append(int(probabilities[rows].mean(axis=0).argmax()))
                predicted = np.asarray(predicted_list, dtype=np.int64)
                actual = np.asarray(actual_list, dtype=np.int64)
                weights = np.ones(actual.size)
                scored = int(actual.size)
            base = np.full_like(actual, majority[head.name])
            metrics.update(_class_metrics(head.name, predicted, base, actual, weights, head.size, scored))
            continue
        mean = np.asarray(head.mean, dtype=np.float64)
        std = np.asarray(head.std, dtype=np.float64)
        predicted_units = values * std + mean
        actual = targets.astype(np.float64)
        mask = split.masks[head.name]
        errors, base_errors, weights = [], [], []
        for c in range(n_clips):
            rows = clip == c
            clip_mask = mask[rows]
            if not clip_mask.any():
                continue
            if head.per_step:
                n = int(clip_mask.sum())
                errors.append(np.abs(predicted_units[rows] - actual[rows])[clip_mask])
                base_errors.append(np.abs(np.broadcast_to(mean, actual[rows].shape) - actual[rows])[clip_mask])
                weights.append(np.full(n, 1.0 / n))
                continue
            # One prediction per clip: the mean over its windows, per value where the value has a target.
            has = clip_mask.any(axis=0)
            counts = np.maximum(clip_mask.sum(axis=0), 1)
            target = np.where(clip_mask, actual[rows], 0.0).sum(axis=0) / counts
            guess = np.where(clip_mask, predicted_units[rows], 0.0).sum(axis=0) / counts
            errors.append(np.abs(guess - target)[has])
            base_errors.append(np.abs(mean - target)[has])
            weights.append(np.full(int(has.sum()), 1.0 / int(has.sum())))
        name = f"{head.name}.mae"
        if not errors:
            metrics[name] = Metric(name, 0.0, 0.0, "lower", head.unit, 0)
            continue
        w = np.concatenate(weights)
        metrics[name] = Metric(name, float((np.concatenate(errors) * w).sum() / w.sum()),
                               float((np.concatenate(base_errors) * w).sum() / w.sum()), "lower", head.unit,
                               len(errors))
    return metrics
