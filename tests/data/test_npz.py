"""Reading one array out of an `.npz` without `zipfile`: the same arrays as `np.load`, on every layout."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest

from kellyd.data.npz import npz_array
from kellyd.handlers.features import npz_bytes
from kellyd.music.midi_features import extract_midi_file


def assert_same_as_numpy(path, name):
    with np.load(path, allow_pickle=False) as archive:
        expected = archive[name] if name in archive.files else None
    got = npz_array(path, name)
    if expected is None:
        assert got is None
        return
    assert got.dtype == expected.dtype and got.shape == expected.shape
    assert got.flags.f_contiguous == expected.flags.f_contiguous and got.flags.writeable
    assert np.array_equal(got, expected, equal_nan=got.dtype.kind in "fc")


def test_every_array_the_features_step_writes_reads_as_numpy_reads_it(tmp_path, corpus):
    files = sorted(corpus.glob("groove_midi/**/*.mid"))[:3] + sorted(corpus.glob("**/*.mid"))[-2:]
    assert len(files) == 5
    for i, midi in enumerate(files):
        path = tmp_path / f"{i}.npz"
        arrays = extract_midi_file(midi).arrays
        path.write_bytes(npz_bytes(arrays))
        for name in [*arrays, "not_there"]:
            assert_same_as_numpy(path, name)


ODD_ARRAYS = {
    "scalar": np.array(3.5),
    "empty": np.zeros((0, 4), dtype=np.int16),
    "fortran": np.asfortranarray(np.arange(12, dtype=np.float64).reshape(3, 4)),
    "big_endian": np.arange(5, dtype=">i4"),
    "flags": np.array([True, False, True]),
    "text": np.array(["a", "bcd"]),
    "nan": np.array([np.nan, 1.0], dtype=np.float32),
}


@pytest.mark.parametrize("save", [np.savez, np.savez_compressed], ids=["stored", "deflated"])
def test_numpy_s_own_archives_and_odd_arrays(tmp_path, save):
    path = tmp_path / "odd.npz"
    save(path, **ODD_ARRAYS)
    for name in [*ODD_ARRAYS, "missing"]:
        assert_same_as_numpy(path, name)


def test_an_archive_with_a_comment_is_read_by_numpy_s_reader(tmp_path):
    path = tmp_path / "commented.npz"
    path.write_bytes(npz_bytes({"feature_vector": np.arange(4, dtype=np.float32)}))
    with zipfile.ZipFile(path, "a") as archive:
        archive.comment = b"written by hand"
    assert_same_as_numpy(path, "feature_vector")


def test_a_damaged_member_is_an_error_not_an_array(tmp_path):
    data = bytearray(npz_bytes({"feature_vector": np.linspace(0, 1, 172, dtype=np.float32)}))
    data[60] ^= 0xFF  # inside the member's deflated data
    path = tmp_path / "damaged.npz"
    path.write_bytes(bytes(data))
    with pytest.raises((zipfile.BadZipFile, ValueError)):
        npz_array(path, "feature_vector")


@pytest.mark.parametrize("content", [b"", b"not a zip at all, just words", b"PK\x03\x04" + bytes(40)],
                         ids=["empty", "text", "truncated"])
def test_what_is_not_an_npz_raises_as_numpy_does(tmp_path, content):
    path = tmp_path / "bad.npz"
    path.write_bytes(content)
    with pytest.raises((zipfile.BadZipFile, ValueError, OSError)):
        npz_array(path, "feature_vector")


def test_an_array_of_python_objects_is_refused(tmp_path):
    buffer = io.BytesIO()
    np.savez(buffer, things=np.array([{"a": 1}, None], dtype=object))
    path = tmp_path / "objects.npz"
    path.write_bytes(buffer.getvalue())
    with pytest.raises(ValueError):
        npz_array(path, "things")


def test_a_name_written_twice_reads_as_its_last_entry_as_numpy_reads_it(tmp_path):
    path = tmp_path / "twice.npz"
    with pytest.warns(UserWarning, match="Duplicate name"), zipfile.ZipFile(path, "w") as archive:
        for value in (1.0, 2.0):
            buffer = io.BytesIO()
            np.save(buffer, np.full(3, value))
            archive.writestr("feature_vector.npy", buffer.getvalue())
    assert_same_as_numpy(path, "feature_vector")
    assert npz_array(path, "feature_vector").tolist() == [2.0, 2.0, 2.0]
