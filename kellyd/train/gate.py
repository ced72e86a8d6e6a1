"""Champion / challenger: a newly trained model becomes current only if it is better on the
validation split than both the baseline predictor and the current model.

"Better" is the validation score of `kellyd.train.objective`, the one training chose its
epoch by: the mean over heads of the head's error divided by the baseline's error, with
regression heads standardised with the challenger's training statistics. The challenger,
the champion (re-run on today's validation split) and the baseline (the training split's
class frequencies and means, score 1.0) are so scored on the same scale. The test split
is never looked at here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Sequence

import numpy as np
import torch

from kellyd.train.checkpoint import heads_of, load_checkpoint, normalise_with
from kellyd.train.data import Head, ModelData
from kellyd.train.loop import predict
from kellyd.train.objective import baseline_errors, error_ratios, head_errors, score

Decision = Literal["promoted", "kept_champion", "below_baseline"]


@dataclass(frozen=True)
class GateResult:
    """The decision and the validation scores behind it (baseline: 1.0 by construction)."""

    decision: Decision
    reason: str
    challenger_score: float
    baseline_score: float
    champion_score: float | None

    @property
    def promoted(self) -> bool:
        return self.decision == "promoted"


def _compatible(document: dict, data: ModelData) -> str | None:
    """Why the champion cannot be scored on this data, or None when it can."""
    if list(document["feature_names"]) != list(data.feature_names):
        return "its input features differ"
    theirs = [(h.name, h.kind, h.size, h.classes) for h in heads_of(document)]
    ours = [(h.name, h.kind, h.size, h.classes) for h in data.heads]
    if theirs != ours:
        return "its outputs or classes differ"
    return None


def validation_ratios(outputs: np.ndarray, output_heads: Sequence[Head], data: ModelData) -> tuple[float | None, ...]:
    """Per head, the error ratio on `data`'s validation split of outputs made with `output_heads`'
    statistics (see `kellyd.train.objective`)."""
    val = data.splits["val"]
    return error_ratios(head_errors(outputs, output_heads, val, data.heads), baseline_errors(data, "val"))


def _no_better(data: ModelData, ratios: Sequence[float | None]) -> str:
    """A note naming the heads no better than their baseline ('' when none)."""
    names = [h.name for h, r in zip(data.heads, ratios) if r is not None and r >= 1.0]
    return f" ({', '.join(names)} no better than {'its' if len(names) == 1 else 'their'} baseline)" if names else ""


def judge(challenger: torch.nn.Module, data: ModelData, champion_checkpoint: Path | None,
          champion_version: str | None, device: torch.device) -> GateResult:
    """Decide whether the challenger replaces the champion (validation split only)."""
    ratios = validation_ratios(predict(challenger, data.normalised("val"), device), data.heads, data)
    ours, base, note = score(ratios), 1.0, _no_better(data, ratios)
    if not ours < base:
        return GateResult("below_baseline", f"validation score {ours:.4f} does not beat the baseline's {base:.4f}",
                          ours, base, None)
    if champion_checkpoint is None:
        return GateResult("promoted", f"first model: validation score {ours:.4f} beats the baseline's "
                          f"{base:.4f}{note}", ours, base, None)
    champion, document = load_checkpoint(champion_checkpoint)
    why_not = _compatible(document, data)
    if why_not is not None:
        return GateResult("promoted", f"the current model {champion_version} cannot be compared ({why_not}); "
                          f"validation score {ours:.4f} beats the baseline's {base:.4f}{note}", ours, base, None)
    outputs = predict(champion.to(device), normalise_with(document, data.splits["val"].inputs), device)
    theirs = score(validation_ratios(outputs, heads_of(document), data))
    if ours < theirs:
        return GateResult("promoted", f"validation score {ours:.4f} beats the current model {champion_version} "
                          f"({theirs:.4f}) and the baseline ({base:.4f}){note}", ours, base, theirs)
    return GateResult("kept_champion", f"validation score {ours:.4f} does not beat the current model "
                      f"{champion_version} ({theirs:.4f})", ours, base, theirs)
