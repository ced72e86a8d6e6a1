"""The JSON form of a `ValidationReport` (what `reports/validation-*.json` holds) and back.

Plain JSON values only (no NaN: every float in a report is finite by
construction). `report_from_json` reads what `report_to_json` wrote, so an old
report can be re-rendered or compared.
"""

from __future__ import annotations

from typing import Any, Mapping

from kellyd.validate.report import (
    REPORT_FORMAT_VERSION,
    Change,
    ClassCount,
    Distribution,
    QuarantinedFile,
    Reason,
    StorageUse,
    ValidationReport,
)


def reason_to_json(reason: Reason) -> dict[str, Any]:
    return {"name": reason.name, "family": reason.family, "check": reason.check, "severity": reason.severity,
            "message": reason.message, "affected": list(reason.affected), "affected_count": reason.affected_count}


def report_to_json(report: ValidationReport) -> dict[str, Any]:
    return {
        "format_version": REPORT_FORMAT_VERSION,
        "dataset_id": report.dataset_id,
        "target_model": report.target_model,
        "created_at": report.created_at,
        "verdict": report.verdict,
        "reasons": [reason_to_json(r) for r in report.reasons],
        "mode": report.mode,
        "sample_count": report.sample_count,
        "original_count": report.original_count,
        "augmented_count": report.augmented_count,
        "class_key": report.class_key,
        "class_counts": [
            {"label": c.label, "originals": c.originals, "augmented": c.augmented, "total": c.total,
             "target": c.target, "missing": c.missing}
            for c in report.class_counts
        ],
        "total_target": report.total_target,
        "split_ratios": list(report.split_ratios),
        "split_counts": {split: dict(per_class) for split, per_class in report.split_counts.items()},
        "split_augmented": {split: dict(per_class) for split, per_class in report.split_augmented.items()},
        "source_counts": [[source, n] for source, n in report.source_counts],
        "distributions": [_distribution_to_json(d) for d in report.distributions],
        "spreads": [_distribution_to_json(d) for d in report.spreads],
        "storage": {"used_bytes": report.storage.used_bytes, "budget_bytes": report.storage.budget_bytes},
        "quarantined": [{"path": q.path, "reason": q.reason, "handler": q.handler, "when": q.when}
                        for q in report.quarantined],
        "changes": [{"kind": c.kind, "subject": c.subject, "before": c.before, "after": c.after}
                    for c in report.changes],
        "previous_created_at": report.previous_created_at,
        "files_hashed": report.files_hashed,
        "files_trusted": report.files_trusted,
        "elapsed_s": report.elapsed_s,
    }


def _distribution_to_json(d: Distribution) -> dict[str, Any]:
    return {"name": d.name, "counts": [[category, n] for category, n in d.counts], "categories": d.categories,
            "entropy": d.entropy, "coverage": d.coverage}


def _distribution_from_json(d: Mapping[str, Any]) -> Distribution:
    return Distribution(d["name"], tuple((c, n) for c, n in d["counts"]), d["categories"], d["entropy"],
                        d["coverage"])


def report_from_json(data: Mapping[str, Any]) -> ValidationReport:
    """Rebuild a report from its JSON form (stamps are not part of it and come back empty)."""
    version = data.get("format_version")
    if version != REPORT_FORMAT_VERSION:
        raise ValueError(f"report format_version is {version!r}, this kellyd reads {REPORT_FORMAT_VERSION}")
    storage = data["storage"]
    return ValidationReport(
        dataset_id=data["dataset_id"],
        target_model=data["target_model"],
        created_at=data["created_at"],
        verdict=data["verdict"],
        reasons=tuple(
            Reason(r["family"], r["check"], r["severity"], r["message"], tuple(r["affected"]), r["affected_count"])
            for r in data["reasons"]
        ),
        mode=data["mode"],
        sample_count=data["sample_count"],
        original_count=data["original_count"],
        augmented_count=data["augmented_count"],
        class_key=data["class_key"],
        class_counts=tuple(ClassCount(c["label"], c["originals"], c["augmented"], c["target"])
                           for c in data["class_counts"]),
        total_target=data["total_target"],
        split_ratios=tuple(data["split_ratios"]),  # type: ignore[arg-type]
        split_counts={split: dict(per_class) for split, per_class in data["split_counts"].items()},
        split_augmented={split: dict(per_class) for split, per_class in data.get("split_augmented", {}).items()},
        source_counts=tuple((source, n) for source, n in data.get("source_counts", ())),
        distributions=tuple(_distribution_from_json(d) for d in data["distributions"]),
        spreads=tuple(_distribution_from_json(d) for d in data.get("spreads", ())),
        storage=StorageUse(storage["used_bytes"], storage["budget_bytes"]),
        quarantined=tuple(QuarantinedFile(q["path"], q["reason"], q["handler"], q["when"])
                          for q in data["quarantined"]),
        changes=tuple(Change(c["kind"], c["subject"], c["before"], c["after"]) for c in data["changes"]),
        previous_created_at=data["previous_created_at"],
        files_hashed=data["files_hashed"],
        files_trusted=data["files_trusted"],
        elapsed_s=data["elapsed_s"],
    )
