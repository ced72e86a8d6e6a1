"""`kellyd train --split-file`: the user's split replaces the manifest's for one training, children follow
their parent, and a file that does not fit the dataset is refused with the names."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kellyd.config import DatasetConfig
from kellyd.sample import Sample
from kellyd.train.dataset import TrainingSet, UnusableData
from kellyd.train.split_file import read_split_file, with_split_file


def _set() -> TrainingSet:
    samples = (Sample("d", "/in/a_0.mid", sample_id="a", kind="midi", split="train", original_names=("a_0.mid",)),
               Sample("d", "/in/b_0.mid", sample_id="b", kind="midi", split="train", original_names=("b_0.mid",)),
               Sample("d", "", sample_id="b-child", kind="midi", split="train", parent_id="b",
                      file_path="processed/augmented/b-child.mid"))
    return TrainingSet("d", Path("."), samples, "0" * 64, DatasetConfig("EmotionRecognizer"))


def test_the_split_file_places_every_sample_and_children_follow_their_parent(tmp_path):
    path = tmp_path / "fold.json"
    path.write_text(json.dumps({"a_0.mid": "val", "b_0.mid": "test"}))
    placed = with_split_file(_set(), read_split_file(path))
    assert {s.sample_id: s.split for s in placed.samples} == {"a": "val", "b": "test", "b-child": "test"}


def test_a_sample_the_file_does_not_name_or_a_name_the_dataset_lacks_is_refused():
    with pytest.raises(UnusableData, match="does not name 1 sample.*b_0.mid"):
        with_split_file(_set(), {"a_0.mid": "train"})
    with pytest.raises(UnusableData, match="does not hold.*c_0.mid"):
        with_split_file(_set(), {"a_0.mid": "train", "b_0.mid": "test", "c_0.mid": "val"})


@pytest.mark.parametrize("text, message", [("{", "does not load"), ("[]", "non-empty JSON object"),
                                           ('{"a_0.mid": "dev"}', "must be one of")])
def test_a_malformed_split_file_is_refused_with_the_reason(text, message, tmp_path):
    path = tmp_path / "fold.json"
    path.write_text(text)
    with pytest.raises(UnusableData, match=message):
        read_split_file(path)


def test_a_missing_split_file_is_refused(tmp_path):
    with pytest.raises(UnusableData, match="does not load"):
        read_split_file(tmp_path / "absent.json")
