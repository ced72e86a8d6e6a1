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
- a feature is constant when every original sample has it, with one and the same
  number. Only real features count (`is_feature_column`): not strings, not metadata
  beside the music (`*_version`, `*_source`, the roll's layout), not a field of an
  item in a list of objects (`chord_segments[154].roman`), and not a list position that
  only some samples have (padding). Augmented children are near-copies of their
  parents and are left out;
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
# Scalars the extractor writes with the same value for every file: how its arrays are laid out.
LAYOUT_COLUMNS = frozenset({"roll_frames_per_beat"})
_META_SUFFIXES = ("_version", "_source")
_ITEM_FIELD = re.compile(r"\[\d+\]\.")


def is_feature_column(name: str) -> bool:
    """Whether a flattened column is a feature of the music (see the module docstring)."""
    if _ITEM_FIELD.search(name):
        return False
    leaf = re.sub(r"\[\d+\]$", "", name.rsplit(".", 1)[-1])
    return not leaf.endswith(_META_SUFFIXES) and leaf not in LAYOUT_COLUMNS


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
        self.originals = 0
        self._first: dict[str, float] = {}
        self._constant: set[str] = set()
        self._present: dict[str, int] = {}
        # column -> value -> [the one class seen with it, how many samples]
        self._mapping: dict[str, dict[float | str, list]] = {}
        self._classes_seen: dict[str, set[str]] = {}
        self._dead: set[str] = set()  # columns that cannot map onto the classes any more
        self._equal: dict[str, set[str]] = {label: set() for label in self.numeric_labels}
        self._equal_started: set[str] = set()
        self._label_first: dict[str, float] = {}
        self._label_varies: set[str] = set()

    def add(self, columns: Mapping[str, float | str], class_label: str | None,
            numeric: Mapping[str, float], *, original: bool = True) -> None:
        """Record one sample: its columns, its class ("" or None when unlabelled), its numeric labels,
        and whether it is an original (only originals are judged for constant features)."""
        self.samples += 1
        if original:
            self._add_original(columns)
        if self.class_count >= 2:
            for name in columns.keys() - self._mapping.keys() - self._dead:
                self._mapping[name] = {}
                self._classes_seen[name] = set()
        if class_label:
            self._add_mapping(columns, class_label)
        for label in self.numeric_labels:
            if label in numeric:
                self._add_equality(label, columns, numeric[label])

    def _add_original(self, columns: Mapping[str, float | str]) -> None:
        self.originals += 1
        for name, value in columns.items():
            if not isinstance(value, float) or not is_feature_column(name):
                continue
            seen = self._present.get(name)
            self._present[name] = 1 if seen is None else seen + 1
            if seen is None:
                self._first[name] = value
                self._constant.add(name)
            elif name in self._constant and not _same(value, self._first[name]):
                self._constant.discard(name)

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
            self._dead.add(name)

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
        """Features with one value on every original (needs at least two originals to say)."""
        if self.originals < 2:
            return []
        return sorted((n for n in self._constant if self._present[n] == self.originals), key=natural_key)

    def feature_count(self) -> int:
        """Features every original has (the columns `constant_columns` judges)."""
        return sum(1 for n in self._present.values() if n == self.originals)

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
