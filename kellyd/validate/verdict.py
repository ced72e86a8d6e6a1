"""The verdict a set of reasons earns, and what changed since the previous report."""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from kellyd.validate.report import SEVERITIES, Change, Reason, Verdict

FAMILY_ORDER: tuple[str, ...] = (
    "structure", "quality", "leakage", "training", "counts", "balance", "diversity", "features", "storage",
)
# Moves smaller than these are noise (the reports themselves take some room) and are not listed.
ENTROPY_CHANGE = 0.01
STORAGE_CHANGE_SHARE = 0.01


def verdict_of(reasons: Iterable[Reason]) -> Verdict:
    """invalid with any error, usable_with_warnings with any warning, else ready."""
    severities = {r.severity for r in reasons}
    if "error" in severities:
        return "invalid"
    if "warning" in severities:
        return "usable_with_warnings"
    return "ready"


def ordered(reasons: Iterable[Reason]) -> tuple[Reason, ...]:
    """Errors first, then warnings, then notes; within a severity, by family then check."""
    def rank(reason: Reason) -> tuple[int, int, str]:
        family = FAMILY_ORDER.index(reason.family) if reason.family in FAMILY_ORDER else len(FAMILY_ORDER)
        return SEVERITIES.index(reason.severity), family, reason.check
    return tuple(sorted(reasons, key=rank))


def _class_totals(report: Mapping[str, Any]) -> dict[str, int]:
    return {c["label"]: int(c["total"]) for c in report.get("class_counts", ())}


def _split_totals(report: Mapping[str, Any]) -> dict[str, int]:
    return {split: sum(per.values()) for split, per in report.get("split_counts", {}).items()}


def _reason_names(report: Mapping[str, Any]) -> dict[str, str]:
    return {r["name"]: r["severity"] for r in report.get("reasons", ())}


def diff_reports(previous: Mapping[str, Any] | None,
                 current: Mapping[str, Any]) -> tuple[Change, ...] | None:
    """Differences between two reports in their JSON form; None when there is nothing to compare with.

    Lists: the verdict, the sample count, each class and split total, problems that
    appeared or were resolved, storage moves of 1 % or more, and diversity moves of at least 0.01.
    A malformed previous report (another format) counts as no previous report.
    """
    if not previous or previous.get("format_version") != current.get("format_version"):
        return None
    try:
        return _diff(previous, current)
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


def _diff(previous: Mapping[str, Any], current: Mapping[str, Any]) -> tuple[Change, ...]:
    changes: list[Change] = []
    if previous["verdict"] != current["verdict"]:
        changes.append(Change("verdict", "verdict", previous["verdict"], current["verdict"]))
    if previous["sample_count"] != current["sample_count"]:
        changes.append(Change("samples", "samples", previous["sample_count"], current["sample_count"]))
    for kind, totals in (("class", _class_totals), ("split", _split_totals)):
        before, after = totals(previous), totals(current)
        for subject in sorted(before.keys() | after.keys()):
            if before.get(subject, 0) != after.get(subject, 0):
                changes.append(Change(kind, subject, before.get(subject, 0), after.get(subject, 0)))
    before_reasons, after_reasons = _reason_names(previous), _reason_names(current)
    for name in sorted(after_reasons.keys() - before_reasons.keys()):
        changes.append(Change("new_problem", name, None, after_reasons[name]))
    for name in sorted(before_reasons.keys() - after_reasons.keys()):
        changes.append(Change("resolved", name, before_reasons[name], None))
    used_before = previous["storage"]["used_bytes"]
    used_after = current["storage"]["used_bytes"]
    if abs(used_after - used_before) >= STORAGE_CHANGE_SHARE * max(used_before, 1):
        changes.append(Change("storage", "used_bytes", used_before, used_after))
    entropy_before = {d["name"]: d["entropy"] for d in previous["distributions"]}
    for dist in current["distributions"]:
        old = entropy_before.get(dist["name"])
        if old is not None and abs(old - dist["entropy"]) >= ENTROPY_CHANGE:
            changes.append(Change("diversity", dist["name"], round(old, 3), round(dist["entropy"], 3)))
    return tuple(changes)
