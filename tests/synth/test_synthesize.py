"""Synthesized files in a dataset: layout, durations read back, same bytes on a re-run, samples."""

from __future__ import annotations

import hashlib

import pytest

from kellyd.handlers.base import DatasetContext
from kellyd.music.midi_io import read_score
from kellyd.synth.synthesize import GENERATORS, synthesize
from kellyd.taxonomy import EMOTIONS, GROOVE_TYPES


@pytest.mark.parametrize("generator", sorted(GENERATORS))
@pytest.mark.parametrize("duration_s", [6.0, 23.5])
def test_files_read_back_with_the_duration_asked_for(tmp_path, generator, duration_s):
    ctx = DatasetContext("ds", tmp_path / "ds")
    samples = synthesize(ctx, generator=generator, count=6, seed=3, duration_s=duration_s)
    assert len(samples) == 6
    for sample in samples:
        path = ctx.root / sample.file_path
        assert read_score(path).duration_s == pytest.approx(duration_s, abs=1e-3), sample.file_path
        assert sample.annotations["duration_s"] == pytest.approx(duration_s, abs=1e-3)


def test_layout_and_sample_fields(tmp_path):
    ctx = DatasetContext("groove_dataset_v1", tmp_path / "ds")
    samples = synthesize(ctx, generator="groove", count=10, seed=7)
    assert [s.annotations["groove_type"] for s in samples] == list(GROOVE_TYPES) * 2
    for i, s in enumerate(samples):
        label = s.annotations["groove_type"]
        assert s.file_path == f"raw/synthetic/groove/{label}/groove_s7_{i:05d}.mid"
        data = (ctx.root / s.file_path).read_bytes()
        assert s.sha256 == hashlib.sha256(data).hexdigest() and s.sample_id == s.sha256[:16]
        assert (s.kind, s.dataset_id, s.label_dirs) == ("midi", "groove_dataset_v1", (label,))
        assert s.source == {"type": "synthetic", "generator": "groove", "seed": 7, "index": i}
        assert s.split is None and s.parent_id is None and s.features_path is None
    assert len({s.sha256 for s in samples}) == 10


def test_one_piece_per_emotion_with_its_taxonomy_values(tmp_path):
    ctx = DatasetContext("emotion_dataset_v1", tmp_path / "ds")
    samples = synthesize(ctx, generator="emotion", count=len(EMOTIONS), seed=1)
    assert sorted(s.annotations["emotion"] for s in samples) == sorted(EMOTIONS)
    for s in samples:
        e = EMOTIONS[s.annotations["emotion"]]
        assert (s.annotations["valence"], s.annotations["arousal"], s.annotations["base_emotion"]) == \
            (e.valence, e.arousal, e.base)
        assert s.file_path.startswith(f"raw/synthetic/emotion/{e.name}/")


def test_a_rerun_writes_the_same_bytes_and_returns_the_same_samples(tmp_path):
    ctx = DatasetContext("ds", tmp_path / "ds")
    first = synthesize(ctx, generator="harmony", count=8, seed=11, labels=["minor"])
    before = {p: p.read_bytes() for p in (ctx.root / "raw").rglob("*.mid")}
    second = synthesize(ctx, generator="harmony", count=8, seed=11, labels=["minor"])
    assert first == second
    assert {p: p.read_bytes() for p in (ctx.root / "raw").rglob("*.mid")} == before
    other = synthesize(DatasetContext("ds", tmp_path / "other"), generator="harmony", count=8, seed=12,
                       labels=["minor"])
    assert {s.sha256 for s in other}.isdisjoint({s.sha256 for s in first})
    assert all(s.annotations["mode"] == "minor" for s in first)
