"""Atomic file writes: temp file in the same folder, fsync, rename, fsync the folder.

Inside a `write_group` (one step in a worker) the fsyncs wait: each new file is
renamed at once and a group's `sync` makes all its files durable together (one
`syncfs`, or an fsync per file and then each folder once) before the catalog
commit that makes them visible. The group of a step in the local pool is not
synced by its worker: the worker hands it on (`unsynced`) and the daemon syncs
the steps it collects together, as one group (`adopt`, `kellyd.durable`). A file
that replaces another is still fsynced before its rename: a committed sample
may point at the old one, and a crash must leave it whole.

The file gets the mode an ordinary `open(path, "w")` would give, 0666 less the process umask
(0644 under the usual umask 022, 0640 under a service's 027): the temp file is created with 0666 and
the kernel takes the umask off (`mkstemp` would leave every file 0600). Dataset folders are read by
the people and jobs that train.
"""

from __future__ import annotations

import errno
import json
import os
import random
import re
import sys
import threading
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator


TEMP_PREFIX = "."
TEMP_SUFFIX = ".tmp"
_TEMP_NAME = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.tmp$")
_UMASK_LOCK = threading.Lock()
COPY_SYNC_BYTES = 16 << 20  # see CopyRange
TEMP_NAME_TRIES = 100  # random 32-bit temp names; one can clash only with another writer's temp file
_TEMP_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)


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


def temp_stem(name: str) -> str:
    """`name`, shortened so that `.<name>.XXXXXXXX.tmp` stays within NAME_MAX."""
    from kellyd.pathpolicy import NAME_MAX_BYTES, fit_name

    return fit_name(name, NAME_MAX_BYTES - len(TEMP_PREFIX) - len(".XXXXXXXX") - len(TEMP_SUFFIX))


@dataclass(frozen=True)
class Unsynced:
    """What a write group leaves to be made durable by whoever commits its step: the files renamed in
    place but not fsynced, and the folders whose new entries are not (paths as strings)."""

    files: tuple[str, ...] = ()
    folders: tuple[str, ...] = ()


class WriteGroup:
    """Files written by one step (or by several, gathered with `adopt`), made durable together by `sync`."""

    def __init__(self) -> None:
        self.files: dict[str, None] = {}    # renamed in place, not yet fsynced
        self.folders: dict[str, None] = {}  # whose new entries are not yet fsynced

    def wrote(self, path: Path, *, synced: bool) -> None:
        if not synced:
            self.files[os.fspath(path)] = None
        self.folders[os.fspath(Path(path).parent)] = None

    def unsynced(self) -> Unsynced:
        """What `sync` would make durable, handed on instead (the group is not synced)."""
        return Unsynced(tuple(self.files), tuple(self.folders))

    def adopt(self, unsynced: Unsynced) -> None:
        """Take on another group's unsynced files and folders: this group's `sync` makes them durable too."""
        self.files.update(dict.fromkeys(unsynced.files))
        self.folders.update(dict.fromkeys(unsynced.folders))

    def sync(self) -> None:
        """fsync every file, then each folder once; raises OSError (a full disk...) like a write would.

        A group of several files is flushed with one `syncfs` per file system instead.
        """
        if len(self.files) >= SYNCFS_MIN_FILES and _syncfs_each(self.folders):
            self.files.clear()
            self.folders.clear()
            return
        for name in self.files:
            fd = os.open(name, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        for folder in self.folders:
            fsync_dir(Path(folder))
        self.files.clear()
        self.folders.clear()


# From this many files on, one syncfs per file system (one journal commit) replaces an fsync per file
# and folder (a journal commit each). Measured on ext4 under load: a 12-file group (an augment step)
# 5 ms against 30-40 ms, 3 files 4 ms against 10-20 ms. syncfs also waits for other writers' dirty
# data on that file system, so a lone file keeps its own fsync.
SYNCFS_MIN_FILES = 2


def _syncfs_each(folders: Iterable[str]) -> bool:
    """syncfs once for each file system holding one of `folders`; False where the system has none."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    syncfs = getattr(ctypes.CDLL(None, use_errno=True), "syncfs", None)
    if syncfs is None:
        return False
    devices: dict[int, str] = {}
    for folder in folders:
        devices.setdefault(os.stat(folder).st_dev, folder)
    for folder in devices.values():
        fd = os.open(folder, os.O_RDONLY)
        try:
            if syncfs(fd) != 0:
                err = ctypes.get_errno()
                raise OSError(err, f"syncfs failed: {os.strerror(err)}", folder)
        finally:
            os.close(fd)
    return True


_open_group: ContextVar[WriteGroup | None] = ContextVar("kellyd_write_group", default=None)


@contextmanager
def write_group() -> Iterator[WriteGroup]:
    """Defer the fsyncs of the atomic writes made inside to the group's `sync` (the caller calls it)."""
    group = WriteGroup()
    token = _open_group.set(group)
    try:
        yield group
    finally:
        _open_group.reset(token)


def note_kept(path: Path) -> None:
    """A file a step relies on without writing it (it already held the right bytes): the open
    group fsyncs it too, since an earlier, failed run may have left it unsynced."""
    group = _open_group.get()
    if group is not None:
        group.wrote(Path(path), synced=False)


class CopyRange:
    """A chunk of `atomic_write_bytes` that is `length` bytes of an open file from `offset`, copied in the
    kernel (`copy_file_range`, a shared extent where the filesystem can) rather than read into Python.

    The copy is flushed to disk every COPY_SYNC_BYTES: a large copy (a 400 MB manifest) never leaves
    more than that waiting for writeback, so a group commit (`syncfs`, which waits for every
    dirty page of the filesystem) never waits for the whole copy."""

    def __init__(self, fd: int, offset: int, length: int) -> None:
        self.fd, self.offset, self.length = fd, offset, length

    def copy_to(self, out) -> None:
        out.flush()
        dst = out.fileno()
        at, end = self.offset, self.offset + self.length
        unsynced = 0
        while at < end:
            if unsynced >= COPY_SYNC_BYTES:
                os.fdatasync(dst)
                unsynced = 0
            try:
                done = os.copy_file_range(self.fd, dst, min(end - at, COPY_SYNC_BYTES), at)
            except OSError:  # not between these files or filesystems: a plain copy
                done = 0
            if done == 0:
                block = os.pread(self.fd, min(end - at, 1 << 22), at)
                if not block:
                    raise OSError(f"the file to copy from ended at byte {at} of {end}")
                done = os.write(dst, block)
            at += done
            unsynced += done
        out.seek(0, os.SEEK_END)


class DatasetFolderGone(FileNotFoundError):
    """A write's dataset folder is not there (moved or removed while kellyd ran, or never laid out)."""


_writes_inside: ContextVar[Path | None] = ContextVar("kellyd_writes_inside", default=None)


@contextmanager
def writes_inside(root: Path | None) -> Iterator[None]:
    """Within, a write makes the folders it lacks under `root` (a dataset's folder), never `root` itself:
    a dataset folder moved away while a step ran is not replaced by a new, partial one, and the write
    fails with `DatasetFolderGone`. None: no such bound."""
    token = _writes_inside.set(None if root is None else Path(root))
    try:
        yield
    finally:
        _writes_inside.reset(token)


def make_folder(folder: Path) -> None:
    """`folder` and the parents it lacks, within the bound of `writes_inside`."""
    folder = Path(folder)
    root = _writes_inside.get()
    if root is None or not folder.is_relative_to(root):
        folder.mkdir(parents=True, exist_ok=True)
        return
    missing = []
    while folder != root:
        missing.append(folder)
        folder = folder.parent
    if not missing and not os.path.isdir(root):
        raise dataset_folder_gone(root)
    for folder in reversed(missing):
        try:
            folder.mkdir(exist_ok=True)
        except FileNotFoundError:  # the dataset folder is gone: it is not made again
            raise dataset_folder_gone(root) from None


def dataset_folder_gone(root: Path) -> DatasetFolderGone:
    """The error of a write (or a step) whose dataset folder `root` is gone."""
    return DatasetFolderGone(errno.ENOENT, "the dataset folder is not there (moved or removed?)", str(root))


def _open_temp(folder: Path, name: str) -> tuple[int, Path]:
    """A new temp file `.<name>.XXXXXXXX.tmp` in `folder`, open for writing, created with mode 0666 for
    the kernel to take the umask (or the folder's default ACL) off, as `open(path, "w")` does. The
    folder is made only when the create says it is missing (a write into an existing folder costs no
    mkdir)."""
    stem = f"{TEMP_PREFIX}{temp_stem(name)}."
    for _ in range(TEMP_NAME_TRIES):
        tmp = folder / f"{stem}{random.getrandbits(32):08x}{TEMP_SUFFIX}"
        try:
            return os.open(tmp, _TEMP_FLAGS, 0o666), tmp
        except FileNotFoundError:
            make_folder(folder)
            return os.open(tmp, _TEMP_FLAGS, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temp name in {folder} after {TEMP_NAME_TRIES} tries")


def _write_all(fd: int, data: bytes | bytearray | memoryview) -> None:
    view = memoryview(data).cast("B")
    while view:
        view = view[os.write(fd, view):]


def atomic_write_bytes(path: Path, data: bytes | Iterable[bytes | CopyRange]) -> None:
    """Replace `path` with `data` so a reader sees the old file or the new one, never a part."""
    path = Path(path)
    group = _open_group.get()
    fd, tmp = _open_temp(path.parent, path.name)
    try:
        # Outside a group, or over an existing file, the data is on disk before the rename.
        sync_now = group is None or os.path.lexists(path)
        if isinstance(data, (bytes, bytearray, memoryview)):
            try:
                _write_all(fd, data)
                if sync_now:
                    os.fsync(fd)
            finally:
                os.close(fd)
        else:
            with os.fdopen(fd, "wb") as f:
                for chunk in data:
                    if isinstance(chunk, CopyRange):
                        chunk.copy_to(f)
                    else:
                        f.write(chunk)
                f.flush()
                if sync_now:
                    os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    if group is None:
        fsync_dir(path.parent)
    else:
        group.wrote(path, synced=sync_now)


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
