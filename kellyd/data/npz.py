"""One array out of an `.npz`, read straight from the zip's central directory.

`np.load` builds a `zipfile.ZipFile` over the archive and reads the member through a stream: about
0.3 ms for a features file of a few kilobytes, which is most of what writing `manifest.parquet` costs
(it takes one array, the feature vector, from every sample's `.npz`). Here the file is read in one
call, the member found in the central directory, inflated in one call, its CRC-32 checked and its
`.npy` header parsed by numpy. An archive this reader does not handle (ZIP64, a split archive, an
archive comment, encryption, a method other than stored or deflated) is read by `np.load` instead,
so the result never depends on which reader ran.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from functools import lru_cache
from pathlib import Path

import numpy as np

_END = struct.Struct("<IHHHHIIH")  # end of central directory record, no comment
_CENTRAL = struct.Struct("<IHHHHHHIIIHHHHHII")  # central directory file header
_LOCAL = struct.Struct("<IHHHHHIIIHH")  # local file header
_END_SIGNATURE, _CENTRAL_SIGNATURE, _LOCAL_SIGNATURE = 0x06054B50, 0x02014B50, 0x04034B50
_ZIP32_UNKNOWN = 0xFFFFFFFF  # a size or offset that lives in a ZIP64 field
_ENCRYPTED = 0x1


class _NotPlain(Exception):
    """An archive only the general reader handles."""


def npz_array(path: Path | str, name: str) -> np.ndarray | None:
    """The array `name` of the `.npz` at `path`; None when the archive has no such member. Raises
    OSError, ValueError or zipfile.BadZipFile (as `np.load` does) when the file cannot be read."""
    with open(path, "rb") as f:
        data = f.read()
    try:
        return _member_array(data, f"{name}.npy".encode("utf-8"))
    except _NotPlain:
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            return archive[name] if name in archive.files else None
    except (struct.error, zlib.error) as exc:
        raise zipfile.BadZipFile(f"{path}: {exc}") from None


def _member_array(data: bytes, member: bytes) -> np.ndarray | None:
    if len(data) < _END.size:
        raise zipfile.BadZipFile("too short for a zip archive")
    signature, disk, directory_disk, _, entries, _, offset, comment = _END.unpack_from(data, len(data) - _END.size)
    if signature != _END_SIGNATURE or comment or disk or directory_disk or offset == _ZIP32_UNKNOWN:
        raise _NotPlain  # an archive comment (the record is not last), ZIP64, or a split archive
    at, found = offset, None
    for _ in range(entries):
        fields = _CENTRAL.unpack_from(data, at)
        if fields[0] != _CENTRAL_SIGNATURE:
            raise zipfile.BadZipFile("bad central directory")
        name_size, extra_size, comment_size = fields[10], fields[11], fields[12]
        if data[at + _CENTRAL.size:at + _CENTRAL.size + name_size] == member:
            found = fields  # the last entry of a name wins, as in `zipfile`
        at += _CENTRAL.size + name_size + extra_size + comment_size
    if found is None:
        return None
    flags, method, crc, packed_size, size, local = found[3], found[4], found[7], found[8], found[9], found[16]
    if flags & _ENCRYPTED or method not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED) or _ZIP32_UNKNOWN in (
            packed_size, size, local):
        raise _NotPlain
    header = _LOCAL.unpack_from(data, local)
    if header[0] != _LOCAL_SIGNATURE:
        raise zipfile.BadZipFile("bad local file header")
    start = local + _LOCAL.size + header[9] + header[10]
    packed = data[start:start + packed_size]
    body = zlib.decompress(packed, -15) if method == zipfile.ZIP_DEFLATED else packed
    if len(body) != size or zlib.crc32(body) != crc:
        raise zipfile.BadZipFile(f"member {member.decode('utf-8', 'replace')} is corrupt (size or CRC-32)")
    return _npy_array(body)


def _npy_array(body: bytes) -> np.ndarray:
    """The array of a `.npy` file's bytes, as `np.lib.format.read_array` gives it (a writable copy)."""
    dtype, shape, fortran_order, start = _npy_layout(bytes(body[:_npy_header_end(body)]))
    count = int(np.prod(shape, dtype=np.int64))
    if count * dtype.itemsize != len(body) - start:
        raise ValueError(f"the .npy data holds {len(body) - start} bytes, its header says {count * dtype.itemsize}")
    flat = np.frombuffer(body, dtype=dtype, count=count, offset=start)  # a view of the bytes: copied below
    return (flat.reshape(shape[::-1]).transpose() if fortran_order else flat.reshape(shape)).copy(order="K")


def _npy_header_end(body: bytes) -> int:
    """Where a `.npy` file's data starts (after its magic, version, header length and header)."""
    if body[:6] != b"\x93NUMPY" or len(body) < 10:
        raise ValueError("not a .npy member")
    if body[6] == 1:
        return 10 + int.from_bytes(body[8:10], "little")
    if body[6] in (2, 3):
        return 12 + int.from_bytes(body[8:12], "little")
    raise ValueError(f"unknown .npy format version {body[6]}")


@lru_cache(maxsize=256)
def _npy_layout(header: bytes) -> tuple[np.dtype, tuple[int, ...], bool, int]:
    """(dtype, shape, Fortran order, data offset) of a `.npy` header, parsed by numpy once per header: a
    dataset's samples repeat a few (the same arrays, shapes often alike)."""
    stream = io.BytesIO(header)
    version = np.lib.format.read_magic(stream)
    if version == (1, 0):
        shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(stream)
    elif version == (2, 0):
        shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(stream)
    else:
        raise _NotPlain  # 3.0 (a UTF-8 header): numpy's own reader
    if dtype.hasobject:
        raise ValueError("a .npy member that holds Python objects is not read")
    return dtype, shape, fortran_order, len(header)
