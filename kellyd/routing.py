"""Where does a path belong? Pure functions from a path to (dataset, label folders).

`inbox/<dataset>/<label dirs...>/<file>` routes to that dataset.
`<staging>/emotion_samples/<emotion>/<instrument>/<file>` routes to the dataset
configured for Freesound (level folders such as `base/` carry no label and are
dropped later by the annotate step).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from pathlib import PurePath
from typing import Iterable

STAGING_SAMPLES_DIR = "emotion_samples"


@dataclass(frozen=True)
class Route:
    dataset_id: str
    label_dirs: tuple[str, ...]
    from_staging: bool


@dataclass(frozen=True)
class Roots:
    inbox: str
    staging: str
    staging_dataset: str | None  # None: staging is not routed
    datasets: frozenset[str]


def is_ignored(path: str, patterns: Iterable[str]) -> bool:
    """True when the file's name marks it as temporary, hidden or metadata (never a sample)."""
    name = PurePath(path).name
    return any(fnmatch.fnmatchcase(name, pat) or fnmatch.fnmatchcase(name.lower(), pat) for pat in patterns)


def _hidden(parts: tuple[str, ...]) -> bool:
    return any(part.startswith(".") for part in parts)


def route(path: str, roots: Roots) -> Route | None:
    """The dataset and label folders of `path`, or None when it belongs nowhere."""
    p = PurePath(path)
    inbox = PurePath(roots.inbox)
    if p.is_relative_to(inbox):
        rel = p.relative_to(inbox).parts
        if len(rel) >= 2 and rel[0] in roots.datasets and not _hidden(rel[:-1]):
            return Route(rel[0], tuple(rel[1:-1]), from_staging=False)
        return None
    samples_root = PurePath(roots.staging) / STAGING_SAMPLES_DIR
    if roots.staging_dataset and p.is_relative_to(samples_root):
        rel = p.relative_to(samples_root).parts
        if len(rel) >= 2 and not _hidden(rel[:-1]):
            return Route(roots.staging_dataset, tuple(rel[:-1]), from_staging=True)
    return None
