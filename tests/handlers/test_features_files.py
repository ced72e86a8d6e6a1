"""The files the features step writes: the `.npz` laid out by hand, the JSON that refuses NaN."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import zipfile

import numpy as np
import pytest

from kellyd.atomic import write_group
from kellyd.handlers.augment import Augment
from kellyd.handlers.base import DatasetContext
from kellyd.handlers.features import Features, _npz_bytes_zipfile, features_json_bytes, npz_bytes
from kellyd.music.extracted import Extracted
from kellyd.music.midi_features import extract_midi
from kellyd.music.midi_io import read_score
from kellyd.sample import Sample, sample_id_for

GROOVE_FILE = "groove_midi/drummer1/eval_session/1_funk-groove1_138_beat_4-4.mid"


def awkward_arrays() -> dict[str, np.ndarray]:
    """Every shape and layout a feature array may come in."""
    grid = np.arange(24, dtype=np.int64).reshape(2, 3, 4)
    return {
        "vector": np.linspace(0, 1, 172, dtype=np.float32),
        "roll": np.eye(128, 300, dtype=np.uint8) * 90,
        "silent_roll": np.zeros((128, 400), dtype=np.uint8),  # compressed once per shape
        "silent_roll_again": np.zeros((128, 400), dtype=np.uint8),
        "empty": np.zeros(0, dtype=np.int16),
        "empty_2d": np.zeros((0, 12)),
        "flags": np.array([True, False, True]),
        "fortran": np.asfortranarray(np.arange(12.0).reshape(3, 4)),
        "strided": grid[:, ::2, 1:],
        "scalar": np.float64(2.5),
        "big_endian": np.arange(5, dtype=">i4"),
        "tempo_curve_bpm_\u00e9": np.array([120.0, 121.5]),  # a name beyond ASCII
    }


def test_npz_reads_back_every_array_exactly_as_given():
    arrays = awkward_arrays()
    data = npz_bytes(arrays)
    assert zipfile.ZipFile(io.BytesIO(data)).testzip() is None  # every member's CRC checks out
    loaded = np.load(io.BytesIO(data))
    assert sorted(loaded.files) == sorted(arrays)
    for name, value in arrays.items():
        back = loaded[name]
        assert back.dtype == np.asarray(value).dtype, name
        assert back.shape == np.shape(value), name
        np.testing.assert_array_equal(back, value, err_msg=name)


def test_npz_holds_what_numpys_own_writer_holds_and_the_same_arrays_give_the_same_bytes():
    arrays = awkward_arrays()
    ours = np.load(io.BytesIO(npz_bytes(arrays)))
    theirs = np.load(io.BytesIO(_npz_bytes_zipfile(arrays)))  # the zipfile route (large archives)
    for name in arrays:
        np.testing.assert_array_equal(ours[name], theirs[name])
        assert ours[name].dtype == theirs[name].dtype
    # No clock in the archive: a re-run writes the very same file.
    assert npz_bytes(arrays) == npz_bytes(dict(arrays))
    member = zipfile.ZipFile(io.BytesIO(npz_bytes(arrays))).infolist()[0]
    assert member.compress_type == zipfile.ZIP_DEFLATED and member.date_time == (1980, 1, 1, 0, 0, 0)


def test_npz_refuses_python_objects():
    with pytest.raises(ValueError, match="'labels'"):
        npz_bytes({"labels": np.array(["a", None], dtype=object)})


def test_json_of_a_features_document_names_the_feature_that_is_not_finite():
    good = Extracted(scalars={"tempo_bpm": 120.0, "curve": [0.5, 1.0]}, arrays={})
    document = {"scalars": dict(good.scalars), "labels": {"key": "C#"}}
    assert features_json_bytes(document, good) == json.dumps(document, ensure_ascii=False).encode()
    for scalars, where in (({"tempo_bpm": float("nan")}, "scalars.tempo_bpm"),
                           ({"curve": [0.5, float("inf")]}, r"scalars.curve\[1\]"),
                           ({"segments": [{"start_s": float("-inf")}]}, r"scalars.segments\[0\].start_s")):
        bad = Extracted(scalars=scalars, arrays={})
        with pytest.raises(ValueError, match=where):
            features_json_bytes({"scalars": scalars}, bad)


def test_a_nan_array_is_refused_before_anything_is_written(tmp_path):
    ctx = DatasetContext("ds", tmp_path / "ds")
    sample = Sample(dataset_id="ds", origin_path="x.mid", sample_id="ab" * 8, sha256="ab" * 32, kind="midi",
                    file_path="raw/x.mid")
    extracted = Extracted(scalars={"a": 1.0}, arrays={"curve": np.array([0.0, np.nan])})
    with pytest.raises(ValueError, match="'curve'"):
        Features(ctx).written(sample, extracted)
    assert not (tmp_path / "ds").exists() or not any(p.is_file() for p in (tmp_path / "ds").rglob("*"))


def test_the_files_of_an_original_and_of_its_children_hold_a_fresh_extraction_of_their_midi(tmp_path, corpus):
    """What the augment step writes for a child equals extracting the child's file on disk from scratch."""
    ctx = DatasetContext("ds", tmp_path / "ds")
    rel = "raw/midi/funk/groove.mid"
    (ctx.root / rel).parent.mkdir(parents=True)
    shutil.copyfile(corpus / GROOVE_FILE, ctx.root / rel)
    sha = hashlib.sha256((ctx.root / rel).read_bytes()).hexdigest()
    sample = Sample(dataset_id="ds", origin_path=str(ctx.root / rel), sample_id=sample_id_for(sha), sha256=sha,
                    kind="midi", file_path=rel, split="train")
    with write_group() as group:
        parent = Features(ctx)(sample)
        derived = Augment(ctx, multiplier=4, child_features=True)(parent)
        group.sync()
    assert len(derived.children) == 4
    for written in (parent, *derived.children):
        assert written.features_path is not None
        document = json.loads((ctx.root / written.features_path).read_text())
        arrays = np.load(ctx.root / written.features_path.replace(".json", ".npz"))
        fresh = extract_midi(read_score(ctx.root / written.file_path))
        assert document["scalars"] == json.loads(json.dumps(dict(fresh.scalars)))
        assert document["labels"] == json.loads(json.dumps(dict(fresh.labels)))
        assert sorted(arrays.files) == sorted(fresh.arrays)
        for name, value in fresh.arrays.items():
            np.testing.assert_array_equal(arrays[name], value, err_msg=f"{written.file_path}: {name}")
            assert document["arrays"][name] == list(np.shape(value))
