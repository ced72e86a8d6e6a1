"""Feature columns: flattening one features JSON, and dataset-wide column checks done in one pass.

A features JSON (`processed/features/<sample_id>.json`, as `kellyd.handlers.features` writes
it: `{"schema_version", "sample_id", "kind", "scalars": {...}, "labels", "flags",
"arrays"}`) is read as columns:
numbers become numeric columns, strings and booleans categorical ones, nested
objects are flattened with dots (`groove.swing_ratio`), and short numeric lists
(histograms, curves: up to `MAX_LIST_COLUMNS` items) one column per item
(`pitch_class_hist[3]`). Longer lists are only checked for NaN/inf. The top-level
keys in `METADATA_KEYS` (schema version, ids, the labels the extractor proposed,
flags) and any top-level `*_version` key describe the file rather than the music
and are not columns.

`ColumnScan` then streams over the samples once, keeping only what can still be
true, so memory stays flat with dataset size:
- a column is constant when every sample that has it has the same value;
- a class label is computable from a column when the column's values map one to
  one onto the classes (each value always with the same class, as many values
  as classes, every value seen at least twice);
- a numeric label (e.g. valence) leaks when a column equals it on every sample.
"""

from __future__ import annotations

import math
import re
from typing import Any, Iterable, Mapping

# What the features handler writes beside the scalars: ids, the labels it proposed, flags, and
# the shapes of the arrays in the .npz.
METADATA_KEYS = frozenset({
    "schema_version", "sample_id", "dataset_id", "sha256", "labels", "flags", "arrays", "extractor",
    "kind", "created_at", "source",
})
MAX_LIST_COLUMNS = 64
_EQUAL_TOLERANCE = 1e-9


def flatten_features(document: Mapping[str, Any]) -> tuple[dict[str, float | str], list[str]]:
    """(columns, names of non-finite values) of one features document."""
    columns: dict[str, float | str] = {}
    non_finite: list[str] = []

    def visit(name: str, value: Any) -> None:
        if isinstance(value, bool):
            columns[name] = "true" if value else "false"
        elif isinstance(value, (int, float)):
            number = float(value)
            if math.isfinite(number):
                columns[name] = number
            else:
                non_finite.append(name)
        elif isinstance(value, str):
            columns[name] = value
        elif isinstance(value, Mapping):
            for key, inner in value.items():
                visit(f"{name}.{key}", inner)
        elif isinstance(value, (list, tuple)):
            numeric = all(type(v) in (int, float) for v in value)
            if numeric and len(value) <= MAX_LIST_COLUMNS:
                for i, item in enumerate(value):
                    number = float(item)
                    if math.isfinite(number):
                        columns[f"{name}[{i}]"] = number
                    else:
                        non_finite.append(f"{name}[{i}]")
            elif numeric:
                if not all(math.isfinite(v) for v in value):
                    non_finite.append(name)
            else:
                for i, item in enumerate(value):
                    if isinstance(item, (Mapping, list, tuple)) or (
                            isinstance(item, float) and not math.isfinite(item)):
                        visit(f"{name}[{i}]", item)

    for key, value in document.items():
        if key not in METADATA_KEYS and not str(key).endswith("_version"):
            visit(str(key), value)
    return columns, non_finite


def natural_key(name: str) -> list[Any]:
    """Sort key that puts `hist[2]` before `hist[10]`."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def _same(a: float | str, b: float | str) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) <= _EQUAL_TOLERANCE * max(1.0, abs(a), abs(b))
    return a == b


class ColumnScan:
    """One streaming pass over the samples' feature columns (see the module docstring).

    class_count: how many distinct classes the dataset has; a column with more
    distinct values than that cannot map one to one and is dropped early.
    """

    def __init__(self, class_count: int, numeric_labels: Iterable[str] = ()) -> None:
        self.class_count = class_count
        self.numeric_labels = tuple(numeric_labels)
        self.samples = 0
        self._first: dict[str, float | str] = {}
        self._constant: set[str] = set()
        # column -> value -> [the one class seen with it, how many samples]
        self._mapping: dict[str, dict[float | str, list]] = {}
        self._classes_seen: dict[str, set[str]] = {}
        self._equal: dict[str, set[str]] = {label: set() for label in self.numeric_labels}
        self._equal_started: set[str] = set()
        self._label_first: dict[str, float] = {}
        self._label_varies: set[str] = set()

    def add(self, columns: Mapping[str, float | str], class_label: str | None,
            numeric: Mapping[str, float]) -> None:
        """Record one sample: its columns, its class ("" or None when unlabelled), its numeric labels."""
        self.samples += 1
        new = columns.keys() - self._first.keys()
        for name in new:
            self._first[name] = columns[name]
            self._constant.add(name)
            if self.class_count >= 2:
                self._mapping[name] = {}
                self._classes_seen[name] = set()
        for name in [n for n in self._constant if n in columns and not _same(columns[n], self._first[n])]:
            self._constant.discard(name)
        if class_label:
            self._add_mapping(columns, class_label)
        for label in self.numeric_labels:
            if label in numeric:
                self._add_equality(label, columns, numeric[label])

    def _add_mapping(self, columns: Mapping[str, float | str], class_label: str) -> None:
        dead = []
        for name, mapping in self._mapping.items():
            if name not in columns:
                continue
            value = columns[name]
            seen = mapping.get(value)
            if seen is None:
                mapping[value] = [class_label, 1]
                self._classes_seen[name].add(class_label)
                if len(mapping) > self.class_count:
                    dead.append(name)
            elif seen[0] != class_label:
                dead.append(name)
            else:
                seen[1] += 1
        for name in dead:
            del self._mapping[name]

    def _add_equality(self, label: str, columns: Mapping[str, float | str], target: float) -> None:
        first = self._label_first.setdefault(label, target)
        if not _same(first, target):
            self._label_varies.add(label)
        candidates = self._equal[label]
        if label not in self._equal_started:
            self._equal_started.add(label)
            candidates.update(n for n, v in columns.items() if isinstance(v, float) and _same(v, target))
            return
        candidates.intersection_update(
            n for n in candidates if isinstance(columns.get(n), float) and _same(columns[n], target))  # type: ignore[arg-type]

    def constant_columns(self) -> list[str]:
        """Columns with one value across the dataset (needs at least two samples to say)."""
        return sorted(self._constant, key=natural_key) if self.samples >= 2 else []

    def label_columns(self) -> list[str]:
        """Columns whose values map one to one onto the classes, each value seen at least twice
        (one sample per value proves nothing); needs two classes or more."""
        if self.class_count < 2:
            return []
        return sorted(name for name, mapping in self._mapping.items()
                      if len(mapping) == len(self._classes_seen[name]) == self.class_count
                      and all(count >= 2 for _, count in mapping.values()))

    def equal_columns(self) -> dict[str, list[str]]:
        """Numeric label -> columns equal to it on every sample (labels that vary only)."""
        return {label: sorted(cols) for label, cols in self._equal.items()
                if cols and label in self._label_varies}
