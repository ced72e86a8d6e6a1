"""The values a validation produces: reasons, counts, distributions and the report itself."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Mapping

Severity = Literal["error", "warning", "info"]
Verdict = Literal["ready", "usable_with_warnings", "invalid"]
SEVERITIES: tuple[Severity, ...] = ("error", "warning", "info")
# 2: split_counts counts originals only (children in split_augmented); source_counts and spreads.
REPORT_FORMAT_VERSION = 2


@dataclass(frozen=True)
class Reason:
    """One finding. `family` is the check family (quality, leakage...), `check` the specific check.

    affected: sample ids or file names, at most `Limits.max_listed` of them;
    affected_count: how many there are in all.
    """

    family: str
    check: str
    severity: Severity
    message: str
    affected: tuple[str, ...] = ()
    affected_count: int = 0

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {SEVERITIES}, got {self.severity!r}")
        if self.affected_count < len(self.affected):
            object.__setattr__(self, "affected_count", len(self.affected))

    @property
    def name(self) -> str:
        """`family.check`, the stable identifier tests and diffs use."""
        return f"{self.family}.{self.check}"


@dataclass(frozen=True)
class ClassCount:
    """Samples of one class: originals and augmented children; the per-class target (or None) is
    about originals."""

    label: str
    originals: int
    augmented: int
    target: int | None

    @property
    def total(self) -> int:
        return self.originals + self.augmented

    @property
    def missing(self) -> int:
        """How many more original samples the target asks for (0 without a target). Augmented
        children are variations of originals and do not count towards it."""
        return 0 if self.target is None else max(0, self.target - self.originals)


@dataclass(frozen=True)
class Distribution:
    """How one annotation spreads over its categories.

    counts: (category, samples) in a fixed display order; `categories` is how many
    categories exist (12 keys, 2 modes, 9 tempo bins), which normalises the entropy;
    `entropy` is in [0, 1]; `coverage` is how many samples have the annotation.
    """

    name: str
    counts: tuple[tuple[str, int], ...]
    categories: int
    entropy: float
    coverage: int


@dataclass(frozen=True)
class StorageUse:
    """Bytes the dataset folder uses (all but `reports/`) and its budget (None: no budget)."""

    used_bytes: int
    budget_bytes: int | None

    @property
    def share(self) -> float | None:
        """Used / budget, or None without a budget."""
        if not self.budget_bytes:
            return None
        return self.used_bytes / self.budget_bytes


@dataclass(frozen=True)
class QuarantinedFile:
    """A file the daemon set aside: where it is, why, which step, when (ISO 8601 text)."""

    path: str
    reason: str
    handler: str
    when: str


@dataclass(frozen=True)
class FileStamp:
    """What a file looked like when its content was last verified (hash matched, file readable)."""

    file_path: str
    size_bytes: int
    mtime_ns: int
    sha256: str

    def to_json(self) -> dict[str, Any]:
        return {"file_path": self.file_path, "size_bytes": self.size_bytes,
                "mtime_ns": self.mtime_ns, "sha256": self.sha256}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "FileStamp":
        return cls(str(data["file_path"]), int(data["size_bytes"]), int(data["mtime_ns"]), str(data["sha256"]))


@dataclass(frozen=True)
class Change:
    """One difference from the previous report: `kind` (verdict, samples, class, split, new_problem,
    resolved, storage, diversity), the `subject` it concerns, and the values before and after."""

    kind: str
    subject: str
    before: Any
    after: Any


@dataclass(frozen=True)
class ValidationReport:
    """Everything one validation found.

    split_counts: split -> class label -> original samples (what the split ratios and the targets
    are about); split_augmented: the same for augmented children, shown apart.
    source_counts: (source, samples) for inbox, import, freesound, synthetic, augmented...
    spreads: duration and note-density distributions of the originals.
    files_hashed / files_trusted: files whose content was hashed this run, and files
    whose recorded stamp (size + mtime) was trusted instead.
    changes / previous_created_at: the differences from the previous report, and its time
    (None when there was no previous report to compare with).
    stamps: the stamp of every file found intact (sample_id -> FileStamp). Not part of
    the JSON: the caller persists it and passes it back as `recorded_stamps`.
    """

    dataset_id: str
    target_model: str
    created_at: str
    verdict: Verdict
    reasons: tuple[Reason, ...]
    mode: Literal["full", "cheap"]
    sample_count: int
    original_count: int
    augmented_count: int
    class_key: str
    class_counts: tuple[ClassCount, ...]
    total_target: int | None
    split_ratios: tuple[float, float, float]
    split_counts: Mapping[str, Mapping[str, int]]
    distributions: tuple[Distribution, ...]
    storage: StorageUse
    quarantined: tuple[QuarantinedFile, ...]
    changes: tuple[Change, ...]
    previous_created_at: str | None
    files_hashed: int
    files_trusted: int
    elapsed_s: float
    stamps: Mapping[str, FileStamp] = field(default_factory=dict, compare=False, repr=False)
    split_augmented: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    source_counts: tuple[tuple[str, int], ...] = ()
    spreads: tuple[Distribution, ...] = ()

    def reasons_of(self, severity: Severity) -> tuple[Reason, ...]:
        return tuple(r for r in self.reasons if r.severity == severity)

    def reason_names(self) -> set[str]:
        return {r.name for r in self.reasons}

    def to_json(self) -> dict[str, Any]:
        from kellyd.validate.report_json import report_to_json

        return report_to_json(self)
