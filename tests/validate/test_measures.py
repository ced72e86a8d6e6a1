"""Pure measures and per-sample rules: entropy, balance, tempo bins, keys, annotations, feature columns."""

from __future__ import annotations

import math

import numpy as np
import pytest

from kellyd.validate.features import ColumnScan, flatten_features
from kellyd.validate.measures import balance_ratio, normalised_entropy, tempo_bin, tempo_bin_labels
from kellyd.validate.targets import TARGETS, annotation_problems, pitch_class
from kellyd.validate.verdict import verdict_of
from kellyd.validate.report import Reason


@pytest.mark.parametrize("counts, categories, expected", [
    ([10], None, 0.0),
    ([10, 0, 0], 3, 0.0),
    ([], None, 0.0),
    ([0, 0], None, 0.0),
    ([5, 5], None, 1.0),
    ([1] * 12, 12, 1.0),
    ([5, 5], 4, 0.5),
    ([3, 1], None, -(0.75 * math.log(0.75) + 0.25 * math.log(0.25)) / math.log(2)),
])
def test_normalised_entropy(counts, categories, expected):
    assert normalised_entropy(counts, categories) == pytest.approx(expected, abs=1e-12)


def test_normalised_entropy_never_leaves_0_1():
    rng = np.random.default_rng(0)
    for _ in range(200):
        counts = rng.integers(0, 1000, size=rng.integers(1, 30))
        value = normalised_entropy(counts)
        assert 0.0 <= value <= 1.0


@pytest.mark.parametrize("counts, categories, message", [
    ([-1, 2], None, "non-negative"),
    ([float("nan")], None, "finite"),
    ([1, 2, 3], 2, "smaller than the number of counts"),
])
def test_normalised_entropy_refuses_bad_counts(counts, categories, message):
    with pytest.raises(ValueError, match=message):
        normalised_entropy(counts, categories)


@pytest.mark.parametrize("counts, expected", [([], 1.0), ([7], 1.0), ([10, 5], 0.5), ([0, 4], 0.0), ([0, 0], 1.0)])
def test_balance_ratio(counts, expected):
    assert balance_ratio(counts) == expected


@pytest.mark.parametrize("bpm, index", [(40, 0), (59.9, 0), (60, 1), (99, 2), (120, 4), (199.9, 7), (200, 8), (300, 8)])
def test_tempo_bin(bpm, index):
    assert tempo_bin(bpm) == index
    assert len(tempo_bin_labels()) == 9


@pytest.mark.parametrize("bpm", [0, -3, float("nan"), float("inf")])
def test_tempo_bin_refuses(bpm):
    with pytest.raises(ValueError, match="tempo_bpm"):
        tempo_bin(bpm)


@pytest.mark.parametrize("key, pc", [
    ("C", 0), ("Gb", 6), ("F#", 6), ("bb", 10), ("A:minor", 9), ("c minor", 0), ("Ebm", 3), ("B", 11),
    ("Cb", 11), ("Fmaj", 5), ("H", None), ("", None), (None, None), (5, None), ("Cx", None),
])
def test_pitch_class(key, pc):
    assert pitch_class(key) == pc


@pytest.mark.parametrize("model, annotations, expected", [
    ("EmotionRecognizer", {"emotion": "joy", "valence": 0.9, "arousal": 0.7}, []),
    ("EmotionRecognizer", {"emotion": "joy", "valence": 1.5, "arousal": 0.7}, ["annotation_invalid"]),
    ("EmotionRecognizer", {"emotion": "joy", "arousal": 0.7}, ["annotation_missing"]),
    ("EmotionRecognizer", {"emotion": "wistful", "valence": 0.1, "arousal": 0.2}, ["annotation_unknown"]),
    ("EmotionRecognizer", {"emotion": "joy", "valence": float("nan"), "arousal": 0.7}, ["annotation_invalid"]),
    ("GroovePredictor", {"swing_ratio": 0.62}, []),
    ("GroovePredictor", {"groove_type": "swing"}, []),
    ("GroovePredictor", {"instrument": "drums"}, ["annotation_missing"]),
    ("GroovePredictor", {"groove_type": "polka"}, ["annotation_invalid"]),
    ("MelodyTransformer", {"emotion": "sad", "key": "Bb", "mode": "dorian"}, ["annotation_invalid"]),
    ("HarmonyPredictor", {"emotion": "sad", "chord_progression": []}, ["annotation_invalid"]),
    ("HarmonyPredictor", {"emotion": "sad"}, ["annotation_missing"]),
    ("DynamicsEngine", {"articulation": "legato", "tempo_bpm": 0}, ["annotation_invalid"]),
])
def test_annotation_problems(model, annotations, expected):
    got = [check for check, _ in annotation_problems(annotations, TARGETS[model])]
    assert sorted(got) == sorted(expected)


def test_flatten_features():
    columns, bad = flatten_features({
        "schema_version": 3, "sample_id": "ab", "labels": {"x": float("nan")}, "feature_layout_version": 1,
        "tempo_bpm": 120, "mode": "minor", "drums": True, "groove": {"swing": 0.6},
        "hist": [1, 2], "roll": list(range(100)), "chords": ["C", "G"], "broken": float("inf"),
        "long_bad": [0.0] * 80 + [float("nan")], "nested_bad": [{"v": float("-inf")}],
    })
    assert columns == {"tempo_bpm": 120.0, "mode": "minor", "drums": "true", "groove.swing": 0.6,
                       "hist[0]": 1.0, "hist[1]": 2.0}
    assert sorted(bad) == ["broken", "long_bad", "nested_bad[0].v"]


def test_column_scan_finds_constant_and_label_columns():
    scan = ColumnScan(class_count=2, numeric_labels=("valence",))
    rows = [({"a": 1.0, "b": float(i), "code": "x" if i % 2 else "y", "v": 0.1 * i}, "sad" if i % 2 else "happy",
             {"valence": 0.1 * i}) for i in range(10)]
    for columns, label, numeric in rows:
        scan.add(columns, label, numeric)
    assert scan.constant_columns() == ["a"]
    assert scan.label_columns() == ["code"]
    assert scan.equal_columns() == {"valence": ["v"]}


def test_column_scan_is_quiet_without_signal():
    scan = ColumnScan(class_count=2, numeric_labels=("valence",))
    scan.add({"a": 1.0, "code": "x"}, "happy", {"valence": 0.5})
    assert scan.constant_columns() == []  # one sample says nothing
    scan.add({"a": 2.0, "code": "x"}, "sad", {"valence": 0.5})
    assert scan.label_columns() == [] and scan.equal_columns() == {}


def test_verdict_of():
    def r(severity):
        return Reason("quality", "x", severity, "m")
    assert verdict_of([]) == "ready"
    assert verdict_of([r("info")]) == "ready"
    assert verdict_of([r("info"), r("warning")]) == "usable_with_warnings"
    assert verdict_of([r("warning"), r("error")]) == "invalid"
    with pytest.raises(ValueError, match="'fatal'"):
        r("fatal")
