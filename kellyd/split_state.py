"""Split assignment as samples arrive: the catalog-facing side of `kellyd.splits`.

A new sample joins its group's split if the group already has one (augmented
children always take their parent's); otherwise the pure `kellyd.splits`
functions choose, from the group's hash and the current per-class counts.
An assigned split is never changed.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from kellyd.catalog import Catalog
from kellyd.config import DatasetConfig
from kellyd.sample import Sample

SPLITS = ("train", "val", "test")


@dataclass
class SplitAssigner:
    dataset_id: str
    ratios: tuple[float, float, float]
    label_key: str
    group_pattern: re.Pattern | None
    counts: dict[tuple[str | None, str], int] = field(default_factory=dict)

    @classmethod
    def load(cls, catalog: Catalog, dataset_id: str, settings: DatasetConfig) -> "SplitAssigner":
        pattern = re.compile(settings.group_by) if settings.group_by else None
        return cls(dataset_id, tuple(settings.splits), settings.target_label_key, pattern,
                   catalog.split_counts(dataset_id))

    def label_of(self, sample: Sample) -> str | None:
        value = sample.annotations.get(self.label_key)
        return None if value is None else str(value)

    def group_of(self, sample: Sample) -> str:
        if sample.parent_id:
            return f"sample:{sample.parent_id}"
        name = sample.original_names[0] if sample.original_names else PurePosixPath(sample.file_path).name
        if self.group_pattern is not None:
            match = self.group_pattern.search(name)
            if match and match.group("group"):
                return f"group:{match.group('group')}"
        return f"sample:{sample.sample_id}"

    def assign(self, sample: Sample, catalog: Catalog) -> str:
        from kellyd.splits import choose_split

        group = self.group_of(sample)
        existing = catalog.group_split(self.dataset_id, group)
        label = self.label_of(sample)
        split = existing or choose_split(group_key=group, label=label, counts=self.counts, ratios=self.ratios,
                                         seed=self.dataset_id)
        self.counts[(label, split)] = self.counts.get((label, split), 0) + 1
        return split


def group_hash_unit(group_key: str, seed: str) -> float:
    """A stable number in [0, 1) from a group key."""
    digest = hashlib.sha256(f"{seed}\x00{group_key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64
