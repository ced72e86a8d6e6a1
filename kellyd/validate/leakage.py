"""Leakage: the same content, the same sample or the same group in more than one split.

A model evaluated on a sample it trained on (or on an augmented copy of one, or
on another take of the same session) scores better than it is. Every check here
looks at what the trainer will see: the samples' `split` fields and the ids
listed in `splits/*.txt`.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Mapping, Sequence

from kellyd.sample import Sample
from kellyd.splits import SPLITS, SplitSettings, group_key
from kellyd.validate.checks import Limits, make_reason
from kellyd.validate.report import Reason


def _spread(members: Mapping[str, set[str]]) -> dict[str, set[str]]:
    """The entries of key -> set of splits that span more than one split."""
    return {key: splits for key, splits in members.items() if len(splits) > 1}


def _describe(spread: Mapping[str, set[str]], limit: int = 3) -> str:
    items = sorted(spread.items())[:limit]
    return "; ".join(f"{key} in {'+'.join(s for s in SPLITS if s in splits)}" for key, splits in items)


def _root(sample: Sample, by_id: Mapping[str, Sample]) -> Sample:
    seen = {sample.sample_id}
    while sample.parent_id and sample.parent_id in by_id and sample.parent_id not in seen:
        sample = by_id[sample.parent_id]
        seen.add(sample.sample_id)
    return sample


def check_leakage(samples: Sequence[Sample], listed: Mapping[str, Sequence[str] | None],
                  settings: SplitSettings, limits: Limits = Limits()) -> list[Reason]:
    """Samples, content hashes, augmentation families and user groups found in more than one split.

    listed: split -> sample ids of `splits/<split>.txt` (None for a missing file).
    """
    reasons: list[Reason] = []
    placed = [s for s in samples if s.split in SPLITS]

    by_sample: dict[str, set[str]] = defaultdict(set)
    for sample in placed:
        by_sample[sample.sample_id].add(sample.split)  # type: ignore[arg-type]
    for split, ids in listed.items():
        for sample_id in ids or ():
            by_sample[sample_id].add(split)
    twice = _spread(by_sample)
    if twice:
        reasons.append(make_reason(
            "leakage", "sample_in_many_splits", "error",
            f"{len(twice):,} samples are in more than one split ({_describe(twice)})", twice, limits))

    by_hash: dict[str, set[str]] = defaultdict(set)
    ids_of_hash: dict[str, set[str]] = defaultdict(set)
    for sample in placed:
        if sample.sha256:
            by_hash[sample.sha256].add(sample.split)  # type: ignore[arg-type]
            ids_of_hash[sample.sha256].add(sample.sample_id)
    shared = {h: s for h, s in _spread(by_hash).items() if len(ids_of_hash[h]) > 1}
    if shared:
        affected = [i for h in shared for i in ids_of_hash[h]]
        reasons.append(make_reason(
            "leakage", "hash_in_many_splits", "error",
            f"{len(shared):,} identical files sit in different splits under different sample ids "
            f"({_describe({h[:16]: s for h, s in shared.items()})})", affected, limits))

    by_id = {s.sample_id: s for s in samples}
    families: dict[str, set[str]] = defaultdict(set)
    for sample in placed:
        families[_root(sample, by_id).sample_id].add(sample.split)  # type: ignore[arg-type]
    split_families = _spread(families)
    if split_families:
        reasons.append(make_reason(
            "leakage", "augmented_family_split", "error",
            f"{len(split_families):,} originals have augmented copies in another split "
            f"({_describe(split_families)})", split_families, limits))

    if settings.group_by:
        groups: dict[str, set[str]] = defaultdict(set)
        for sample in placed:
            root = _root(sample, by_id)
            key = group_key(root, settings)
            if key.startswith("group:"):
                groups[key[len("group:"):]].add(sample.split)  # type: ignore[arg-type]
        split_groups = _spread(groups)
        if split_groups:
            reasons.append(make_reason(
                "leakage", "group_in_many_splits", "error",
                f"{len(split_groups):,} groups of {settings.group_by!r} are in more than one split "
                f"({_describe(split_groups)})", split_groups, limits))
    return reasons

