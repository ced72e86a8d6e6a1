"""`synthesize` refuses bad requests with a clear message before it writes anything."""

from __future__ import annotations

import shutil

import pytest

from kellyd.handlers.base import DatasetContext
from kellyd.synth.emotion import emotion_piece
from kellyd.synth.groove import groove_piece
from kellyd.synth.harmony import harmony_piece
from kellyd.synth.melody import melody_piece
from kellyd.synth.dynamics import dynamics_piece
from kellyd.synth.synthesize import estimated_bytes, synthesize


def tree(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.mark.parametrize(("kwargs", "needle"), [
    ({"generator": "emotion", "count": 0, "seed": 1}, "got 0"),
    ({"generator": "emotion", "count": -3, "seed": 1}, "got -3"),
    ({"generator": "emotion", "count": 2.5, "seed": 1}, "got 2.5"),
    ({"generator": "emotion", "count": True, "seed": 1}, "got True"),
    ({"generator": "opera", "count": 1, "seed": 1}, "'opera'"),
    ({"generator": "emotion", "count": 1, "seed": -1}, "got -1"),
    ({"generator": "emotion", "count": 1, "seed": 1, "duration_s": 0.5}, "got 0.5"),
    ({"generator": "emotion", "count": 1, "seed": 1, "duration_s": 10_000}, "got 10000"),
    ({"generator": "groove", "count": 1, "seed": 1, "labels": ["polka"]}, "['polka']"),
    ({"generator": "groove", "count": 1, "seed": 1, "labels": []}, "has no label"),
])
def test_bad_requests_are_refused_before_writing(tmp_path, kwargs, needle):
    root = tmp_path / "ds"
    (root / "raw").mkdir(parents=True)
    before = tree(root)
    with pytest.raises(ValueError) as info:
        synthesize(DatasetContext("ds", root), **kwargs)
    assert needle in str(info.value)
    assert tree(root) == before


def test_a_count_larger_than_the_disk_allows_is_refused(tmp_path):
    root = tmp_path / "ds"
    root.mkdir()
    free = shutil.disk_usage(root).free
    per_file = estimated_bytes("emotion", count=1, duration_s=16.0)
    count = free // per_file + 1
    with pytest.raises(ValueError, match=f"count {count} needs about") as info:
        synthesize(DatasetContext("ds", root), generator="emotion", count=int(count), seed=1)
    assert "free" in str(info.value)
    assert tree(root) == []


@pytest.mark.parametrize(("call", "needle"), [
    (lambda: emotion_piece("ennui", tonic_pc=0, duration_s=8.0, seed=1), "'ennui'"),
    (lambda: emotion_piece("sad", tonic_pc=12, duration_s=8.0, seed=1), "got 12"),
    (lambda: melody_piece("zigzag", tonic_pc=0, mode="major", duration_s=8.0, seed=1), "'zigzag'"),
    (lambda: melody_piece("arch", tonic_pc=0, mode="dorian", duration_s=8.0, seed=1), "'dorian'"),
    (lambda: melody_piece("arch", tonic_pc=0, mode="major", duration_s=8.0, seed=1, range_name="huge"), "'huge'"),
    (lambda: harmony_piece("", tonic_pc=0, mode="major", duration_s=8.0, seed=1), "empty progression"),
    (lambda: harmony_piece("I W I", tonic_pc=0, mode="major", duration_s=8.0, seed=1), "'W'"),
    (lambda: harmony_piece("I V", tonic_pc=0, mode="major", duration_s=8.0, seed=1, chords_per_bar=3), "got 3"),
    (lambda: groove_piece("bossa", duration_s=8.0, seed=1), "'bossa'"),
    (lambda: groove_piece("swing", duration_s=8.0, seed=-2), "got -2"),
    (lambda: groove_piece("swing", duration_s=8.0, seed=1, beats_per_bar=7), "got 7"),
    (lambda: dynamics_piece("sforzando", articulation="legato", tonic_pc=0, mode="major", duration_s=8.0, seed=1),
     "'sforzando'"),
    (lambda: dynamics_piece("swell", articulation="tenuto", tonic_pc=0, mode="major", duration_s=8.0, seed=1),
     "'tenuto'"),
])
def test_generators_refuse_bad_arguments(call, needle):
    with pytest.raises(ValueError) as info:
        call()
    assert needle in str(info.value)
