"""The `features` step: run the MIDI or audio extractor and write its output.

Writes `processed/features/<shard>/<sample_id>.json` (`kellyd.shard`) (schema version, scalars, labels
found, flags) and `.npz` (arrays), both atomically. Labels the music tells
(key, tempo...) fill annotations the folders and sidecar did not set; the keys
filled this way are listed in `annotations["detected"]` so that a recompute
(after a version bump) may replace them while given labels stay.
"""

from __future__ import annotations

import io
import json
import math
import struct
import zipfile
import zlib
from functools import lru_cache
from pathlib import PurePosixPath
from typing import Any, ClassVar

import numpy as np

from kellyd.handlers.base import DatasetContext
from kellyd.atomic import atomic_write_bytes
from kellyd.errors import InvalidInput
from kellyd.music.extracted import Extracted
from kellyd.sample import Sample
from kellyd.shard import sample_file

# 2: MIDI beat grid re-phased from the notes, downbeats, tempo events checked against the onsets.
FEATURE_SCHEMA_VERSION = 2
FEATURES_DIR = PurePosixPath("processed", "features")
# zlib level of the `.npz` members; the zip fields `npz_bytes` writes.
NPZ_ZLIB_LEVEL = 1
_ZIP_VERSION = 20  # 2.0: deflate
_ZIP_DOS_DATE = (0 << 9) | (1 << 5) | 1  # 1980-01-01, the zip epoch
_ZIP_FILE_ATTRIBUTES = 0o100644 << 16  # a regular file, rw-r--r--
_ZIP32_MAX_BYTES = 0xFFFFFFFF  # past this a member or the archive needs ZIP64
_ZIP_UTF8_NAME = 0x800  # general purpose flag: the name is UTF-8
# `.npy` headers by (dtype, shape); cleared when it holds this many.
_NPY_HEADERS: dict[tuple[np.dtype, tuple[int, ...]], bytes] = {}
_NPY_HEADERS_MAX = 4096
# All-zero arrays from this size on are compressed once per shape (`_deflated_zeros`).
_ZEROS_CACHED_FROM_BYTES = 4096


def _finite(value: Any, where: str) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"feature {where} is {value}")
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _finite(v, f"{where}[{i}]")
    if isinstance(value, dict):
        for k, v in value.items():
            _finite(v, f"{where}.{k}")


def check_finite(extracted: Extracted) -> None:
    """Raise ValueError naming the first NaN/inf feature (an extractor bug, never silently stored)."""
    _finite(dict(extracted.scalars), "scalars")
    _check_arrays_finite(extracted.arrays)


def _check_arrays_finite(arrays) -> None:
    for name, arr in arrays.items():
        if arr.dtype.kind == "f" and not np.isfinite(arr).all():
            raise ValueError(f"feature array {name!r} holds NaN or inf")


def features_json_bytes(document: dict[str, Any], extracted: Extracted) -> bytes:
    """The compact JSON of a features document; ValueError naming the feature if a value is NaN or inf.

    JSON has no NaN: the encoder refusing one is the check, so the values are walked in Python (to
    name the culprit) only when it fails.
    """
    try:
        return json.dumps(document, ensure_ascii=False, allow_nan=False).encode("utf-8")
    except ValueError:
        check_finite(extracted)  # raises, naming the feature
        raise


def extract(path, kind: str, *, sr_hz: int, max_audio_s: float) -> Extracted:
    """The features of the file at `path`; audio is analysed on its first `max_audio_s` seconds only."""
    if kind == "midi":
        from kellyd.music.midi_features import extract_midi_file

        return extract_midi_file(path)
    if kind == "audio":
        from kellyd.music.audio_features import extract_audio_file

        return extract_audio_file(path, sr_hz=sr_hz, max_duration_s=max_audio_s)
    raise InvalidInput(f"no feature extractor for kind {kind!r}")


class Features:
    name: ClassVar[str] = "features"
    version: ClassVar[int] = FEATURE_SCHEMA_VERSION

    def __init__(self, ctx: DatasetContext, *, sr_hz: int = 16000) -> None:
        self.ctx = ctx
        self.sr_hz = sr_hz

    def __call__(self, sample: Sample) -> Sample:
        extracted = extract(self.ctx.path_of(sample), sample.kind, sr_hz=self.sr_hz,
                            max_audio_s=self.ctx.limits.max_audio_analysis_s)
        return self.written(sample, extracted)

    def written(self, sample: Sample, extracted: Extracted) -> Sample:
        """Write `extracted` as the sample's features files; the sample with its features and detected labels.

        Also used by the augment step for the children it has just rendered (one parse of their bytes).
        """
        _check_arrays_finite(extracted.arrays)
        json_rel = sample_file(FEATURES_DIR, sample.sample_id, f"{sample.sample_id}.json")
        npz_rel = sample_file(FEATURES_DIR, sample.sample_id, f"{sample.sample_id}.npz")
        # Compact: the indented form goes through json's pure-Python encoder, several times slower.
        document = features_json_bytes({
            "schema_version": FEATURE_SCHEMA_VERSION,
            "sample_id": sample.sample_id,
            "kind": sample.kind,
            "scalars": dict(extracted.scalars),
            "labels": dict(extracted.labels),
            "flags": list(extracted.flags),
            "arrays": {k: list(np.shape(v)) for k, v in extracted.arrays.items()},
        }, extracted)
        atomic_write_bytes(self.ctx.root / npz_rel, npz_bytes(extracted.arrays))
        atomic_write_bytes(self.ctx.root / json_rel, document)
        return sample.with_changes(features_path=str(json_rel),
                                   annotations=merge_detected(sample.annotations, extracted.labels, extracted.flags))


def npz_bytes(arrays) -> bytes:
    """A compressed `.npz` (what `np.load` reads) of `{name: array}`, at zlib level 1: about the size
    of `np.savez_compressed`'s level 6 for these small arrays, in half the time.

    The zip is laid out here rather than through `zipfile`, whose per-member streams cost more than
    compressing the ~15 small arrays of a sample; members carry a fixed date (1980-01-01), so the
    same arrays always give the same bytes. Arrays too large for a plain zip go through `zipfile`.
    """
    members = []
    for name, value in arrays.items():
        array = np.asarray(value)
        if array.dtype.hasobject:
            raise ValueError(f"feature array {name!r} holds Python objects; only numbers are stored")
        if not array.flags.c_contiguous:
            array = array.copy(order="C")  # (np.ascontiguousarray would make a 0-d array 1-d)
        members.append((f"{name}.npy".encode("utf-8"), _npy_header(array), array))
    if sum(len(h) + a.nbytes for _, h, a in members) >= _ZIP32_MAX_BYTES or len(members) >= 0xFFFF:
        return _npz_bytes_zipfile(arrays)
    local, central, offset = [], [], 0
    for name, header, array in members:
        data = array.reshape(-1).view(np.uint8)  # the bytes in C order, not copied
        if len(data) >= _ZEROS_CACHED_FROM_BYTES and not data.any():
            packed, crc = _deflated_zeros(header, len(data))
        else:
            packed, crc = _deflated(header, data)
        size = len(header) + array.nbytes
        flags = 0 if name.isascii() else _ZIP_UTF8_NAME
        fields = (_ZIP_VERSION, flags, zipfile.ZIP_DEFLATED, 0, _ZIP_DOS_DATE, crc, len(packed), size, len(name))
        local.append(struct.pack("<IHHHHHIIIHH", 0x04034B50, *fields, 0) + name + packed)
        central.append(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, _ZIP_VERSION, *fields, 0, 0, 0, 0,
                                   _ZIP_FILE_ATTRIBUTES, offset) + name)
        offset += len(local[-1])
    directory = b"".join(central)
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(directory), offset, 0)
    return b"".join(local) + directory + end


def _deflated(header: bytes, data) -> tuple[bytes, int]:
    """(raw deflate stream, CRC-32) of one `.npy` member: its header, then its data."""
    deflate = zlib.compressobj(NPZ_ZLIB_LEVEL, zlib.DEFLATED, -15)
    return deflate.compress(header) + deflate.compress(data) + deflate.flush(), zlib.crc32(data, zlib.crc32(header))


@lru_cache(maxsize=64)
def _deflated_zeros(header: bytes, nbytes: int) -> tuple[bytes, int]:
    """`_deflated` of an all-zero array, kept per header: the piano roll of a drum loop and the drum
    roll of a piano piece are silence, and a sample's augmented children repeat its shape."""
    return _deflated(header, bytes(nbytes))


def _npy_header(array: np.ndarray) -> bytes:
    """numpy's own `.npy` header of a C-ordered `array`, kept per (dtype, shape): a sample's histograms
    and vectors, and its children's note arrays, repeat the same few."""
    key = (array.dtype, array.shape)
    header = _NPY_HEADERS.get(key)
    if header is None:
        buffer = io.BytesIO()
        np.lib.format.write_array_header_1_0(buffer, np.lib.format.header_data_from_array_1_0(array))
        header = buffer.getvalue()
        if len(_NPY_HEADERS) >= _NPY_HEADERS_MAX:
            _NPY_HEADERS.clear()
        _NPY_HEADERS[key] = header
    return header


def _npz_bytes_zipfile(arrays) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=NPZ_ZLIB_LEVEL, allowZip64=True) as archive:
        for name, value in arrays.items():
            with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asarray(value), allow_pickle=False)
    return buffer.getvalue()


def merge_detected(annotations, detected, flags=()) -> dict[str, Any]:
    """Pure: fill annotations with detected labels where not given; remember which were detected."""
    previously = set(annotations.get("detected", ()))
    merged = {k: v for k, v in annotations.items() if k not in previously}
    filled = []
    for key, value in detected.items():
        if value is not None and key not in merged:
            merged[key] = value
            filled.append(key)
    merged["detected"] = sorted(filled)
    if flags:
        merged["flags"] = sorted(set(flags))
    return merged
