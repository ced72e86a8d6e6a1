"""A persistent numba cache, so that a worker does not JIT-compile librosa's kernels at every start.

librosa compiles its beat tracker and helpers with numba. numba caches compiled
code next to the library's sources when it may write there, else in a per-user
folder; a service account often has neither, and then every worker start pays
several seconds of compilation. Pointing `NUMBA_CACHE_DIR` into the daemon's
state folder makes the cache part of the daemon's own, writable state.

numba binds a function to its cache folder when the function is defined, that is
when its librosa module is imported: call `configure_numba_cache` at worker
start, before anything imports librosa. This module imports neither.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

NUMBA_CACHE_ENV = "NUMBA_CACHE_DIR"
NUMBA_CACHE_DIRNAME = "numba-cache"


def configure_numba_cache(state_dir: Path | str) -> Path:
    """Make numba cache compiled code under `<state_dir>/numba-cache`; return the folder used.

    A `NUMBA_CACHE_DIR` already set in the environment wins (the user moved the
    cache on purpose). The folder is created. If numba is already imported, its
    configuration is re-read so that functions defined from now on use the folder.
    """
    chosen = os.environ.get(NUMBA_CACHE_ENV, "").strip()
    cache_dir = Path(chosen) if chosen else Path(state_dir) / NUMBA_CACHE_DIRNAME
    cache_dir.mkdir(parents=True, exist_ok=True)
    os.environ[NUMBA_CACHE_ENV] = str(cache_dir)
    numba_config = sys.modules.get("numba.core.config")
    if numba_config is not None:
        numba_config.reload_config()
    return cache_dir


# -- one cache folder per worker ---------------------------------------------------------------
#
# numba names a function's compiled overloads by their position in its index (`f.py311.1.nbc`,
# `f.py311.2.nbc`...). Two processes compiling different overloads of one function into one folder
# both write `.1.nbc`, and the index one keeps may then point at the other's machine code: the next
# process that loads it calls code built for other argument types and dies of SIGSEGV (reproduced
# by swapping the two overload files of librosa's `__trim_beats`). So each worker process owns a
# folder of its own, claimed with an exclusive lock that the kernel drops when the process dies:
# no two processes ever write one folder, and a restarted worker reuses a folder already filled.

CACHE_LOCK_SUFFIX = ".lock"
SET_ASIDE_DIRNAME = "set-aside"
MAX_WORKER_FOLDERS = 512
_held_lock_fd: int | None = None  # the claimed folder's lock, held for the life of the process


def cache_tag() -> str:
    """The versions that compiled code depends on, so that an upgrade starts an empty cache."""
    from importlib.metadata import PackageNotFoundError, version

    parts = [f"py{sys.version_info.major}{sys.version_info.minor}"]
    for package in ("numba", "librosa"):
        try:
            parts.append(f"{package}{version(package)}")
        except PackageNotFoundError:
            parts.append(f"{package}-none")
    return "-".join(parts)


def cache_root(state_dir: Path | str) -> Path:
    """Where the worker folders live: `<state>/numba-cache/<tag>`, or under a user's `NUMBA_CACHE_DIR`."""
    chosen = os.environ.get(NUMBA_CACHE_ENV, "").strip()
    base = Path(chosen) if chosen else Path(state_dir) / NUMBA_CACHE_DIRNAME
    return base / cache_tag()


def holds_compiled_code(folder: Path) -> bool:
    """Whether numba has written an index in `folder` (a worker using it loads rather than compiles)."""
    return any(folder.rglob("*.nbi"))


def claim_worker_cache(root: Path) -> tuple[int, Path]:
    """Lock the first free worker folder under `root`, point numba at it; return (slot, folder).

    Call once per process, before anything imports librosa. The lock is held until the
    process exits, so a folder is never shared by two live processes.
    """
    import fcntl

    global _held_lock_fd
    root.mkdir(parents=True, exist_ok=True)
    for slot in range(MAX_WORKER_FOLDERS):
        fd = os.open(root / f"w{slot}{CACHE_LOCK_SUFFIX}", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue
        if _held_lock_fd is not None:
            os.close(_held_lock_fd)
        _held_lock_fd = fd
        folder = root / f"w{slot}"
        folder.mkdir(exist_ok=True)
        _point_numba_at(folder)
        return slot, folder
    raise RuntimeError(f"all {MAX_WORKER_FOLDERS} numba cache folders under {root} are locked")


def _point_numba_at(folder: Path) -> None:
    os.environ[NUMBA_CACHE_ENV] = str(folder)
    numba_config = sys.modules.get("numba.core.config")
    if numba_config is not None:
        numba_config.reload_config()


def set_aside(folder: Path, *, now_s: float) -> Path | None:
    """Move a worker folder that crashed or failed to load out of the way (kept for a post-mortem),
    and leave an empty folder in its place, so the next use compiles afresh. Returns the new name."""
    if not folder.exists():
        return None
    aside = folder.parent / SET_ASIDE_DIRNAME / f"{folder.name}-{int(now_s * 1000)}"
    aside.parent.mkdir(parents=True, exist_ok=True)
    os.replace(folder, aside)
    folder.mkdir(exist_ok=True)
    return aside


def is_cache_failure(exc: BaseException) -> bool:
    """Whether `exc` was raised while numba read its on-disk cache (an unreadable index or data file)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        tb = current.__traceback__
        while tb is not None:
            filename = tb.tb_frame.f_code.co_filename.replace(os.sep, "/")
            if filename.endswith("numba/core/caching.py") or filename.endswith("numba/core/serialize.py"):
                return True
            tb = tb.tb_next
        current = current.__cause__ or current.__context__
    return False
