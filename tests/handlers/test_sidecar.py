"""Sidecars: size-limited before reading, finite JSON only, and never blanking a folder label."""

from __future__ import annotations

import pytest

from kellyd.config import LimitsConfig
from kellyd.errors import InvalidInput
from kellyd.handlers.annotate import merge_sidecar, split_sidecar
from kellyd.handlers.sidecar import parse_sidecar, read_sidecar_bytes


@pytest.mark.parametrize("text", [
    '{"valence": NaN}', '{"a": Infinity}', '{"a": -Infinity}', '{"a": 1e999}', '{"a": [1, {"b": -1e400}]}',
])
def test_non_finite_numbers_are_refused(text):
    with pytest.raises(InvalidInput, match="not finite"):
        parse_sidecar(text.encode(), name="x.json")


@pytest.mark.parametrize("data, match", [
    (b"[1, 2]", "must hold a JSON object, got list"),
    (b"{", "not valid JSON"),
    (b"\xff\xfe", "not valid JSON"),
    (b"[" * 100_000 + b"]" * 100_000, "nested too deeply|not valid JSON"),
])
def test_what_is_not_a_json_object_is_refused(data, match):
    with pytest.raises(InvalidInput, match=match):
        parse_sidecar(data, name="x.json")


def test_finite_values_parse():
    assert parse_sidecar(b'{"valence": -0.5, "n": 3, "big": 1e300}', name="x.json") == {
        "valence": -0.5, "n": 3, "big": 1e300}


def test_a_sidecar_over_the_limit_is_refused_from_its_size(tmp_path):
    path = tmp_path / "a.mid.json"
    path.write_bytes(b" " * 2049)
    with pytest.raises(InvalidInput, match=r"limits\.max_sidecar_kb"):
        read_sidecar_bytes(path, LimitsConfig(max_sidecar_kb=2.0))
    path.write_bytes(b"{}" + b" " * 2046)
    assert len(read_sidecar_bytes(path, LimitsConfig(max_sidecar_kb=2.0))) == 2048


FOLDERS = {"emotion": "sad", "base_emotion": "sad", "valence": -0.6, "tags": ["lofi"]}


@pytest.mark.parametrize("extra, expected", [
    ({"emotion": None}, FOLDERS),
    ({"emotion": "", "base_emotion": [], "valence": None}, FOLDERS),
    ({"tags": []}, FOLDERS),
    ({"emotion": "grief"}, {**FOLDERS, "emotion": "grief"}),          # a real value overrides (README)
    ({"tags": ["rain", "lofi"]}, {**FOLDERS, "tags": ["lofi", "rain"]}),
    ({"tags": "rain"}, {**FOLDERS, "tags": ["lofi", "rain"]}),         # a single tag is one tag, not letters
    ({"instrument": "piano"}, {**FOLDERS, "instrument": "piano"}),
])
def test_empty_sidecar_values_never_replace_folder_labels(extra, expected):
    assert merge_sidecar(FOLDERS, extra) == expected


def test_nested_annotations_must_be_an_object():
    with pytest.raises(InvalidInput, match="'annotations' must be a JSON object"):
        split_sidecar({"annotations": ["emotion", "happy"]})
