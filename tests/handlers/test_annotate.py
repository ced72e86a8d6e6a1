from __future__ import annotations

import json

import pytest

from kellyd.handlers.annotate import Annotate, labels_from_folders, split_sidecar
from kellyd.handlers.base import DatasetContext
from kellyd.errors import InvalidInput
from kellyd.sample import Sample


@pytest.mark.parametrize("dirs, expected", [
    (("happy",), {"emotion": "happy", "base_emotion": "happy", "valence": 0.8, "arousal": 0.6}),
    (("sad", "grief"), {"emotion": "grief", "base_emotion": "sad", "valence": -0.9, "arousal": 0.35}),
    (("calm", "piano"), {"emotion": "calm", "base_emotion": "happy", "valence": 0.4, "arousal": 0.15,
                         "instrument": "piano"}),
    (("swing", "A_minor"), {"groove_type": "swing", "key": "A", "mode": "minor"}),
    (("funk", "base"), {"tags": ["funk"]}),
    ((), {}),
])
def test_labels_from_folders(dirs, expected):
    assert labels_from_folders(dirs) == expected


def test_sidecar_splits_provenance_from_annotations():
    annotations, source = split_sidecar({"source": "freesound", "username": "u", "licence": "CC0", "tags": ["x"],
                                         "emotion": "joy", "freesound_id": 3})
    assert annotations == {"tags": ["x"], "emotion": "joy"}
    assert source == {"type": "freesound", "author": "u", "license": "CC0", "freesound_id": 3}


def _sample(tmp_path, dirs, name="a.mid"):
    path = tmp_path / "raw" / "midi" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"MThd")
    return Sample(dataset_id="d", origin_path="/x", label_dirs=dirs, file_path=f"raw/midi/{name}", sha256="0" * 64,
                  sample_id="0" * 16), path


def test_sidecar_overrides_folder_labels(tmp_path):
    sample, path = _sample(tmp_path, ("happy",))
    path.with_name(path.name + ".json").write_text(json.dumps({"emotion": "joy", "tempo_bpm": 96}))
    out = Annotate(DatasetContext("d", tmp_path), label_key="emotion")(sample)
    assert out.annotations["emotion"] == "joy" and out.annotations["tempo_bpm"] == 96


def test_broken_sidecar_is_invalid_input(tmp_path):
    sample, path = _sample(tmp_path, ("happy",))
    path.with_name(path.name + ".json").write_text("{not json")
    with pytest.raises(InvalidInput, match="not valid JSON"):
        Annotate(DatasetContext("d", tmp_path), label_key="emotion")(sample)


def test_closed_label_set_rejects_unknown_label(tmp_path):
    handler = Annotate(DatasetContext("d", tmp_path), label_key="emotion", labels=("happy", "sad"))
    sample, _ = _sample(tmp_path, ("happy",))
    assert handler(sample).annotations["emotion"] == "happy"
    with pytest.raises(InvalidInput, match="'angry' is not in this dataset's label set: happy, sad"):
        handler(_sample(tmp_path, ("angry",), "b.mid")[0])
    with pytest.raises(InvalidInput, match="no 'emotion' label"):
        handler(_sample(tmp_path, ("piano",), "c.mid")[0])


def test_custom_label_key_takes_the_first_unrecognised_folder(tmp_path):
    handler = Annotate(DatasetContext("d", tmp_path), label_key="style", labels=("funk", "rock"))
    sample, _ = _sample(tmp_path, ("funk",))
    assert handler(sample).annotations["style"] == "funk"
