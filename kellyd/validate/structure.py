"""Structure: the dataset folder has its layout, its JSON files parse, and the manifest and split
files agree with the samples the catalog holds. Also the bytes the folder uses."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

from kellyd.listing import manifest_fields
from kellyd.sample import Sample
from kellyd.splits import SPLITS
from kellyd.validate.checks import Limits, make_reason
from kellyd.validate.report import Reason

REQUIRED_FILES: tuple[str, ...] = ("config.json", "manifest.json")
REQUIRED_DIRS: tuple[str, ...] = ("raw", "processed", "annotations", "splits")
# Written by the report step itself, so its absence before the first report is no fault.
OPTIONAL_DIRS: tuple[str, ...] = ("reports",)


def folder_bytes(root: Path, *, skip: Sequence[str] = ("reports",)) -> int:
    """Bytes of every regular file under `root`, except in the top-level folders named in `skip`
    (by default `reports/`: validation's own output, kept bounded by pruning, so that validating
    twice measures the same). Symlinks are not followed."""
    total = 0
    skipped = {os.path.join(os.fspath(root), name) for name in skip}
    stack = [os.fspath(root)]
    while stack:
        try:
            with os.scandir(stack.pop()) as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        if entry.path not in skipped:
                            stack.append(entry.path)
                    elif entry.is_file(follow_symlinks=False):
                        try:
                            total += entry.stat(follow_symlinks=False).st_size
                        except FileNotFoundError:
                            continue
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            continue
    return total


def _load_json(path: Path) -> tuple[Any, str | None]:
    try:
        return json.loads(path.read_bytes()), None
    except FileNotFoundError:
        return None, "missing"
    except (OSError, ValueError) as exc:
        return None, f"does not parse: {exc}"


def check_layout(root: Path, limits: Limits = Limits()) -> list[Reason]:
    """The folder layout of DESIGN.md and `config.json` parsing to an object."""
    reasons: list[Reason] = []
    absent = [name for name in REQUIRED_FILES if not (root / name).is_file()]
    absent += [f"{name}/" for name in REQUIRED_DIRS if not (root / name).is_dir()]
    if absent:
        reasons.append(make_reason("structure", "layout", "error",
                                   f"the dataset folder lacks {', '.join(absent)}", absent, limits))
    if (root / "config.json").is_file():
        config, problem = _load_json(root / "config.json")
        if problem is None and not isinstance(config, dict):
            problem = "is not a JSON object"
        if problem is not None:
            reasons.append(make_reason("structure", "config_invalid", "error", f"config.json {problem}",
                                       ("config.json",), limits))
    return reasons


def check_manifest(root: Path, samples: Sequence[Sample], limits: Limits = Limits()) -> list[Reason]:
    """manifest.json lists the same sample ids, hashes and splits as the catalog's samples."""
    path = root / "manifest.json"
    if not path.is_file():
        return []  # reported by check_layout
    try:
        listed = manifest_fields(path, ("sha256", "split"))
    except (OSError, ValueError) as exc:
        problem = str(exc) if str(exc).startswith("has no") else f"does not parse: {exc}"
        return [make_reason("structure", "manifest_invalid", "error", f"manifest.json {problem}",
                            ("manifest.json",), limits)]
    ours = {s.sample_id: s for s in samples}
    only_manifest = sorted(listed.keys() - ours.keys())
    only_catalog = sorted(ours.keys() - listed.keys())
    differing = sorted(i for i in listed.keys() & ours.keys() if listed[i] != (ours[i].sha256, ours[i].split))
    if not (only_manifest or only_catalog or differing):
        return []
    parts = []
    if only_catalog:
        parts.append(f"{len(only_catalog):,} samples missing from it")
    if only_manifest:
        parts.append(f"{len(only_manifest):,} entries for unknown samples")
    if differing:
        parts.append(f"{len(differing):,} entries with another sha256 or split")
    return [make_reason("structure", "manifest_mismatch", "error",
                        f"manifest.json disagrees with the catalog: {'; '.join(parts)} (re-export it)",
                        (*only_catalog, *only_manifest, *differing), limits)]


def check_split_files(listed: Mapping[str, Sequence[str] | None], samples: Sequence[Sample],
                      limits: Limits = Limits()) -> list[Reason]:
    """`splits/*.txt` exist once samples have splits, and list exactly the samples of each split."""
    placed = {s.sample_id: s.split for s in samples if s.split in SPLITS}
    if not placed:
        return []
    missing = [f"splits/{name}.txt" for name in SPLITS if listed.get(name) is None]
    if missing:
        return [make_reason("structure", "split_files_missing", "error",
                            f"{', '.join(missing)} missing (write the split files)", missing, limits)]
    in_files: dict[str, set[str]] = {}
    for split in SPLITS:
        for sample_id in listed[split] or ():
            in_files.setdefault(sample_id, set()).add(split)
    wrong = sorted(i for i, split in placed.items() if split not in in_files.get(i, set()))
    unknown = sorted(in_files.keys() - placed.keys())
    if not (wrong or unknown):
        return []
    parts = []
    if wrong:
        parts.append(f"{len(wrong):,} samples not listed under their split")
    if unknown:
        parts.append(f"{len(unknown):,} listed ids that are not samples with a split")
    return [make_reason("structure", "split_files_mismatch", "error",
                        f"splits/*.txt disagree with the samples: {'; '.join(parts)} (rewrite the split files)",
                        (*wrong, *unknown), limits)]
