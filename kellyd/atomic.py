"""Atomic file writes: temp file in the same folder, fsync, rename, fsync the folder."""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Iterable


TEMP_PREFIX = "."
TEMP_SUFFIX = ".tmp"
_TEMP_NAME = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.tmp$")


def atomic_write_bytes(path: Path, data: bytes | Iterable[bytes]) -> None:
    """Replace `path` with `data` so a reader sees the old file or the new one, never a part."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            if isinstance(data, (bytes, bytearray, memoryview)):
                f.write(data)
            else:
                for chunk in data:
                    f.write(chunk)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    fsync_dir(path.parent)


def atomic_write_json(path: Path, value: Any, *, indent: int | None = 2) -> None:
    atomic_write_bytes(path, json.dumps(value, indent=indent, ensure_ascii=False, sort_keys=False).encode("utf-8"))


def atomic_copy(src: Path, dst: Path, *, chunk_bytes: int = 1 << 20) -> None:
    """Copy `src` to `dst` atomically (never a half-written `dst`)."""

    def chunks() -> Iterable[bytes]:
        with open(src, "rb") as f:
            while block := f.read(chunk_bytes):
                yield block

    atomic_write_bytes(dst, chunks())


def fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def remove_stale_temp_files(root: Path) -> int:
    """Delete temp files a killed writer left under `root`; only safe while holding the state lock."""
    removed = 0
    for folder, _dirs, files in os.walk(root):
        for name in files:
            if _TEMP_NAME.match(name):
                try:
                    os.unlink(os.path.join(folder, name))
                    removed += 1
                except FileNotFoundError:
                    pass
    return removed
