"""Handlers read their caps from `DatasetContext.limits`: the import refuses from stat, augmentation
decodes only the allowed start, MIDI parsing stops at its note and duration limits."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import soundfile as sf

from kellyd.config import LimitsConfig
from kellyd.errors import InvalidInput
from kellyd.handlers.augment import Augment
from kellyd.handlers.base import DatasetContext
from kellyd.handlers.importer import Import
from kellyd.music.midi_io import read_score, write_score
from kellyd.sample import Sample, sample_id_for
from tests.music.midi_builders import notes, score

SR_HZ = 16000


def tone_sample(root, seconds: float, *, hz: float = 330.0, split: str | None = "train") -> Sample:
    """A mono sine WAV of `seconds` imported under `root`, as the import step leaves it."""
    rel = "raw/audio/long.wav"
    (root / "raw" / "audio").mkdir(parents=True)
    t = np.arange(int(seconds * SR_HZ)) / SR_HZ
    sf.write(root / rel, (0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32), SR_HZ, subtype="PCM_16")
    sha = hashlib.sha256((root / rel).read_bytes()).hexdigest()
    return Sample(dataset_id="d", origin_path=str(root / rel), sample_id=sample_id_for(sha), sha256=sha,
                  kind="audio", file_path=rel, split=split)


def test_import_refuses_a_sparse_file_over_max_file_mb_from_its_size(tmp_path):
    big = tmp_path / "in" / "huge.mid"
    big.parent.mkdir()
    with open(big, "wb") as f:
        f.write(b"MThd")
        f.truncate(3 * 1024**3)
    ctx = DatasetContext("d", tmp_path / "ds", limits=LimitsConfig(max_file_mb=1024.0))
    with pytest.raises(InvalidInput, match=r"3072\.0 MiB, over the limit of 1024 MiB \(limits\.max_file_mb\)"):
        Import(ctx)(Sample(dataset_id="d", origin_path=str(big)))
    assert not (tmp_path / "ds").exists() or not any((tmp_path / "ds").rglob("huge*"))


def test_import_refuses_midi_over_max_midi_mb_before_parsing(tmp_path):
    path = tmp_path / "padded.mid"
    write_score(score(notes([(0.0, 0.5, 60, 80)])), path)
    path.write_bytes(path.read_bytes() + b"\0" * 4096)
    ctx = DatasetContext("d", tmp_path / "ds", limits=LimitsConfig(max_midi_mb=0.002))
    with pytest.raises(InvalidInput, match=r"limits\.max_midi_mb"):
        Import(ctx)(Sample(dataset_id="d", origin_path=str(path)))


@pytest.mark.parametrize("limits, key", [
    (LimitsConfig(max_midi_notes=49), "limits.max_midi_notes"),
    (LimitsConfig(max_midi_duration_s=24.0), "limits.max_midi_duration_s"),
])
def test_read_score_stops_at_the_midi_limits(tmp_path, limits, key):
    path = tmp_path / "fifty.mid"
    write_score(score(notes([(i * 0.5, (i + 1) * 0.5, 60, 80) for i in range(50)])), path)  # 25 s
    with pytest.raises(InvalidInput, match=key.replace(".", r"\.")):
        read_score(path, limits=limits)
    assert len(read_score(path, limits=LimitsConfig()).tracks[0].notes) == 50


def test_augmentation_reads_and_writes_only_max_audio_augment_s(tmp_path):
    root = tmp_path / "ds"
    parent = tone_sample(root, 6.0)
    ctx = DatasetContext("d", root, limits=LimitsConfig(max_audio_augment_s=1.5))
    derived = Augment(ctx, multiplier=3, sr_hz=SR_HZ, transforms={"gain": [0.8, 1.2], "noise": [0.0, 0.01]})(parent)
    assert len(derived.children) == 3
    for child in derived.children:
        assert sf.info(str(root / child.file_path)).duration == pytest.approx(1.5, abs=1e-3)


def test_features_analyse_only_max_audio_analysis_s(tmp_path):
    from kellyd.handlers.features import Features

    root = tmp_path / "ds"
    sample = tone_sample(root, 8.0, hz=440.0, split=None)
    limited = Features(DatasetContext("d", root, limits=LimitsConfig(max_audio_analysis_s=6.0)), sr_hz=SR_HZ)(sample)
    assert "analysis_truncated" in limited.annotations["flags"]
    whole = Features(DatasetContext("d", root, limits=LimitsConfig(max_audio_analysis_s=9.0)), sr_hz=SR_HZ)(sample)
    assert "analysis_truncated" not in whole.annotations.get("flags", ())
