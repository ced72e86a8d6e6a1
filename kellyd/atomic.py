"""Atomic file writes: temp file in the same folder, fsync, rename, fsync the folder.

The file gets the mode an ordinary `open(path, "w")` would give, 0666 less the process umask
(0644 under the usual umask 022, 0640 under a service's 027): dataset folders are read by the
people and jobs that train. `mkstemp` alone would leave every file 0600.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any, Iterable


TEMP_PREFIX = "."
TEMP_SUFFIX = ".tmp"
_TEMP_NAME = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.tmp$")
_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """The process umask, read without changing it where the system allows."""
    if sys.platform.startswith("linux"):
        try:
            with open("/proc/self/status", "rb") as f:
                for line in f:
                    if line.startswith(b"Umask:"):
                        return int(line.split()[1], 8)
        except (OSError, ValueError, IndexError):
            pass
    # Elsewhere the only way is to set it and put it back. The lock serialises kellyd's own
    # writers; another thread creating a file in that instant would get mode 0666 & ~022.
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def new_file_mode() -> int:
    """The permission bits `open()` gives a new file: 0666 less the umask."""
    return 0o666 & ~current_umask()


def temp_stem(name: str) -> str:
    """`name`, shortened so that `.<name>.XXXXXXXX.tmp` stays within NAME_MAX."""
    from kellyd.pathpolicy import NAME_MAX_BYTES, fit_name

    return fit_name(name, NAME_MAX_BYTES - len(TEMP_PREFIX) - len(".XXXXXXXX") - len(TEMP_SUFFIX))


def atomic_write_bytes(path: Path, data: bytes | Iterable[bytes]) -> None:
    """Replace `path` with `data` so a reader sees the old file or the new one, never a part."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{temp_stem(path.name)}.", suffix=TEMP_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), new_file_mode())
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
