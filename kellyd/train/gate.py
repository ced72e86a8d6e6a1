"""Champion / challenger: a newly trained model becomes current only if every head beats its
baselines on the validation split and the model beats the current champion of the same data.

Per head, on the validation split, per clip (`kellyd.train.clips`: a clip counts once
however many windows it gave), with macro-F1 for class heads and the mean absolute
error for regression heads, the challenger must do strictly better than each baseline:
- `majority` (class) or `mean` (regression): the training split's majority class or mean;
- `logistic` (class) or `ridge` (regression): the classical baseline of `kellyd.train.baseline`,
  a linear model on the clip feature vector fitted on the same training split.
A baseline that is already perfect (macro-F1 1, error 0) only has to be matched. One head
below one baseline is enough to refuse the model (`below_baseline`): averaging heads let a
model with a useless head through.

The champion is the current model of the SAME dataset and feature schema
(`kellyd.train.registry.champion_entry`): a model trained on other data was chosen on
other validation clips, and may have trained on these ones. A champion of the same data
that trained on any of today's validation samples (another split: `kellyd.train.overlap`)
is not the comparison either; the reason and every head say why, and the challenger is
judged against the baselines alone. The challenger replaces it
when its validation score (`kellyd.train.objective`, the one training chose its epoch by)
is lower than the champion's on today's validation split; the champion's per-head values
are recorded beside. The test split is never looked at here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Mapping, Sequence

import numpy as np
import torch

from kellyd.train.baseline import NAMES as CLASSICAL_NAMES
from kellyd.train.checkpoint import heads_of, load_checkpoint, normalise_with
from kellyd.train.clips import evaluate_clips
from kellyd.train.data import Head, ModelData
from kellyd.train.loop import predict
from kellyd.train.metrics import Metric, head_slices, majority_class
from kellyd.train.objective import baseline_errors, error_ratios, head_errors, score

Decision = Literal["promoted", "kept_champion", "below_baseline"]
GATE_LEVEL = "clip"
# Below this distance from a perfect score a baseline counts as perfect (matching it is enough).
PERFECT_TOLERANCE = 1e-9


@dataclass(frozen=True)
class HeadVerdict:
    """One head's validation figures and whether it passed the gate.

    metric: "macro_f1" (class heads, higher is better) or "mae" (regression heads, lower is better).
    baselines: baseline name ("majority" or "mean", "logistic" or "ridge") -> its value.
    champion: the champion's value on the same validation clips (None: no comparable champion).
    champion_skipped: why the current model of this data is not the comparison (None: it is, or there is none).
    """

    head: str
    kind: Literal["class", "regression"]
    metric: str
    better: Literal["higher", "lower"]
    unit: str
    challenger: float
    baselines: Mapping[str, float]
    champion: float | None
    clips: int
    passed: bool
    reason: str
    champion_skipped: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"head": self.head, "kind": self.kind, "metric": self.metric, "better": self.better,
                "unit": self.unit, "level": GATE_LEVEL, "challenger": self.challenger,
                "baselines": dict(self.baselines), "champion": self.champion, "clips": self.clips,
                "passed": self.passed, "reason": self.reason, "champion_skipped": self.champion_skipped}


@dataclass(frozen=True)
class GateResult:
    """The decision, why, and the figures behind it.

    challenger_score / champion_score: validation scores of `kellyd.train.objective` (baseline 1.0).
    heads: one verdict per head, in the model's head order.
    champion_version: the champion that was the comparison (None: none of this dataset and schema).
    """

    decision: Decision
    reason: str
    challenger_score: float
    baseline_score: float
    champion_score: float | None
    heads: tuple[HeadVerdict, ...] = ()
    champion_version: str | None = None

    @property
    def promoted(self) -> bool:
        return self.decision == "promoted"

    def to_json(self) -> dict[str, Any]:
        """The registry's `gate` object."""
        return {"decision": self.decision, "reason": self.reason, "level": GATE_LEVEL,
                "challenger_score": self.challenger_score, "champion_score": self.champion_score,
                "champion_version": self.champion_version, "heads": [h.to_json() for h in self.heads]}


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


def gate_metric(head: Head) -> str:
    """The metric a head is judged by: macro-F1 for class heads, mean absolute error for regression."""
    return f"{head.name}.macro_f1" if head.kind == "class" else f"{head.name}.mae"


def _beats(value: float, baseline: float, better: str) -> bool:
    if better == "higher":
        return value > baseline or (baseline >= 1.0 - PERFECT_TOLERANCE and value >= baseline)
    return value < baseline or (baseline <= PERFECT_TOLERANCE and value <= baseline)


def head_verdicts(challenger: Mapping[str, Metric], classical: Mapping[str, Metric], heads: Sequence[Head],
                  champion: Mapping[str, Metric] | None = None,
                  champion_skipped: str | None = None) -> tuple[HeadVerdict, ...]:
    """Per head, the challenger's validation metric against the simple and the classical baseline
    (all per clip, from `kellyd.train.clips.evaluate_clips`); champion_skipped: why the champion has
    no value (recorded with every head)."""
    verdicts = []
    for head in heads:
        name = gate_metric(head)
        ours, theirs = challenger[name], classical[name]
        simple = "majority" if head.kind == "class" else "mean"
        baselines = {simple: ours.baseline, CLASSICAL_NAMES[head.kind]: theirs.value}
        champion_value = champion[name].value if champion is not None else None
        metric = name.split(".", 1)[1]
        if ours.count == 0:
            verdicts.append(HeadVerdict(head.name, head.kind, metric, ours.better, ours.unit, ours.value, baselines,
                                        champion_value, 0, True, "no validation clip has a target for this head",
                                        champion_skipped))
            continue
        losing = [b for b, v in baselines.items() if not _beats(ours.value, v, ours.better)]
        shown = ", ".join(f"{b} {v:.4f}" for b, v in baselines.items())
        if losing:
            reason = (f"{metric} {ours.value:.4f} does not beat {' and '.join(losing)} ({shown}) "
                      f"on {ours.count} validation clips")
        else:
            reason = f"{metric} {ours.value:.4f} beats {shown} on {ours.count} validation clips"
        verdicts.append(HeadVerdict(head.name, head.kind, metric, ours.better, ours.unit, ours.value, baselines,
                                    champion_value, ours.count, not losing, reason, champion_skipped))
    return tuple(verdicts)


def judge(challenger: torch.nn.Module, data: ModelData, classical_val: np.ndarray, champion_checkpoint: Path | None,
          champion_version: str | None, device: torch.device, champion_excluded: str | None = None) -> GateResult:
    """Decide whether the challenger replaces the champion (validation split only).

    classical_val: the classical baseline's outputs on the validation split
    (`kellyd.train.baseline.fit_classical(...).outputs["val"]`).
    champion_checkpoint: the current model of this dataset and feature schema, or None.
    champion_excluded: why that model may not be the comparison although it is of this data
    (`kellyd.train.overlap.champion_exclusion`), or None.
    """
    val = data.splits["val"]
    majority = {h.name: majority_class(data.splits["train"], h) for h in data.heads if h.kind == "class"}
    outputs = predict(challenger, data.normalised("val"), device)
    ours = score(validation_ratios(outputs, data.heads, data))
    challenger_clips = evaluate_clips(outputs, val, data.heads, majority)
    classical_clips = evaluate_clips(classical_val, val, data.heads, majority)

    # The champion is scored on the same validation clips even when the challenger fails, so the
    # record shows every head against it too.
    champion_clips, theirs, compared, why_not = None, None, None, champion_excluded
    if champion_checkpoint is not None and why_not is None:
        champion, document = load_checkpoint(champion_checkpoint)
        why_not = _compatible(document, data)
        if why_not is None:
            their_heads = heads_of(document)
            their_outputs = predict(champion.to(device), normalise_with(document, val.inputs), device)
            # Its regression outputs are in its own training statistics' units.
            champion_clips = evaluate_clips(_in_our_units(their_outputs, their_heads, data.heads), val, data.heads,
                                            majority)
            theirs = score(validation_ratios(their_outputs, their_heads, data))
            compared = champion_version
    skipped = None
    if champion_checkpoint is not None and why_not is not None:
        skipped = f"the current model {champion_version} is not the comparison: {why_not}"
    verdicts = head_verdicts(challenger_clips, classical_clips, data.heads, champion_clips, skipped)
    failed = [v for v in verdicts if not v.passed]
    if failed:
        reason = "; ".join(f"{v.head}: {v.reason}" for v in failed) + (f" ({skipped})" if skipped else "")
        return GateResult("below_baseline", f"not promoted: {reason}", ours, 1.0, theirs, verdicts, compared)
    if champion_checkpoint is None:
        return GateResult("promoted", f"first model of this dataset and feature schema: every head beats its "
                          f"baselines on validation (score {ours:.4f})", ours, 1.0, None, verdicts, None)
    if theirs is None:
        return GateResult("promoted", f"{skipped}; every head beats its baselines on validation "
                          f"(score {ours:.4f})", ours, 1.0, None, verdicts, None)
    if ours < theirs:
        return GateResult("promoted", f"every head beats its baselines and the validation score {ours:.4f} (error against "
                          f"the baselines, lower is better) beats the current model {champion_version} "
                          f"({theirs:.4f})", ours, 1.0, theirs, verdicts,
                          champion_version)
    return GateResult("kept_champion", f"validation score {ours:.4f} (error against the baselines, lower is "
                      f"better) does not beat the current model {champion_version} ({theirs:.4f})", ours, 1.0, theirs, verdicts, champion_version)


def _in_our_units(outputs: np.ndarray, their_heads: Sequence[Head], our_heads: Sequence[Head]) -> np.ndarray:
    """Outputs of a model standardised with `their_heads`' statistics, re-standardised with ours."""
    converted = outputs.astype(np.float64).copy()
    for theirs, ours, where in zip(their_heads, our_heads, head_slices(our_heads).values()):
        if ours.kind == "regression":
            units = converted[:, :, where] * np.asarray(theirs.std) + np.asarray(theirs.mean)
            converted[:, :, where] = (units - np.asarray(ours.mean)) / np.asarray(ours.std)
    return converted.astype(np.float32)
