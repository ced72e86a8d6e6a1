"""Quarantine: a bad file is moved (or copied) aside with an `.error.json` beside it.

Nothing is deleted. The folder is `<state>/quarantine/<dataset>/`, and names
never collide: a UTC timestamp and a counter prefix the original name.
"""

from __future__ import annotations

import itertools
import os
import shutil
from datetime import datetime, timezone
from pathlib import Path

from kellyd.atomic import atomic_write_json
from kellyd.catalog import QuarantineEntry


def _free_name(folder: Path, name: str, at: float) -> Path:
    stamp = datetime.fromtimestamp(at, timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    for n in itertools.count():
        candidate = folder / (f"{stamp}_{name}" if n == 0 else f"{stamp}_{n}_{name}")
        if not candidate.exists() and not candidate.with_name(candidate.name + ".error.json").exists():
            return candidate
    raise AssertionError("unreachable")


def quarantine_file(path: Path, *, quarantine_root: Path, dataset_id: str, handler: str, reason: str, at: float,
                    copy: bool, origin_path: str) -> QuarantineEntry:
    folder = quarantine_root / dataset_id
    folder.mkdir(parents=True, exist_ok=True)
    target = _free_name(folder, path.name, at)
    moved = False
    if path.exists():
        if copy:
            shutil.copy2(path, target)
        else:
            try:
                os.replace(path, target)
            except OSError:  # another filesystem
                shutil.move(str(path), target)
        moved = True
    when = datetime.fromtimestamp(at, timezone.utc).isoformat()
    atomic_write_json(target.with_name(target.name + ".error.json"), {
        "dataset_id": dataset_id,
        "original_path": origin_path,
        "file": target.name if moved else None,
        "handler": handler,
        "reason": reason,
        "at": when,
        "hint": "fix the file and drop it into the inbox again; it will be processed",
    })
    return QuarantineEntry(dataset_id=dataset_id, origin_path=origin_path, quarantine_path=str(target),
                           handler=handler, reason=reason, at=at)
