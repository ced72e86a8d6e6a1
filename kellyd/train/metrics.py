"""Metrics of a model's outputs on one split, each with its baseline beside it.

Classification heads: accuracy and macro F1, against the majority class of the
training split. Regression heads: mean absolute error in the target's unit, against
predicting the training split's mean. Per-step heads are scored on every step that
has a target; last-step heads on the window's last output.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Mapping, Sequence

import numpy as np

from kellyd.train.data import Head, SplitData


@dataclass(frozen=True)
class Metric:
    """One number and its baseline. `better` is "higher" or "lower"; `count` is what was scored.
    `classical`: the same metric of the classical baseline (`kellyd.train.baseline`), when known."""

    name: str
    value: float
    baseline: float
    better: str
    unit: str
    count: int
    classical: float | None = None

    @property
    def beats_baseline(self) -> bool:
        return self.value > self.baseline if self.better == "higher" else self.value < self.baseline

    def to_json(self) -> dict:
        return asdict(self)


def head_slices(heads: Sequence[Head]) -> dict[str, slice]:
    """Where each head sits in the output vector."""
    slices, start = {}, 0
    for head in heads:
        slices[head.name] = slice(start, start + head.size)
        start += head.size
    return slices


def _picked(outputs: np.ndarray, targets: np.ndarray, head: Head, where: slice) -> tuple[np.ndarray, np.ndarray]:
    """(predictions, targets) of a class head at the scored positions."""
    logits = outputs[:, :, where] if head.per_step else outputs[:, -1, where]
    flat_logits = logits.reshape(-1, head.size)
    flat_targets = targets.reshape(-1)
    valid = flat_targets >= 0
    return flat_logits[valid].argmax(axis=1), flat_targets[valid]


def macro_f1(predicted: np.ndarray, actual: np.ndarray, n_classes: int) -> float:
    """Mean over the classes present in `actual` or `predicted` of F1 (0 when there is nothing)."""
    scores = []
    for c in range(n_classes):
        tp = np.sum((predicted == c) & (actual == c))
        fp = np.sum((predicted == c) & (actual != c))
        fn = np.sum((predicted != c) & (actual == c))
        if tp + fp + fn == 0:
            continue
        scores.append(2 * tp / (2 * tp + fp + fn))
    return float(np.mean(scores)) if scores else 0.0


def confusion(predicted: np.ndarray, actual: np.ndarray, n_classes: int) -> np.ndarray:
    """(n_classes, n_classes) counts, rows actual, columns predicted."""
    matrix = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(matrix, (actual, predicted), 1)
    return matrix


def majority_class(split: SplitData, head: Head) -> int:
    targets = split.targets[head.name].reshape(-1)
    targets = targets[targets >= 0]
    return int(np.bincount(targets, minlength=head.size).argmax()) if targets.size else 0


def evaluate(outputs: np.ndarray, split: SplitData, heads: Sequence[Head],
             majority: Mapping[str, int]) -> tuple[dict[str, Metric], dict[str, list[list[int]]]]:
    """(metrics by name, confusion matrices by class head) of `outputs` (n, steps, out) on `split`.

    majority: head name -> the training split's majority class (the classifier baseline).
    """
    if outputs.shape[0] != len(split):
        raise ValueError(f"{outputs.shape[0]} outputs for {len(split)} examples")
    metrics: dict[str, Metric] = {}
    matrices: dict[str, list[list[int]]] = {}
    for head, where in zip(heads, head_slices(heads).values()):
        if head.kind == "class":
            predicted, actual = _picked(outputs, split.targets[head.name], head, where)
            base = np.full_like(actual, majority[head.name])
            n = int(actual.size)
            accuracy = float(np.mean(predicted == actual)) if n else 0.0
            metrics[f"{head.name}.accuracy"] = Metric(f"{head.name}.accuracy", accuracy,
                                                      float(np.mean(base == actual)) if n else 0.0, "higher", "", n)
            metrics[f"{head.name}.macro_f1"] = Metric(f"{head.name}.macro_f1", macro_f1(predicted, actual, head.size),
                                                      macro_f1(base, actual, head.size), "higher", "", n)
            matrices[head.name] = confusion(predicted, actual, head.size).tolist()
            continue
        values = outputs[:, :, where] if head.per_step else outputs[:, -1, where]
        mean = np.asarray(head.mean, dtype=np.float64)
        std = np.asarray(head.std, dtype=np.float64)
        predicted_units = values.astype(np.float64) * std + mean
        actual = split.targets[head.name].astype(np.float64)
        mask = split.masks[head.name]
        n = int(mask.sum())
        error = np.abs(predicted_units - actual)[mask]
        baseline = np.abs(np.broadcast_to(mean, actual.shape) - actual)[mask]
        metrics[f"{head.name}.mae"] = Metric(f"{head.name}.mae", float(error.mean()) if n else 0.0,
                                             float(baseline.mean()) if n else 0.0, "lower", head.unit, n)
    return metrics, matrices
