"""Leakage: the same content, the same sample or the same group in more than one split.

A model evaluated on a sample it trained on (or on an augmented copy of one, or
on another take of the same session) scores better than it is. Every check here
looks at what the trainer will see: the samples' `split` fields and the ids
listed in `splits/*.txt`.

Besides these errors, two warnings point at samples that are very probably the same
music under different files, placed in different splits: the same song stem
(`kellyd.splits.song_stem`: the file name without clip, segment and take suffixes) and
the same feature fingerprint (every numeric feature equal to 6 significant digits).
They are warnings because either can happen by chance (two songs called `intro`, two
silent clips); a group of them says the grouping misses something.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from typing import Mapping, Sequence

from kellyd.sample import Sample
from kellyd.splits import SPLITS, SplitSettings, file_name_of, group_key, song_stem
from kellyd.validate.checks import Limits, make_reason
from kellyd.validate.report import Reason


def _spread(members: Mapping[str, set[str]]) -> dict[str, set[str]]:
    """The entries of key -> set of splits that span more than one split."""
    return {key: splits for key, splits in members.items() if len(splits) > 1}


def _describe(spread: Mapping[str, set[str]], limit: int = 3) -> str:
    items = sorted(spread.items())[:limit]
    return "; ".join(f"{key} in {'+'.join(s for s in SPLITS if s in splits)}" for key, splits in items)


def _shared(marks: Mapping[str, str | None], placed: Sequence[Sample]) -> tuple[dict[str, set[str]], list[str]]:
    """(mark -> splits, affected ids) for the marks (sample id -> hash or fingerprint) that several
    samples share across more than one split."""
    splits: dict[str, set[str]] = defaultdict(set)
    ids: dict[str, set[str]] = defaultdict(set)
    for sample in placed:
        mark = marks.get(sample.sample_id)
        if mark:
            splits[mark].add(sample.split)  # type: ignore[arg-type]
            ids[mark].add(sample.sample_id)
    spread = {m: s for m, s in _spread(splits).items() if len(ids[m]) > 1}
    return spread, [i for m in spread for i in ids[m]]


def _root(sample: Sample, by_id: Mapping[str, Sample]) -> Sample:
    seen = {sample.sample_id}
    while sample.parent_id and sample.parent_id in by_id and sample.parent_id not in seen:
        sample = by_id[sample.parent_id]
        seen.add(sample.sample_id)
    return sample


def fingerprint(columns: Mapping[str, float | str]) -> str | None:
    """A hash of a sample's numeric feature columns rounded to 6 significant digits (None: no number)."""
    numbers = sorted((name, f"{value:.6g}") for name, value in columns.items()
                     if isinstance(value, float) and not name.startswith(("labels", "source")))
    if not numbers:
        return None
    return hashlib.sha256("\n".join(f"{n}={v}" for n, v in numbers).encode("utf-8")).hexdigest()[:16]


def _near_identical(placed: Sequence[Sample], fingerprints: Mapping[str, str], limits: Limits) -> list[Reason]:
    """Warnings for originals with the same song stem, or the same feature fingerprint, in different splits."""
    reasons: list[Reason] = []
    stems: dict[str, set[str]] = defaultdict(set)
    originals = [s for s in placed if not s.parent_id]  # children follow their parents (checked as families)
    for sample in originals:
        stem = song_stem(file_name_of(sample))
        if stem:
            stems[stem].add(sample.split)  # type: ignore[arg-type]
    split_stems = _spread(stems)
    if split_stems:
        reasons.append(make_reason(
            "leakage", "song_in_many_splits", "warning",
            f"{len(split_stems):,} song names (file names without clip, segment and take suffixes) have samples in "
            f"more than one split ({_describe(split_stems)}); if they are one song, group them (`group_by`, or a "
            f"sidecar's song_id)", split_stems, limits))
    split_prints, affected = _shared(fingerprints, originals)
    if split_prints:
        reasons.append(make_reason(
            "leakage", "features_in_many_splits", "warning",
            f"{len(split_prints):,} sets of samples with identical features sit in different splits "
            f"({_describe(split_prints)}): probably the same music in different files", affected, limits))
    return reasons


def check_leakage(samples: Sequence[Sample], listed: Mapping[str, Sequence[str] | None],
                  settings: SplitSettings, limits: Limits = Limits(),
                  fingerprints: Mapping[str, str] | None = None) -> list[Reason]:
    """Samples, content hashes, augmentation families and groups found in more than one split (errors),
    and near-identical originals in different splits (warnings).

    listed: split -> sample ids of `splits/<split>.txt` (None for a missing file).
    fingerprints: sample id -> `fingerprint` of its features, where known.
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

    shared, affected = _shared({s.sample_id: s.sha256 for s in placed}, placed)
    if shared:
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
    reasons.extend(_near_identical(placed, fingerprints or {}, limits))
    return reasons

