"""The import step on bad inputs: each gets InvalidInput with a reason a person understands."""

from __future__ import annotations

import shutil

import pytest

from kellyd.handlers.base import DatasetContext
from kellyd.handlers.importer import Import, detect_kind
from kellyd.errors import InvalidInput
from kellyd.sample import Sample


def _run(tmp_path, name, data):
    src = tmp_path / "inbox" / name
    src.parent.mkdir(parents=True, exist_ok=True)
    src.write_bytes(data)
    return Import(DatasetContext("d", tmp_path / "ds"))(Sample(dataset_id="d", origin_path=str(src)))


@pytest.mark.parametrize("name, data, reason", [
    ("empty.mid", b"", "empty file"),
    ("random.mid", bytes(range(256)) * 4, "not a MIDI or audio file"),
    ("notes.wav", b"just some text\n" * 10, "not a MIDI or audio file"),
    ("header_only.mid", b"MThd\x00\x00\x00\x06\x00\x01\x00\x01\x01\xe0", "MIDI"),
])
def test_bad_inputs(tmp_path, name, data, reason):
    with pytest.raises(InvalidInput, match=reason):
        _run(tmp_path, name, data)
    assert not (tmp_path / "ds" / "raw").exists() or not any((tmp_path / "ds" / "raw").rglob("*.*"))


def test_truncated_midi_is_invalid(tmp_path, corpus):
    data = next(corpus.glob("groove_midi/drummer1/session1/*.mid")).read_bytes()
    with pytest.raises(InvalidInput, match="MIDI"):
        _run(tmp_path, "t.mid", data[: len(data) // 2])


def test_kind_comes_from_content_not_name(tmp_path, corpus):
    src = tmp_path / "misnamed.wav"
    shutil.copyfile(next(corpus.glob("groove_midi/drummer1/session1/*.mid")), src)
    out = Import(DatasetContext("d", tmp_path / "ds"))(Sample(dataset_id="d", origin_path=str(src)))
    assert out.kind == "midi" and out.file_path == f"raw/midi/{out.sample_id[:3]}/misnamed.wav"


def test_import_is_idempotent_and_names_do_not_collide(tmp_path, corpus):
    a, b = sorted(corpus.glob("groove_midi/drummer1/session1/*.mid"))[:2]
    ctx = DatasetContext("d", tmp_path / "ds")
    first = tmp_path / "one" / "x.mid"
    second = tmp_path / "two" / "x.mid"
    for src, dst in ((a, first), (b, second)):
        dst.parent.mkdir(parents=True)
        shutil.copyfile(src, dst)
    s1 = Import(ctx)(Sample(dataset_id="d", origin_path=str(first)))
    again = Import(ctx)(Sample(dataset_id="d", origin_path=str(first)))
    s2 = Import(ctx)(Sample(dataset_id="d", origin_path=str(second)))
    assert s1 == again
    # Each lands in its shard folder (the sample id's prefix); the same name in the same shard gets the hash.
    assert s1.file_path == f"raw/midi/{s1.sample_id[:3]}/x.mid"
    clash = s1.sample_id[:3] == s2.sample_id[:3]
    assert s2.file_path == f"raw/midi/{s2.sample_id[:3]}/" + (f"x_{s2.sha256[:8]}.mid" if clash else "x.mid")
    assert s1.sample_id == s1.sha256[:16] and s1.annotations["duration_s"] > 0


def test_rmi_is_named(tmp_path):
    with pytest.raises(InvalidInput, match="RIFF-wrapped MIDI"):
        detect_kind(b"RIFF\x00\x00\x00\x00RMIDdata", "x.rmi")
