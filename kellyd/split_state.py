"""Split assignment as samples arrive: the catalog-facing side of `kellyd.splits`.

A new sample joins its group's split if the group already has one; otherwise
`kellyd.splits.choose_split` picks from the group's hash and the per-class
counts, correcting the balance only with new groups. A batch (`kellyd import`)
is placed at once with `kellyd.splits.assign_new`, so its splits do not depend
on the order the workers finish in. Augmented children carry their parent's
split from the augment step. An assigned split never changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kellyd.catalog import Catalog
from kellyd.config import DatasetConfig
from kellyd.sample import Sample
from kellyd.splits import SplitSettings, assign_new, choose_split, group_key, label_value, preference_key


def split_settings(dataset_id: str, settings: DatasetConfig) -> SplitSettings:
    """The one translation from a dataset's config to split settings (daemon, CLI and validation)."""
    return SplitSettings(ratios=tuple(settings.splits), label_key=settings.target_label_key,
                         group_by=settings.group_by or None, seed=dataset_id)


@dataclass
class SplitAssigner:
    dataset_id: str
    settings: SplitSettings
    counts: dict[tuple[str | None, str], int] = field(default_factory=dict)

    @classmethod
    def load(cls, catalog: Catalog, dataset_id: str, settings: DatasetConfig) -> "SplitAssigner":
        return cls(dataset_id, split_settings(dataset_id, settings), catalog.split_counts(dataset_id))

    def label_of(self, sample: Sample) -> str:
        return label_value(sample, self.settings.label_key)

    def group_of(self, sample: Sample) -> str | None:
        return None if sample.parent_id else group_key(sample, self.settings)

    def assign(self, sample: Sample, catalog: Catalog) -> str:
        group = group_key(sample, self.settings)
        label = self.label_of(sample)
        split = catalog.group_split(self.dataset_id, group) or choose_split(
            group_key=preference_key(group, sample.sample_id), label=label, counts=self.counts,
            ratios=self.settings.ratios, seed=self.settings.seed)
        self.counts[(label, split)] = self.counts.get((label, split), 0) + 1
        return split

    def assign_batch(self, samples: list[Sample], catalog: Catalog) -> dict[str, str]:
        """Splits for a whole batch at once, independent of the order its samples arrived in."""
        chosen = assign_new(samples, counts=self.counts,
                            group_split=lambda key: catalog.group_split(self.dataset_id, key),
                            parent_split=lambda sample_id: getattr(catalog.sample(self.dataset_id, sample_id),
                                                                   "split", None),
                            settings=self.settings)
        for sample in samples:
            if not sample.parent_id:
                key = (self.label_of(sample), chosen[sample.sample_id])
                self.counts[key] = self.counts.get(key, 0) + 1
        return chosen
