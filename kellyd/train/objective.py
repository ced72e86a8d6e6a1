"""What training and the gate call "better": each head's error on a split, as a share of its baseline's.

Per head, on the positions that have a target:
- class heads: the Brier score, the squared distance between the predicted probabilities
  (softmax of the logits) and the one-hot target, from 0 (sure and right) to 2 (sure and wrong);
- regression heads: the mean squared error of standardised values (each value divided by
  the training split's standard deviation of that value), the training loss itself.

A head's error ratio is its error divided by the baseline's on the same split, the
baseline predicting the training split's class frequencies and means. The score of a
model is the mean over heads of the ratios, each capped at 1: 1.0 is the baseline, 0.8 a
fifth less error on average.

Why not the sum of the training losses: the heads are on different scales, and a class
head's cross-entropy is unbounded. Each piece gives many windows with the same label, so
a classifier that turns confidently wrong on two or three validation pieces sent the
summed loss up while the per-step regression heads were still improving, and training
kept the weights of epoch 3. Dividing by the baseline puts the heads on one scale; the
Brier score is bounded; and the cap means that a head already no better than its
baseline (whose outputs nobody should use at that epoch) has no say in the choice of
the epoch however much worse it gets, while the heads that are learning do. The
metrics next to the score still show every head against its baseline. (The stopping
rule in `kellyd.train.loop` goes with it: training goes on while any head improves.)
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from kellyd.train.data import Head, ModelData, SplitData
from kellyd.train.metrics import head_slices

# A head whose baseline error is below this is left out of the score (nothing to improve on).
MIN_BASELINE_ERROR = 1e-12


def softmax(logits: np.ndarray) -> np.ndarray:
    """Probabilities from logits along the last axis."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def head_errors(outputs: np.ndarray, output_heads: Sequence[Head], split: SplitData,
                reference_heads: Sequence[Head] | None = None) -> tuple[float | None, ...]:
    """Per head, the error of `outputs` (n, steps, out) on `split`; None for a head with nothing scored.

    Regression outputs are turned into units with `output_heads`' statistics, then
    standardised with `reference_heads`' (default: the same), so a model trained on other
    statistics (the champion) is scored on the challenger's scale.
    """
    if outputs.shape[0] != len(split):
        raise ValueError(f"{outputs.shape[0]} outputs for {len(split)} examples")
    reference_heads = output_heads if reference_heads is None else reference_heads
    errors: list[float | None] = []
    for head, ref, where in zip(output_heads, reference_heads, head_slices(output_heads).values()):
        values = (outputs[:, :, where] if head.per_step else outputs[:, -1, where]).astype(np.float64)
        if head.kind == "class":
            targets = split.targets[head.name].reshape(-1)
            valid = targets >= 0
            if not valid.any():
                errors.append(None)
                continue
            probabilities = softmax(values.reshape(-1, head.size)[valid])
            probabilities[np.arange(int(valid.sum())), targets[valid]] -= 1.0
            errors.append(float((probabilities ** 2).sum(axis=1).mean()))
            continue
        mask = split.masks[head.name]
        if not mask.any():
            errors.append(None)
            continue
        units = values * np.asarray(head.std) + np.asarray(head.mean)
        z = (units - np.asarray(ref.mean)) / np.asarray(ref.std)
        target_z = (split.targets[head.name] - np.asarray(ref.mean)) / np.asarray(ref.std)
        errors.append(float(((z - target_z) ** 2)[mask].mean()))
    return tuple(errors)


def baseline_outputs(data: ModelData, split: str) -> np.ndarray:
    """What the baseline predictor outputs for every example of `split`: the log of the training
    split's class frequencies (plus half a count each) for class heads, the training mean
    (0 standardised) for regression heads."""
    parts = []
    for head in data.heads:
        if head.kind == "class":
            targets = data.splits["train"].targets[head.name].reshape(-1)
            counts = np.bincount(targets[targets >= 0], minlength=head.size).astype(np.float64) + 0.5
            parts.append(np.log(counts / counts.sum()))
        else:
            parts.append(np.zeros(head.size))
    row = np.concatenate(parts).astype(np.float32)
    n = len(data.splits[split])
    return np.broadcast_to(row, (n, data.steps, row.size)).copy()


def baseline_errors(data: ModelData, split: str) -> tuple[float | None, ...]:
    return head_errors(baseline_outputs(data, split), data.heads, data.splits[split])


def error_ratios(errors: Sequence[float | None], baseline: Sequence[float | None]) -> tuple[float | None, ...]:
    """Per head, error / baseline error; None where the head has nothing scored or the baseline
    makes no error."""
    if len(errors) != len(baseline):
        raise ValueError(f"{len(errors)} errors for {len(baseline)} baseline errors")
    return tuple(None if e is None or b is None or b < MIN_BASELINE_ERROR else e / b
                 for e, b in zip(errors, baseline))


def score(ratios: Sequence[float | None]) -> float:
    """The mean of the heads' error ratios, each capped at 1 (1.0, the baseline's, when no head is
    scored)."""
    scored = [min(r, 1.0) for r in ratios if r is not None]
    return float(np.mean(scored)) if scored else 1.0
