"""Champion / challenger: a newly trained model becomes current only if it is better on the
validation split than both the baseline predictor and the current model.

"Better" is the training objective on the validation split (`comparable_loss`):
cross-entropy for class heads, squared error for regression heads standardised with
the challenger's training statistics, so the challenger, the champion (re-run on
today's validation split) and the baseline (the training split's class frequencies
and means) are scored on the same scale. The test split is never looked at here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Sequence

import numpy as np
import torch

from kellyd.train.checkpoint import heads_of, load_checkpoint, normalise_with
from kellyd.train.data import Head, ModelData, SplitData
from kellyd.train.loop import predict
from kellyd.train.metrics import head_slices

Decision = Literal["promoted", "kept_champion", "below_baseline"]


@dataclass(frozen=True)
class GateResult:
    decision: Decision
    reason: str
    challenger_loss: float
    baseline_loss: float
    champion_loss: float | None

    @property
    def promoted(self) -> bool:
        return self.decision == "promoted"


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def comparable_loss(outputs: np.ndarray, output_heads: Sequence[Head], split: SplitData,
                    reference_heads: Sequence[Head]) -> float:
    """The objective of `outputs` (n, steps, out) on `split`: regression outputs are turned into
    units with `output_heads`' statistics, then standardised with `reference_heads`'."""
    total = 0.0
    for head, ref, where in zip(output_heads, reference_heads, head_slices(output_heads).values()):
        values = outputs[:, :, where] if head.per_step else outputs[:, -1, where]
        if head.kind == "class":
            targets = split.targets[head.name].reshape(-1)
            log_p = _log_softmax(values.reshape(-1, head.size).astype(np.float64))
            valid = targets >= 0
            total += float(-log_p[valid, targets[valid]].mean()) if valid.any() else 0.0
        else:
            units = values.astype(np.float64) * np.asarray(head.std) + np.asarray(head.mean)
            z = (units - np.asarray(ref.mean)) / np.asarray(ref.std)
            target_z = (split.targets[head.name] - np.asarray(ref.mean)) / np.asarray(ref.std)
            mask = split.masks[head.name]
            total += float(((z - target_z) ** 2)[mask].mean()) if mask.any() else 0.0
    return total


def baseline_outputs(data: ModelData, split: str) -> np.ndarray:
    """What the baseline predictor outputs for every example of `split`: the log of the training
    split's class frequencies for class heads, the training mean (0 standardised) for regression."""
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


def _compatible(document: dict, data: ModelData) -> str | None:
    """Why the champion cannot be scored on this data, or None when it can."""
    if list(document["feature_names"]) != list(data.feature_names):
        return "its input features differ"
    theirs = [(h.name, h.kind, h.size, h.classes) for h in heads_of(document)]
    ours = [(h.name, h.kind, h.size, h.classes) for h in data.heads]
    if theirs != ours:
        return "its outputs or classes differ"
    return None


def judge(challenger: torch.nn.Module, data: ModelData, champion_checkpoint: Path | None,
          champion_version: str | None, device: torch.device) -> GateResult:
    """Decide whether the challenger replaces the champion (validation split only)."""
    val = data.splits["val"]
    ours = comparable_loss(predict(challenger, data.normalised("val"), device), data.heads, val, data.heads)
    base = comparable_loss(baseline_outputs(data, "val"), data.heads, val, data.heads)
    if not ours < base:
        return GateResult("below_baseline", f"validation loss {ours:.4f} does not beat the baseline's {base:.4f}",
                          ours, base, None)
    if champion_checkpoint is None:
        return GateResult("promoted", f"first model: validation loss {ours:.4f} beats the baseline's {base:.4f}",
                          ours, base, None)
    champion, document = load_checkpoint(champion_checkpoint)
    why_not = _compatible(document, data)
    if why_not is not None:
        return GateResult("promoted", f"the current model {champion_version} cannot be compared ({why_not}); "
                          f"validation loss {ours:.4f} beats the baseline's {base:.4f}", ours, base, None)
    outputs = predict(champion.to(device), normalise_with(document, val.inputs), device)
    theirs = comparable_loss(outputs, heads_of(document), val, data.heads)
    if ours < theirs:
        return GateResult("promoted", f"validation loss {ours:.4f} beats the current model {champion_version} "
                          f"({theirs:.4f}) and the baseline ({base:.4f})", ours, base, theirs)
    return GateResult("kept_champion", f"validation loss {ours:.4f} does not beat the current model "
                      f"{champion_version} ({theirs:.4f})", ours, base, theirs)
