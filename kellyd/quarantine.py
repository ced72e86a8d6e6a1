"""Quarantine: a bad file is moved (or copied) aside with an `.error.json` beside it.

Nothing is deleted. The folder is `<state>/quarantine/<dataset>/`, and names
never collide: a UTC timestamp and a counter prefix the original name (shortened
to fit NAME_MAX with its `.error.json`, escaped where it is not UTF-8).

A symbolic link is never followed: nothing of its target is read or copied. Its
`.error.json` records where it pointed (`link_target`), and a link in the inbox
is then removed: a live link kept in quarantine would hand its target to
whatever reads that folder later, and the link held nothing but that path.
"""

from __future__ import annotations

import itertools
import os
import shutil
import stat
from datetime import datetime, timezone
from pathlib import Path

from kellyd.atomic import atomic_write_json
from kellyd.catalog import QuarantineEntry
from kellyd.pathpolicy import NAME_MAX_BYTES, display, fit_name, open_regular

ERROR_SUFFIX = ".error.json"


def _free_name(folder: Path, name: str, at: float) -> Path:
    stamp = datetime.fromtimestamp(at, timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    for n in itertools.count():
        prefix = f"{stamp}_" if n == 0 else f"{stamp}_{n}_"
        candidate = folder / (prefix + fit_name(name, NAME_MAX_BYTES - len(ERROR_SUFFIX) - len(prefix)))
        if not candidate.exists() and not candidate.with_name(candidate.name + ERROR_SUFFIX).exists():
            return candidate
    raise AssertionError("unreachable")


def _link_target(path: Path) -> str | None:
    """Where `path` points when it is a symbolic link (read from the link, never followed), else None."""
    try:
        if not stat.S_ISLNK(os.lstat(path).st_mode):
            return None
        return display(os.readlink(path))
    except OSError:
        return None


def _copy_regular(src: Path, dst: Path) -> None:
    with open_regular(src) as f, open(dst, "xb") as out:
        shutil.copyfileobj(f, out)


def quarantine_file(path: Path, *, quarantine_root: Path, dataset_id: str, handler: str, reason: str, at: float,
                    copy: bool, origin_path: str) -> QuarantineEntry:
    folder = quarantine_root / dataset_id
    folder.mkdir(parents=True, exist_ok=True)
    target = _free_name(folder, display(path.name), at)
    link_target = _link_target(path)
    moved = False
    if link_target is None and path.exists():
        try:
            if copy:
                _copy_regular(path, target)
            else:
                try:
                    os.replace(path, target)
                except OSError:  # another filesystem
                    shutil.move(str(path), target)
        except OSError:
            if copy or path.exists():
                target.unlink(missing_ok=True)  # a partial copy (a full disk) is not kept
            raise
        moved = True
    when = datetime.fromtimestamp(at, timezone.utc).isoformat()
    try:
        atomic_write_json(target.with_name(target.name + ERROR_SUFFIX), {
            "dataset_id": dataset_id,
            "original_path": display(origin_path),
            "file": target.name if moved else None,
            "handler": handler,
            "reason": reason,
            "at": when,
            "hint": "fix the file and drop it into the inbox again; it will be processed",
            **({"link_target": link_target} if link_target is not None else {}),
        })
    except OSError:
        # No reason could be written (a full disk): put the file back, so nothing sits in
        # quarantine unexplained and the caller can try again later.
        if moved:
            if copy:
                target.unlink(missing_ok=True)
            else:
                shutil.move(str(target), path)
        raise
    if link_target is not None and not copy:
        path.unlink(missing_ok=True)  # recorded above; only the link goes, its target is untouched
    return QuarantineEntry(dataset_id=dataset_id, origin_path=display(origin_path), quarantine_path=str(target),
                           handler=handler, reason=reason, at=at)
