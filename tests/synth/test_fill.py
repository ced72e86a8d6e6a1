"""Fill to target: the plan of pieces a dataset still needs (pure, table-driven)."""

from __future__ import annotations

import pytest

from kellyd.synth.fill import fill_plan


@pytest.mark.parametrize("model, counts, cap, generator, expected", [
    ("GroovePredictor", {g: 1000 for g in ("straight", "swing", "shuffle", "laid_back", "rushed")}, 50, "groove", ()),
    ("GroovePredictor", {"straight": 1000, "swing": 1000, "shuffle": 1000, "laid_back": 999, "rushed": 998}, 50,
     "groove", ("rushed", "laid_back", "rushed")),
    ("GroovePredictor", {}, 7, "groove", ("laid_back", "rushed", "shuffle", "straight", "swing", "laid_back", "rushed")),
    ("MelodyTransformer", {"a": 4998}, 10, "melody", ("ascending", "descending")),
    ("HarmonyPredictor", {"x": 2000}, 10, "harmony", ()),
])
def test_fill_plan(model, counts, cap, generator, expected):
    plan = fill_plan(model, counts, max_pieces=cap)
    assert plan.generator == generator
    assert plan.labels == expected


def test_emotion_fill_targets_the_base_emotions_and_respects_the_cap():
    plan = fill_plan("EmotionRecognizer", {"happy": 1000, "sad": 10}, max_pieces=12)
    assert plan.count == 12 and "happy" not in plan.labels
    assert set(plan.labels) == {"sad", "angry", "fear", "surprise", "disgust"}


def test_negative_cap_is_refused():
    with pytest.raises(ValueError, match="-1"):
        fill_plan("GroovePredictor", {}, max_pieces=-1)
