"""Read a dataset folder's `manifest.json`: the samples, their splits and labels, and the hash of the bytes read."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from kellyd.data.errors import UnusableData
from kellyd.sample import Sample

MANIFEST_NAME = "manifest.json"


@dataclass(frozen=True)
class DatasetManifest:
    """The samples of one dataset folder, in manifest order (by sample id).

    sha256: hash of the manifest bytes read, so a model can record exactly what it saw.
    """

    dataset_id: str
    root: Path
    samples: tuple[Sample, ...]
    sha256: str

    def in_split(self, split: str) -> tuple[Sample, ...]:
        return tuple(s for s in self.samples if s.split == split)


def read_manifest(root: Path | str, dataset_id: str | None = None) -> DatasetManifest:
    """Read `<root>/manifest.json`; UnusableData when it is missing or is not a kellyd manifest.

    `dataset_id` defaults to the manifest's own, else the folder's name.
    """
    root = Path(root)
    path = root / MANIFEST_NAME
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise UnusableData(f"dataset {dataset_id or root.name!r} has no manifest at {path}") from None
    except OSError as exc:
        raise UnusableData(f"{path} cannot be read: {exc}") from None
    try:
        document = json.loads(raw)
        dataset_id = dataset_id or document.get("dataset_id") or root.name
        # Ordered by sample id, not as the file lists them (the catalog's order, which depends on when each
        # sample arrived): what a training run reads, and so its result, does not depend on how the
        # manifest was written.
        samples = tuple(sorted((Sample.from_json({"dataset_id": dataset_id, **entry}) for entry in document["samples"]),
                               key=lambda s: s.sample_id))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise UnusableData(f"{path} is not a kellyd manifest: {exc}") from None
    return DatasetManifest(dataset_id, root, samples, hashlib.sha256(raw).hexdigest())
