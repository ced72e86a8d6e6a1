"""The check families that look at counts and values: balance and targets, diversity, quality,
storage, and the training guard. Each is a function from plain values to a list of `Reason`s.

Leakage and the folder structure read files of their own and live in
`kellyd.validate.leakage` and `kellyd.validate.structure`.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from typing import Any, Iterable, Mapping, Sequence

from kellyd.quarantine_groups import group_quarantine
from kellyd.sample import Sample
from kellyd.splits import SPLITS, label_value
from kellyd.taxonomy import BASE_EMOTION_NAMES, EMOTIONS
from kellyd.validate.features import natural_key
from kellyd.validate.html import size_text
from kellyd.validate.measures import balance_ratio
from kellyd.validate.report import ClassCount, Distribution, Reason, Severity, StorageUse
from kellyd.validate.targets import EXPECTED_CLASSES, ModelTarget
from kellyd.validation_limits import Limits


def make_reason(family: str, check: str, severity: Severity, message: str,
                affected: Iterable[str] = (), limits: Limits = Limits()) -> Reason:
    """A reason listing at most `limits.max_listed` affected items (unique, in natural order) and counting all."""
    unique = sorted(set(affected), key=natural_key)
    return Reason(family, check, severity, message, tuple(unique[:limits.max_listed]), len(unique))


def _plural(n: int, word: str) -> str:
    """'1 sample', '3 samples', '2 classes'."""
    if n == 1:
        return f"{n:,} {word}"
    return f"{n:,} {word}es" if word.endswith("s") else f"{n:,} {word}s"


# -- balance and targets -------------------------------------------------------


def count_classes(samples: Iterable[Sample], class_key: str, target: ModelTarget) -> tuple[ClassCount, ...]:
    """Samples per class (originals and augmented children), expected classes first, then the others."""
    originals: Counter[str] = Counter()
    augmented: Counter[str] = Counter()
    for sample in samples:
        label = label_value(sample, class_key)
        if label:
            (augmented if sample.parent_id else originals)[label] += 1
    expected = EXPECTED_CLASSES.get(class_key, ())
    others = sorted((originals.keys() | augmented.keys()) - set(expected))
    return tuple(ClassCount(label, originals[label], augmented[label], target.per_class)
                 for label in (*expected, *others))


def check_counts(counts: Sequence[ClassCount], samples: Sequence[Sample], target: ModelTarget,
                 limits: Limits = Limits()) -> list[Reason]:
    """Balance (smallest / largest class) and counts against the model's targets, all counted on
    originals: augmented children are variations of them, not new music."""
    reasons: list[Reason] = []
    if counts:
        smallest = min(counts, key=lambda c: (c.originals, c.label))
        largest = max(counts, key=lambda c: (c.originals, c.label))
        ratio = balance_ratio(c.originals for c in counts)
        if len(counts) >= 2 and ratio < limits.min_balance_ratio:
            reasons.append(make_reason(
                "balance", "imbalanced", "warning",
                f"classes are imbalanced: smallest {smallest.label!r} has {smallest.originals:,} originals, largest "
                f"{largest.label!r} {largest.originals:,} (ratio {ratio:.2f}, wanted at least "
                f"{limits.min_balance_ratio:.2f})", (smallest.label,), limits))
    short = sorted((c for c in counts if c.missing > 0), key=lambda c: (-c.missing, c.label))
    if short:
        missing = sum(c.missing for c in short)
        detail = "; ".join(f"{c.label} {c.originals:,}/{c.target:,}" + (f" (+{c.augmented:,} augmented)"
                                                                         if c.augmented else "")
                           for c in short[:8])
        reasons.append(make_reason(
            "counts", "below_target", "warning",
            f"{_plural(len(short), 'class')} below the target of {target.per_class:,} originals per class "
            f"({missing:,} missing): {detail}", (c.label for c in short), limits))
    originals = sum(1 for s in samples if not s.parent_id)
    if target.total is not None and originals < target.total:
        reasons.append(make_reason(
            "counts", "below_target", "warning",
            f"{originals:,} original samples, {target.model} wants {target.total:,}+ "
            f"({target.total - originals:,} missing)", (), limits))
    if target.model == "EmotionRecognizer":
        reasons.extend(_base_emotion_coverage(samples, limits))
    return reasons


def _base_emotion_coverage(samples: Sequence[Sample], limits: Limits) -> list[Reason]:
    covered = set()
    for sample in samples:
        base = sample.annotations.get("base_emotion")
        emotion = sample.annotations.get("emotion")
        if base is None and isinstance(emotion, str) and emotion in EMOTIONS:
            base = EMOTIONS[emotion].base
        covered.add(base)
    absent = [b for b in BASE_EMOTION_NAMES if b not in covered]
    if not absent or not samples:
        return []
    return [make_reason("counts", "base_emotion_absent", "warning",
                        f"no samples for base emotion{'s' if len(absent) > 1 else ''} {', '.join(absent)}",
                        absent, limits)]


# -- diversity -------------------------------------------------------------------


def check_diversity(distributions: Sequence[Distribution], target: ModelTarget,
                    limits: Limits = Limits()) -> list[Reason]:
    """Low normalised entropy of keys, modes or tempo bins; missing annotations where the model needs them."""
    reasons: list[Reason] = []
    for dist in distributions:
        if dist.name not in ("key", "mode", "tempo"):
            continue
        relevant = target.uses_key or dist.name == "tempo"
        if dist.coverage == 0:
            if relevant:
                reasons.append(make_reason("diversity", f"{dist.name}_unknown", "warning",
                                           f"no sample has a {dist.name} annotation", (), limits))
            continue
        if relevant and dist.entropy < limits.min_entropy:
            top = max(dist.counts, key=lambda kv: kv[1])
            reasons.append(make_reason(
                "diversity", f"low_{dist.name}_diversity", "warning",
                f"{dist.name} diversity is low: normalised entropy {dist.entropy:.2f} (wanted at least "
                f"{limits.min_entropy:.2f}); {top[1]:,} of {dist.coverage:,} samples are {top[0]}", (), limits))
    return reasons


# -- quality ---------------------------------------------------------------------

# Severity and headline (one sample, several samples) of each per-sample problem.
SAMPLE_PROBLEMS: dict[str, tuple[Severity, str, str]] = {
    "file_missing": ("error", "file is missing", "files are missing"),
    "hash_mismatch": ("error", "file does not match its recorded sha256", "files do not match their recorded sha256"),
    "unreadable": ("error", "file does not read", "files do not read"),
    "features_missing": ("error", "sample has no features", "samples have no features"),
    "features_unreadable": ("error", "feature file does not load", "feature files do not load"),
    "features_stale": ("error", "feature file has an old schema version (recompute the features)",
                       "feature files have an old schema version (recompute the features)"),
    "non_finite_features": ("error", "sample has NaN or inf in its features",
                            "samples have NaN or inf in their features"),
    "feature_arrays_missing": ("warning", "feature array file (.npz) is missing",
                               "feature array files (.npz) are missing"),
    "annotation_missing": ("error", "sample lacks a label the model needs", "samples lack a label the model needs"),
    "annotation_invalid": ("error", "sample has an annotation outside its range or vocabulary",
                           "samples have an annotation outside its range or vocabulary"),
    "annotation_unknown": ("warning", "sample has an emotion the taxonomy does not know",
                           "samples have an emotion the taxonomy does not know"),
}


def check_sample_problems(problems: Mapping[str, Sequence[tuple[str, str]]],
                          limits: Limits = Limits()) -> list[Reason]:
    """One reason per problem kind. problems: check -> [(file name or sample id, detail)]."""
    reasons = []
    for check, items in problems.items():
        if not items:
            continue
        severity, one, several = SAMPLE_PROBLEMS[check]
        who = {w for w, _ in items}
        examples = "; ".join(f"{w}: {detail}" for w, detail in items[:3])
        headline = f"1 {one}" if len(who) == 1 else f"{len(who):,} {several}"
        reasons.append(make_reason("quality", check, severity, f"{headline} ({examples})", who, limits))
    return reasons


def check_constant_columns(constant: Sequence[str], limits: Limits = Limits(), *, features: int = 0,
                           originals: int = 0) -> list[Reason]:
    """Features with one value on every original (see `kellyd.validate.features`): they carry no
    information. A warning of their own family, ranked after the problems with data and labels."""
    if not constant:
        return []
    shown = ", ".join(constant[:8]) + (" ..." if len(constant) > 8 else "")
    of = f" of {features:,}" if features else ""
    on = f" on all {originals:,} originals" if originals else ""
    return [make_reason("features", "constant_features", "warning",
                        f"{len(constant):,}{of} features have one value{on} and carry no information: {shown}",
                        constant, limits)]


def check_quarantine(quarantined: Sequence[Any], limits: Limits = Limits()) -> Reason:
    """One note for the quarantine: how many files, grouped by reason, largest group first."""
    groups = group_quarantine((q.path, q.handler, q.reason) for q in quarantined)
    kinds = "; ".join(f"{g.count:,} x {g.handler}: {g.reason}" for g in groups[:3])
    more = f"; {len(groups) - 3} more kinds" if len(groups) > 3 else ""
    n = len(quarantined)
    return make_reason("quality", "quarantined", "info",
                       f"{n:,} file{' was' if n == 1 else 's were'} quarantined ({kinds}{more})",
                       (q.path for q in quarantined), limits)


# -- storage ---------------------------------------------------------------------


def check_storage(storage: StorageUse, limits: Limits = Limits()) -> list[Reason]:
    share = storage.share
    if share is None:
        return []
    text = (f"the dataset uses {size_text(storage.used_bytes)} of its {size_text(storage.budget_bytes or 0)} "
            f"budget ({share:.0%})")
    if share > 1.0:
        return [make_reason("storage", "over_budget", "warning", text + ": over budget", (), limits)]
    if share >= limits.storage_warn_share:
        return [make_reason("storage", "near_budget", "info", text, (), limits)]
    return []


# -- training guard -----------------------------------------------------------------


def split_composition(samples: Iterable[Sample], class_key: str, *, augmented: bool = False
                      ) -> dict[str, dict[str, int]]:
    """split -> class label -> original samples (augmented children with `augmented=True`);
    unlabelled samples count as ""."""
    composition: dict[str, Counter[str]] = {name: Counter() for name in SPLITS}
    for sample in samples:
        if bool(sample.parent_id) != augmented:
            continue
        if sample.split in composition:
            composition[sample.split][label_value(sample, class_key)] += 1
    return {split: dict(sorted(c.items())) for split, c in composition.items()}


def check_training(samples: Sequence[Sample], composition: Mapping[str, Mapping[str, int]], class_key: str,
                   ratios: Sequence[float], label_columns: Sequence[str],
                   equal_columns: Mapping[str, Sequence[str]], limits: Limits = Limits()) -> list[Reason]:
    """What would make training fail or mean nothing: empty, unassigned or single-class splits,
    constant labels, and labels a feature column gives away."""
    reasons: list[Reason] = []
    labels = [label_value(s, class_key) for s in samples]
    classes = set(labels) - {""}
    unassigned = [s.sample_id for s in samples if s.split not in SPLITS]
    if unassigned:
        verb = "has" if len(unassigned) == 1 else "have"
        reasons.append(make_reason("training", "unassigned", "warning",
                                   f"{_plural(len(unassigned), 'sample')} {verb} no split yet", unassigned, limits))
    for split, ratio in zip(SPLITS, ratios):
        per = composition.get(split, {})
        total = sum(per.values())
        if ratio > 0 and total == 0:
            reasons.append(make_reason("training", "empty_split", "error", f"the {split} split is empty",
                                       (split,), limits))
        present = [label for label, n in per.items() if label and n]
        if len(classes) >= 2 and total > 0 and len(present) == 1:
            reasons.append(make_reason(
                "training", "single_class_split", "error",
                f"the {split} split holds only {class_key} {present[0]!r} ({total:,} samples) while the dataset "
                f"has {len(classes)} classes", (split,), limits))
    if len(classes) == 1 and sum(1 for label in labels if label) >= 2:
        reasons.append(make_reason("training", "constant_labels", "error",
                                   f"every sample has {class_key} {next(iter(classes))!r}: nothing to learn",
                                   (), limits))
    if label_columns:
        reasons.append(make_reason(
            "training", "label_from_features", "error",
            f"{class_key} can be read off the feature{'s' if len(label_columns) > 1 else ''} "
            f"{', '.join(label_columns[:5])} (one value per class): the model would learn the label, "
            f"not the music", label_columns, limits))
    for label, columns in equal_columns.items():
        reasons.append(make_reason(
            "training", "label_from_features", "error",
            f"{label} equals the feature{'s' if len(columns) > 1 else ''} {', '.join(columns[:5])} on every sample",
            columns, limits))
    reasons.extend(_split_shares(samples, ratios, limits))
    return reasons


def _split_shares(samples: Sequence[Sample], ratios: Sequence[float], limits: Limits) -> list[Reason]:
    per_split: Counter[str] = Counter(s.split for s in samples if not s.parent_id and s.split in SPLITS)
    total = sum(per_split.values())
    if total < limits.min_samples_for_ratio_check:
        return []
    off = [(split, per_split[split] / total, ratio) for split, ratio in zip(SPLITS, ratios)
           if abs(per_split[split] / total - ratio) > limits.max_split_share_error]
    if not off:
        return []
    detail = ", ".join(f"{split} {share:.0%} (wanted {ratio:.0%})" for split, share, ratio in off)
    return [make_reason("training", "split_ratio_off", "warning", f"split shares drift from the settings: {detail}",
                        (split for split, _, _ in off), limits)]


def check_split_balance(composition: Mapping[str, Mapping[str, int]], class_key: str,
                        limits: Limits = Limits()) -> list[Reason]:
    """Each class's share of each split (originals) against its share over all splits: a split whose
    mix differs a lot measures the model on another problem than the one it learns."""
    overall: Counter[str] = Counter()
    for per in composition.values():
        overall.update({label: n for label, n in per.items() if label})
    total = sum(overall.values())
    if total == 0 or len(overall) < 2:
        return []
    drifts = []
    for split in SPLITS:
        per = {label: n for label, n in composition.get(split, {}).items() if label}
        size = sum(per.values())
        if size < limits.min_split_for_balance:
            continue
        for label, n_all in overall.items():
            share, expected = per.get(label, 0) / size, n_all / total
            allowed = max(limits.max_class_share_drift, 3.0 * math.sqrt(expected * (1 - expected) / size))
            if abs(share - expected) > allowed:
                drifts.append((abs(share - expected), split, label, share, expected))
    if not drifts:
        return []
    drifts.sort(key=lambda d: (-d[0], d[1], d[2]))
    detail = "; ".join(f"{label} is {share:.0%} of {split} but {expected:.0%} overall"
                       for _, split, label, share, expected in drifts[:4])
    return [make_reason("training", "split_class_drift", "warning",
                        f"the splits hold different mixes of {class_key}: {detail} (allowed: "
                        f"{limits.max_class_share_drift:.0%} apart, more in small splits)",
                        sorted({f"{split}:{label}" for _, split, label, _, _ in drifts}), limits)]


def group_problems(items: Iterable[tuple[str, str, str]]) -> dict[str, list[tuple[str, str]]]:
    """(check, who, detail) triples grouped as check -> [(who, detail)], in a stable order."""
    grouped: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for check, who, detail in items:
        grouped[check].append((who, detail))
    return {check: sorted(grouped[check]) for check in SAMPLE_PROBLEMS if check in grouped}
