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
