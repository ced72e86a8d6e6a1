"""The reconcile scan: compare the watched folders with the catalog.

Events can be lost (the daemon was down, the kernel queue overflowed, a network
mount). The scan walks the roots and reports every file the catalog does not
know at its current size and mtime; the settle tracker then decides when each
is ready. It runs on its own thread with its own read-only connection.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Iterable, Iterator

from kellyd.catalog import Catalog
from kellyd.routing import Roots, is_ignored, route


def walk_files(root: Path) -> Iterator[os.DirEntry]:
    stack = [str(root)]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    if entry.name.startswith("."):
                        continue
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
                    elif entry.is_file(follow_symlinks=True):
                        yield entry
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            continue


def unknown_files(roots_to_scan: Iterable[Path], roots: Roots, ignore: tuple[str, ...], catalog: Catalog,
                  stop: Callable[[], bool] = lambda: False) -> Iterator[str]:
    """Paths under the roots that route somewhere and are new or changed since the catalog saw them."""
    for root in roots_to_scan:
        for entry in walk_files(root):
            if stop():
                return
            path = entry.path
            if is_ignored(path, ignore) or route(path, roots) is None:
                continue
            try:
                st = entry.stat()
            except FileNotFoundError:
                continue
            known = catalog.file_record(path)
            if known is not None and known[0] == st.st_size and known[1] == st.st_mtime_ns:
                continue
            yield path
