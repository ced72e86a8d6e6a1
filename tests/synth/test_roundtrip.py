"""Synthetic files through the feature extractors: the music tells what the labels say."""

from __future__ import annotations

import pytest

from kellyd.handlers.base import DatasetContext
from kellyd.music.midi_features import extract_midi_file
from kellyd.music.transforms import pitch_class_of
from kellyd.synth.synthesize import synthesize

KEY_FLOOR = 0.95


def key_accuracy(samples, root) -> tuple[float, list[str]]:
    wrong = []
    for s in samples:
        found = extract_midi_file(root / s.file_path).labels
        a = s.annotations
        if (pitch_class_of(found.get("key") or "?"), found.get("mode")) != (pitch_class_of(a["key"]), a["mode"]):
            wrong.append(f"{s.file_path}: {a['key']} {a['mode']} read as {found.get('key')} {found.get('mode')}")
    return 1 - len(wrong) / len(samples), wrong


@pytest.mark.parametrize("generator", ["emotion", "harmony"])
def test_key_of_synthetic_pieces_is_detected(tmp_path, generator):
    ctx = DatasetContext("ds", tmp_path / "ds")
    samples = synthesize(ctx, generator=generator, count=63 if generator == "emotion" else 60, seed=21)
    assert len({pitch_class_of(s.annotations["key"]) for s in samples}) == 12, "every key is covered"
    accuracy, wrong = key_accuracy(samples, ctx.root)
    assert accuracy >= KEY_FLOOR, wrong


def test_swing_measures_two_to_one_and_tempo_and_duration_hold(tmp_path):
    ctx = DatasetContext("ds", tmp_path / "ds")
    samples = synthesize(ctx, generator="groove", count=20, seed=5, duration_s=12.0)
    for s in samples:
        found = extract_midi_file(ctx.root / s.file_path)
        labels, a = found.labels, s.annotations
        assert labels["tempo_bpm"] == pytest.approx(a["tempo_bpm"], rel=0.02)
        assert found.scalars["duration_s"] == pytest.approx(12.0, abs=1e-3)
        if a["groove_type"] in ("swing", "shuffle"):
            assert a["swing_ratio"] == 0.667
            assert labels["swing_ratio"] == pytest.approx(0.67, abs=0.02), s.file_path
        if a["groove_type"] == "straight":
            assert labels["swing_ratio"] == pytest.approx(0.5, abs=0.02), s.file_path


@pytest.mark.parametrize("generator", ["melody", "dynamics", "emotion", "harmony"])
def test_tempo_and_duration_read_back(tmp_path, generator):
    ctx = DatasetContext("ds", tmp_path / "ds")
    for s in synthesize(ctx, generator=generator, count=10, seed=8, duration_s=14.0):
        found = extract_midi_file(ctx.root / s.file_path)
        assert found.labels["tempo_bpm"] == pytest.approx(s.annotations["tempo_bpm"], rel=0.02)
        assert found.scalars["duration_s"] == pytest.approx(14.0, abs=1e-3)
        assert found.labels["time_signature"] == s.annotations["time_signature"]


def test_articulation_of_dynamics_pieces_is_detected(tmp_path):
    ctx = DatasetContext("ds", tmp_path / "ds")
    samples = synthesize(ctx, generator="dynamics", count=30, seed=2)
    clear = [s for s in samples if s.annotations["articulation"] in ("legato", "staccato")]
    right = sum(extract_midi_file(ctx.root / s.file_path).labels.get("articulation") == s.annotations["articulation"]
                for s in clear)
    assert right / len(clear) >= 0.9
