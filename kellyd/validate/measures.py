"""Pure measures over counts: normalised entropy, balance, tempo bins, key and mode distributions."""

from __future__ import annotations

import math
from typing import Any, Iterable, Sequence

import numpy as np

from kellyd.sample import Sample
from kellyd.taxonomy import PITCH_CLASS_NAMES
from kellyd.validate.report import Distribution
from kellyd.validate.targets import MODES, pitch_class

# Bin edges in BPM: below 60, 60-80, ..., 180-200, 200 and above (9 bins).
TEMPO_BIN_EDGES_BPM: tuple[float, ...] = (60.0, 80.0, 100.0, 120.0, 140.0, 160.0, 180.0, 200.0)


def normalised_entropy(counts: Sequence[int] | np.ndarray, categories: int | None = None) -> float:
    """Shannon entropy of `counts` divided by log(categories), in [0, 1].

    categories: how many categories exist (defaults to len(counts)); a spread over
    3 of 12 keys is then not mistaken for full diversity. 0 for no data or a
    single value; never above 1.
    """
    values = np.asarray(counts, dtype=np.float64)
    if values.ndim != 1 or np.any(values < 0) or not np.all(np.isfinite(values)):
        raise ValueError(f"counts must be a 1-D sequence of finite non-negative numbers, got {counts!r}")
    k = len(values) if categories is None else categories
    if k < len(values):
        raise ValueError(f"categories ({k}) is smaller than the number of counts ({len(values)})")
    total = values.sum()
    if k < 2 or total <= 0:
        return 0.0
    p = values[values > 0] / total
    entropy = float(-(p * np.log(p)).sum() / math.log(k))
    return min(1.0, max(0.0, entropy))


def balance_ratio(counts: Iterable[int]) -> float:
    """Smallest class count / largest, in [0, 1]; 1 when there is at most one class or no samples."""
    values = list(counts)
    if len(values) < 2 or max(values) <= 0:
        return 1.0
    return min(values) / max(values)


def tempo_bin(tempo_bpm: float) -> int:
    """Index of the tempo bin holding `tempo_bpm` (0 .. len(TEMPO_BIN_EDGES_BPM))."""
    if not math.isfinite(tempo_bpm) or tempo_bpm <= 0:
        raise ValueError(f"tempo_bpm must be a positive finite number, got {tempo_bpm!r}")
    return int(np.searchsorted(TEMPO_BIN_EDGES_BPM, tempo_bpm, side="right"))


def tempo_bin_labels() -> tuple[str, ...]:
    edges = [int(e) for e in TEMPO_BIN_EDGES_BPM]
    inner = [f"{lo}-{hi}" for lo, hi in zip(edges, edges[1:])]
    return (f"<{edges[0]}", *inner, f"{edges[-1]}+")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0


def distribution(name: str, categories: Sequence[str], values: Iterable[str | None]) -> Distribution:
    """Count `values` over the fixed `categories` (None and unknown values are not counted)."""
    index = {c: i for i, c in enumerate(categories)}
    counts = [0] * len(categories)
    for value in values:
        if value is not None and value in index:
            counts[index[value]] += 1
    return Distribution(name, tuple(zip(categories, counts)), len(categories),
                        normalised_entropy(counts, len(categories)), sum(counts))


def annotation_distributions(samples: Iterable[Sample]) -> tuple[Distribution, ...]:
    """Key (12 pitch classes), mode (major/minor) and tempo (9 bins) distributions of original samples."""
    modes: list[str | None] = []
    tempi: list[str | None] = []
    tempo_labels = tempo_bin_labels()
    key_values: list[str | None] = []
    for sample in samples:
        if sample.parent_id:
            continue
        ann = sample.annotations
        pc = pitch_class(ann.get("key"))
        key_values.append(None if pc is None else PITCH_CLASS_NAMES[pc])
        mode = ann.get("mode")
        modes.append(mode if mode in MODES else None)
        tempo = ann.get("tempo_bpm")
        tempi.append(tempo_labels[tempo_bin(tempo)] if _is_number(tempo) else None)
    return (
        distribution("key", PITCH_CLASS_NAMES, key_values),
        distribution("mode", MODES, modes),
        distribution("tempo", tempo_labels, tempi),
    )


# Bins a dataset engineer reads at a glance: piece length in s and notes per second.
DURATION_BIN_EDGES_S: tuple[float, ...] = (5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0)
DENSITY_BIN_EDGES_PER_S: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0)
# Where a column of these values may sit in a flattened features document (MIDI and audio).
DURATION_COLUMNS = ("scalars.duration_s", "duration_s")
DENSITY_COLUMNS = ("scalars.note_density_per_s", "note_density_per_s", "scalars.onset_rate_per_s",
                   "onset_rate_per_s")
SOURCE_ORDER: tuple[str, ...] = ("inbox", "import", "freesound", "synthetic", "augmented")


def bin_labels(edges: Sequence[float], unit: str) -> tuple[str, ...]:
    """'<5 s', '5-10 s', ..., '300+ s' for edges (5, 10, ..., 300)."""
    text = [f"{e:g}" for e in edges]
    return (f"<{text[0]} {unit}", *(f"{lo}-{hi} {unit}" for lo, hi in zip(text, text[1:])), f"{text[-1]}+ {unit}")


class SpreadScan:
    """Duration and note-density histograms of the originals, fed one sample at a time.

    The value comes from the annotations when they hold it, else from the features columns.
    """

    def __init__(self) -> None:
        self.duration = [0] * (len(DURATION_BIN_EDGES_S) + 1)
        self.density = [0] * (len(DENSITY_BIN_EDGES_PER_S) + 1)

    @staticmethod
    def _value(annotations: Any, columns: Any, key: str, names: Sequence[str]) -> float | None:
        value = annotations.get(key)
        if not _is_number(value):
            value = next((columns[n] for n in names if _is_number(columns.get(n))), None)
        return float(value) if value is not None else None

    def add(self, annotations: Any, columns: Any) -> None:
        duration = self._value(annotations, columns, "duration_s", DURATION_COLUMNS)
        if duration is not None:
            self.duration[int(np.searchsorted(DURATION_BIN_EDGES_S, duration, side="right"))] += 1
        density = self._value(annotations, columns, "note_density_per_s", DENSITY_COLUMNS)
        if density is not None:
            self.density[int(np.searchsorted(DENSITY_BIN_EDGES_PER_S, density, side="right"))] += 1

    def distributions(self) -> tuple[Distribution, ...]:
        found = []
        for name, counts, labels in (("duration", self.duration, bin_labels(DURATION_BIN_EDGES_S, "s")),
                                     ("density", self.density, bin_labels(DENSITY_BIN_EDGES_PER_S, "/s"))):
            found.append(Distribution(name, tuple(zip(labels, counts)), len(labels),
                                      normalised_entropy(counts, len(labels)), sum(counts)))
        return tuple(found)


def source_of(sample: Sample) -> str:
    """inbox, import, freesound, synthetic (from the sample's source), or augmented for a child."""
    if sample.parent_id:
        return "augmented"
    kind = sample.source.get("type") if sample.source else None
    return str(kind or "inbox")


def source_counts(samples: Iterable[Sample]) -> tuple[tuple[str, int], ...]:
    """(source, samples) in SOURCE_ORDER, then any other source; sources with no sample are left out."""
    counts: dict[str, int] = {}
    for sample in samples:
        source = source_of(sample)
        counts[source] = counts.get(source, 0) + 1
    order = [s for s in SOURCE_ORDER if s in counts] + sorted(set(counts) - set(SOURCE_ORDER))
    return tuple((s, counts[s]) for s in order)
