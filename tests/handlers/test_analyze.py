"""The analyze step on real files: analysis, stems, notes and tags written; labels given by people kept;
a Demucs model that is not there falls back with the reason; bad audio is invalid input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from kellyd.errors import InvalidInput
from kellyd.handlers.analyze import Analyze, merge_analyzed
from kellyd.handlers.base import DatasetContext
from kellyd.music.midi_io import read_score
from kellyd.sample import Sample
from tests.song.song_files import song, write_tagged_flac


@pytest.mark.parametrize("annotations, found, expected", [
    # nothing given: everything found fills in, and is remembered as analyzed
    ({}, {"tempo_bpm": 97.0, "key": "G"}, {"tempo_bpm": 97.0, "key": "G", "analyzed": ["key", "tempo_bpm"]}),
    # a label from a folder or sidecar stays; its partner (mode) is not filled from the analysis
    ({"key": "F"}, {"key": "G", "mode": "minor", "tempo_bpm": 90.0},
     {"key": "F", "tempo_bpm": 90.0, "analyzed": ["tempo_bpm"]}),
    # a label another step detected (clip features) gives way and leaves its `detected` list
    ({"tempo_bpm": 117.0, "emotion": "sad", "detected": ["tempo_bpm"]}, {"tempo_bpm": 87.5},
     {"tempo_bpm": 87.5, "emotion": "sad", "detected": [], "analyzed": ["tempo_bpm"]}),
    # a recompute replaces what the analysis filled before; empty values fill nothing
    ({"tempo_bpm": 80.0, "analyzed": ["tempo_bpm"]}, {"tempo_bpm": 81.0, "title": "", "artist": None},
     {"tempo_bpm": 81.0, "analyzed": ["tempo_bpm"]}),
])
def test_merge_analyzed(annotations, found, expected):
    assert merge_analyzed(annotations, found) == expected


def _sample(rel: str, **annotations) -> Sample:
    return Sample(dataset_id="songs", origin_path="", sample_id="a1b2c3d4e5f60718", kind="audio", file_path=rel,
                  annotations=annotations)


@pytest.fixture(scope="module")
def signal():
    return song(10.0)


def test_a_tagged_song_is_analysed_and_a_missing_demucs_model_falls_back(tmp_path, signal):
    raw = tmp_path / "raw" / "audio"
    raw.mkdir(parents=True)
    write_tagged_flac(raw / "s.flac", *signal, title="Blue", artist="Kay", date="2001", tracknumber="3")
    handler = Analyze(DatasetContext("songs", tmp_path), stems="demucs", demucs_model=str(tmp_path / "no-model.th"))
    out = handler(_sample("raw/audio/s.flac", key="F", emotion="happy", duration_s=10.0))

    ann = out.annotations
    assert ann["key"] == "F" and "mode" not in ann and ann["emotion"] == "happy"  # given labels stay
    assert ann["title"] == "Blue" and ann["artist"] == "Kay" and ann["year"] == 2001 and ann["track_number"] == 3
    assert 40 <= ann["tempo_bpm"] <= 210 and ann["time_signature"] in ("3/4", "4/4")
    assert set(ann["analyzed"]) >= {"tempo_bpm", "time_signature", "title", "artist"}

    # Every output sits in its sample-id shard folder (processed/<part>/<3 hex>/...), as features do.
    shard = out.sample_id[:3]
    assert {Path(p).parts[2] for p in out.outputs.values()} == {shard}, out.outputs
    analysis = json.loads((tmp_path / out.outputs["analysis"]).read_text())
    assert analysis["tags"]["title"] == "Blue" and analysis["tags"]["has_cover"]
    assert analysis["music"]["beats_s"] and analysis["music"]["chords"] and analysis["music"]["key"]
    assert analysis["stems"]["backend"] == "hpss"
    assert "Demucs not used: no Demucs model at" in analysis["stems"]["note"] and "no-model.th" in analysis["stems"]["note"]
    arrays = np.load(tmp_path / out.outputs["analysis_arrays"])
    assert len(arrays["beats_s"]) == len(analysis["music"]["beats_s"])

    mix, sr = sf.read(tmp_path / "raw" / "audio" / "s.flac", dtype="float32")
    stems = [sf.read(tmp_path / out.outputs[f"stem_{name}"], dtype="float32")[0]
             for name in ("vocals", "drums", "bass", "other")]
    assert all(len(s) == len(mix) for s in stems)
    resampled = sum(stems)  # stems are at the analysis rate: compare energies, not samples
    assert np.sqrt(np.mean(resampled**2)) == pytest.approx(np.sqrt(np.mean(mix**2)), rel=0.05)

    score = read_score(tmp_path / out.outputs["notes_midi"])
    assert sum(len(t.notes) for t in score.tracks) == analysis["notes"]["count"] > 10
    notes_features = json.loads((tmp_path / out.outputs["notes_features"]).read_text())
    assert notes_features["kind"] == "midi" and notes_features["scalars"]

    again = handler(out)  # a second run over its own result changes nothing
    assert again.annotations == out.annotations and again.outputs == out.outputs


def test_silent_and_truncated_songs_are_invalid_input(tmp_path, signal):
    raw = tmp_path / "raw" / "audio"
    raw.mkdir(parents=True)
    sf.write(raw / "silent.wav", np.zeros(10 * 22050, np.float32), 22050)
    write_tagged_flac(raw / "cut.flac", *signal, title="Cut")
    data = (raw / "cut.flac").read_bytes()
    (raw / "cut.flac").write_bytes(data[: len(data) // 2])
    handler = Analyze(DatasetContext("songs", tmp_path))
    with pytest.raises(InvalidInput, match="silent"):
        handler(_sample("raw/audio/silent.wav"))
    with pytest.raises(InvalidInput, match="truncated|corrupt"):
        handler(_sample("raw/audio/cut.flac"))
    sf.write(raw / "blip.wav", signal[0][4 * signal[1]: int(4.3 * signal[1])], signal[1])  # 0.3 s of music
    with pytest.raises(InvalidInput, match="too short"):
        handler(_sample("raw/audio/blip.wav"))
    assert not (tmp_path / "processed" / "analysis").exists()


def test_a_midi_sample_passes_through(tmp_path):
    sample = Sample(dataset_id="songs", origin_path="", sample_id="0" * 16, kind="midi", file_path="raw/midi/x.mid")
    assert Analyze(DatasetContext("songs", tmp_path))(sample) is sample
