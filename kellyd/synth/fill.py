"""Fill to target: which synthetic pieces a dataset still needs to reach its model's targets.

Pure: from the model's target (`kellyd.validate.targets`) and the current
per-class counts, the generator to use and the labels of the pieces to write,
capped per run so that one scheduled job never floods a dataset.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from kellyd.synth.synthesize import GENERATORS
from kellyd.validate.targets import target_for

GENERATOR_FOR_MODEL = {
    "EmotionRecognizer": "emotion",
    "MelodyTransformer": "melody",
    "HarmonyPredictor": "harmony",
    "DynamicsEngine": "dynamics",
    "GroovePredictor": "groove",
}


@dataclass(frozen=True)
class FillPlan:
    generator: str
    labels: tuple[str, ...]  # one entry per piece to write

    @property
    def count(self) -> int:
        return len(self.labels)


def fill_plan(model: str, counts: Mapping[str, int], *, max_pieces: int) -> FillPlan:
    """The pieces that bring the dataset closer to its target, at most `max_pieces`.

    counts: original (non-derived) samples per class label. With a per-class
    target, the classes the generator can make are filled, the emptiest first
    (round robin); with a total target, pieces cycle through the generator's labels.
    """
    if max_pieces < 0:
        raise ValueError(f"max_pieces must be >= 0, got {max_pieces}")
    target = target_for(model)
    generator = GENERATOR_FOR_MODEL[model]
    makeable = GENERATORS[generator].labels
    if target.per_class is not None:
        classes = [c for c in makeable if c in _wanted_classes(model, makeable)]
        missing = {c: max(0, target.per_class - counts.get(c, 0)) for c in classes}
        labels: list[str] = []
        while len(labels) < max_pieces and any(missing.values()):
            for c in sorted(missing, key=lambda c: (-missing[c], c)):
                if missing[c] and len(labels) < max_pieces:
                    labels.append(c)
                    missing[c] -= 1
        return FillPlan(generator, tuple(labels))
    wanted = max(0, (target.total or 0) - sum(counts.values()))
    n = min(wanted, max_pieces)
    return FillPlan(generator, tuple(makeable[i % len(makeable)] for i in range(n)))


def _wanted_classes(model: str, makeable: tuple[str, ...]) -> tuple[str, ...]:
    """EmotionRecognizer targets the six base emotions (1,000 each); groove models every groove type."""
    if model == "EmotionRecognizer":
        from kellyd.taxonomy import BASE_EMOTION_NAMES

        return BASE_EMOTION_NAMES
    return makeable
