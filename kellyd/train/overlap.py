"""Whether the champion may be the gate's comparison on today's validation samples.

A champion scored on clips it trained on looks better than it is, and an honest
challenger would be kept out: that happens when the champion was trained on another
split (another `--split-file` fold, or before the dataset's splits changed). Each
version's `samples.txt` (`kellyd.train.guard.samples_text`) lists every sample with the
split it had in that training, and the registry entry's `files.samples` holds its
sha256, so the overlap is decided exactly from that list, checked against the hash.

When the list is gone or is no longer the file the registry recorded, the overlap is
unknown: the champion is still compared when today's split is the dataset's own (it
was most likely trained on it), and not when a split file placed the samples.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Iterable, Mapping

from kellyd.train.guard import samples_in_split


def trained_sample_ids(models_dir: Path, entry: Mapping[str, Any]) -> frozenset[str] | None:
    """The ids of the samples version `entry` trained on, or None when its `samples.txt` is gone,
    unreadable, or not the file its registry entry recorded."""
    record = entry["files"]["samples"]
    try:
        data = (Path(models_dir) / record["path"]).read_bytes()
    except OSError:
        return None
    if hashlib.sha256(data).hexdigest() != record["sha256"]:
        return None
    try:
        return samples_in_split(data.decode("utf-8"), "train")
    except UnicodeDecodeError:
        return None


def champion_exclusion(models_dir: Path, entry: Mapping[str, Any], val_sample_ids: Iterable[str],
                       own_split: bool) -> str | None:
    """Why champion `entry` may not be compared on the validation samples `val_sample_ids`, or None
    when it may. own_split: today's split is the dataset's own (no split file)."""
    trained = trained_sample_ids(models_dir, entry)
    if trained is None:
        if own_split:
            return None
        return ("the samples it trained on are not recorded (its samples.txt is gone or changed), "
                "so it may have trained on the validation samples this split file gives")
    val = set(val_sample_ids)
    seen = len(val & trained)
    if seen:
        return f"it trained on {seen} of these {len(val)} validation samples"
    return None
