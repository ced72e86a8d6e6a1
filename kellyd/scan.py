"""The reconcile scan: compare the watched folders with the catalog.

Events can be lost (the daemon was down, the kernel queue overflowed, a network
mount). The scan walks the roots and reports every file the catalog does not
know at its current size and mtime; the settle tracker then decides when each
is ready. It runs on its own thread with its own read-only connection.

Paths follow `kellyd.pathpolicy`: links are reported as themselves (the daemon
refuses them), never followed into; a name that is not UTF-8 is reported without
asking the catalog (which cannot hold it); a folder or file that cannot be looked
at (too long a path, no permission) goes to `on_skip` and the walk goes on.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Iterable, Iterator

from kellyd.catalog import Catalog
from kellyd.pathpolicy import is_valid_text, skip_reason
from kellyd.routing import Roots, is_ignored, route

OnSkip = Callable[[str, str], None]


def _no_skip_log(path: str, reason: str) -> None:
    pass


def walk_files(root: Path, on_skip: OnSkip = _no_skip_log) -> Iterator[os.DirEntry]:
    """Regular files and symbolic links under `root` (hidden names skipped); never enters a linked folder."""
    stack = [str(root)]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    if entry.name.startswith("."):
                        continue
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            stack.append(entry.path)
                        elif entry.is_symlink() or entry.is_file(follow_symlinks=False):
                            yield entry
                    except OSError as exc:
                        on_skip(entry.path, skip_reason(exc))
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError as exc:  # too long a path, no permission...: say so, scan the rest
            on_skip(folder, skip_reason(exc))


def unknown_files(roots_to_scan: Iterable[Path], roots: Roots, ignore: tuple[str, ...], catalog: Catalog,
                  stop: Callable[[], bool] = lambda: False, on_skip: OnSkip = _no_skip_log) -> Iterator[str]:
    """Paths under the roots that route somewhere and are new or changed since the catalog saw them."""
    for root in roots_to_scan:
        for entry in walk_files(root, on_skip):
            if stop():
                return
            path = entry.path
            if is_ignored(path, ignore) or route(path, roots) is None:
                continue
            if not is_valid_text(path):
                yield path  # the daemon refuses it with the reason; the catalog could not even look it up
                continue
            try:
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            except OSError as exc:
                on_skip(path, skip_reason(exc))
                continue
            known = catalog.file_record(path)
            if known is not None and known[0] == st.st_size and known[1] == st.st_mtime_ns:
                continue
            yield path
