"""The value that flows through a handler chain: one sample of one dataset."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal, Mapping

Kind = Literal["midi", "audio"]
Split = Literal["train", "val", "test"]

SAMPLE_ID_HEX_CHARS = 16


def sample_id_for(sha256: str) -> str:
    """A stable sample id derived from the content hash (first 16 hex digits)."""
    if len(sha256) != 64:
        raise ValueError(f"sha256 must be 64 hex digits, got {sha256!r}")
    return sha256[:SAMPLE_ID_HEX_CHARS]


@dataclass(frozen=True)
class Sample:
    """One sample of a dataset.

    Before the import step, `sha256` and `sample_id` are empty and `origin_path`
    is the absolute path of the dropped file. After import, `file_path` is the
    POSIX path relative to the dataset folder.
    """

    dataset_id: str
    origin_path: str
    label_dirs: tuple[str, ...] = ()
    sample_id: str = ""
    sha256: str = ""
    kind: Kind | None = None
    file_path: str = ""
    original_names: tuple[str, ...] = ()
    annotations: Mapping[str, Any] = field(default_factory=dict)
    source: Mapping[str, Any] = field(default_factory=lambda: {"type": "inbox"})
    features_path: str | None = None
    parent_id: str | None = None
    augmentation: Mapping[str, Any] | None = None
    split: Split | None = None
    # Files a step wrote for this sample beyond its features (the song analysis, stems, notes): name -> path
    # relative to the dataset folder.
    outputs: Mapping[str, Any] = field(default_factory=dict)

    def with_changes(self, **changes: Any) -> "Sample":
        return dataclasses.replace(self, **changes)

    def with_annotations(self, **labels: Any) -> "Sample":
        """A copy whose annotations are updated with `labels` (later wins)."""
        return dataclasses.replace(self, annotations={**self.annotations, **labels})

    def to_json(self) -> dict[str, Any]:
        return {
            "sample_id": self.sample_id,
            "dataset_id": self.dataset_id,
            "origin_path": self.origin_path,
            "label_dirs": list(self.label_dirs),
            "sha256": self.sha256,
            "kind": self.kind,
            "file_path": self.file_path,
            "original_names": list(self.original_names),
            "annotations": dict(self.annotations),
            "source": dict(self.source),
            "features_path": self.features_path,
            "parent_id": self.parent_id,
            "augmentation": dict(self.augmentation) if self.augmentation is not None else None,
            "split": self.split,
            "outputs": dict(self.outputs),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Sample":
        return cls(
            dataset_id=data["dataset_id"],
            origin_path=data.get("origin_path", ""),
            label_dirs=tuple(data.get("label_dirs", ())),
            sample_id=data.get("sample_id", ""),
            sha256=data.get("sha256", ""),
            kind=data.get("kind"),
            file_path=data.get("file_path", ""),
            original_names=tuple(data.get("original_names", ())),
            annotations=dict(data.get("annotations", {})),
            source=dict(data.get("source", {"type": "inbox"})),
            features_path=data.get("features_path"),
            parent_id=data.get("parent_id"),
            augmentation=data.get("augmentation"),
            split=data.get("split"),
            outputs=dict(data.get("outputs") or {}),
        )
