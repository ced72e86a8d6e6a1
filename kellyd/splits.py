"""Train / val / test splits that never move a sample and never leak a group.

Rules, in the order they apply to a sample without a split:

1. An augmented child goes where its parent is (`parent_id`, followed to the
   original through chains of children).
2. An original sample belongs to a group (`group_key`): the `group` match of
   `SplitSettings.group_by`, else a grouping derived without configuration (a
   sidecar's `song_id` or `group`, a Freesound sound's pack or uploader, the file
   name with its clip, segment and take suffixes removed), so that clips of one
   song never sit on both sides of a split by default. A group with a member
   already placed takes the new member to the same split.
3. A new group prefers the split that a hash of (seed, group key) points at, so
   the choice does not depend on arrival order or on the machine. A derived group
   hashes its first original's `sample:<id>` instead (the smallest id in a batch):
   a dataset whose files each name a song of their own is then split exactly as
   before groups were derived, and assignments made before stay where they are. The class
   balance is then corrected with new groups only: a group keeps its preferred
   split while that split has room for its label, otherwise it goes to the
   split with the largest deficit for that label.

Samples already assigned are never moved. Counts are of original samples only
(children follow their parents and do not weigh in the balance), which is what
`Catalog.split_counts` returns, so `assign_new` can run as samples arrive
without reading the whole dataset.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Callable, Iterable, Mapping, Sequence

from kellyd.atomic import atomic_write_bytes
from kellyd.sample import Sample, Split

SPLITS: tuple[Split, ...] = ("train", "val", "test")
SPLITS_DIR = "splits"
_RATIO_TOLERANCE = 1e-6

SplitLookup = Callable[[str], "str | None"]


@dataclass(frozen=True)
class SplitSettings:
    """How a dataset is split.

    ratios: shares of (train, val, test), non-negative, summing to 1.
    label_key: the annotation to stratify on (None or "" for no stratification).
    group_by: a regular expression with a named group `group`, searched in each
        original sample's file name; samples with the same match stay together.
    seed: changes every hash-based preference (a different but equally stable split);
        the daemon uses the dataset id.
    """

    ratios: tuple[float, float, float] = (0.7, 0.15, 0.15)
    label_key: str | None = None
    group_by: str | None = None
    seed: int | str = 0
    _pattern: re.Pattern[str] | None = field(init=False, repr=False, compare=False, default=None)

    def __post_init__(self) -> None:
        ratios = tuple(float(r) for r in self.ratios)
        if len(ratios) != len(SPLITS):
            raise ValueError(f"ratios must have {len(SPLITS)} values (train, val, test), got {self.ratios!r}")
        if any(not math.isfinite(r) or r < 0 for r in ratios):
            raise ValueError(f"ratios must be finite and non-negative, got {self.ratios!r}")
        if abs(sum(ratios) - 1.0) > _RATIO_TOLERANCE:
            raise ValueError(f"ratios must sum to 1, got {self.ratios!r} (sum {sum(ratios)})")
        object.__setattr__(self, "ratios", ratios)
        if self.label_key == "":
            object.__setattr__(self, "label_key", None)
        if not isinstance(self.seed, (int, str)) or isinstance(self.seed, bool):
            raise ValueError(f"seed must be an integer or a text, got {self.seed!r}")
        if self.group_by:
            try:
                pattern = re.compile(self.group_by)
            except re.error as exc:
                raise ValueError(f"group_by {self.group_by!r} is not a regular expression: {exc}") from None
            if "group" not in pattern.groupindex:
                raise ValueError(f"group_by {self.group_by!r} needs a named group (?P<group>...)")
            object.__setattr__(self, "_pattern", pattern)
        else:
            object.__setattr__(self, "group_by", None)


def label_value(sample: Sample, label_key: str | None) -> str:
    """The stratification label of a sample as text ("" when unset or not stratifying)."""
    if not label_key:
        return ""
    value = sample.annotations.get(label_key)
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def file_name_of(sample: Sample) -> str:
    """The file name `group_by` is matched against: the name it was dropped with, else the imported one."""
    if sample.original_names:
        return PurePosixPath(sample.original_names[0].replace("\\", "/")).name
    return PurePosixPath(sample.file_path).name or PurePosixPath(sample.origin_path.replace("\\", "/")).name


# Markers of a piece of a longer recording at the end of a file name's stem: `_clip3`, `-seg02`,
# `_take2`, `part 1`... (any number of them), and one bare counter `_0`, `-12` after a word (at most
# 3 digits, so a year or a catalogue number stays; not after a digit, so a meter such as `4-4` stays).
_PIECE_MARKER = re.compile(r"[ _\-.]*(?:clip|seg|segment|part|chunk|excerpt|section|take|tk)[ _\-.]*\d+$",
                           re.IGNORECASE)
_BARE_COUNTER = re.compile(r"(?<=[^\d _\-.])[ _\-.]\d{1,3}$")
# The `_<8 hex digits>` the import step adds to a raw copy whose name was taken.
_CLASH_SUFFIX = re.compile(r"_[0-9a-f]{8}$")
# A leading emotion-quadrant tag (`Q1_`...`Q4_`, as in EMOPIA) names the clip's label, not its song.
_QUADRANT_TAG = re.compile(r"^q[1-4][ _\-.]+(?=.)", re.IGNORECASE)
_SEPARATORS = " _-."


def song_stem(name: str) -> str:
    """Pure: the song a clip's file name names, lower-cased: the stem without piece markers and
    without a leading quadrant tag (`Q1_song_clip2.mid` -> `song`)."""
    stem = PurePosixPath(name).stem
    while True:
        shorter = _PIECE_MARKER.sub("", stem)
        if shorter == stem or not shorter.strip(_SEPARATORS):
            break
        stem = shorter
    shorter = _BARE_COUNTER.sub("", stem)
    if shorter.strip(_SEPARATORS):
        stem = shorter
    return _QUADRANT_TAG.sub("", stem).strip(_SEPARATORS).lower()


def derived_group(sample: Sample) -> str | None:
    """The group of an original sample when no `group_by` matched, or None when nothing tells.

    In order: a sidecar's `song_id` or `group` annotation (`song:`), a Freesound sound's pack
    (`pack:`) or else its uploader (`uploader:`), the song stem of its file name (`song:`).
    """
    for key in ("song_id", "group"):
        value = sample.annotations.get(key)
        if value not in (None, "") and not isinstance(value, (dict, list, bool)):
            return f"song:{str(value).strip().lower()}"
    source = sample.source or {}
    if source.get("type") == "freesound":
        if source.get("pack"):
            return f"pack:{source['pack']}"
        uploader = source.get("author") or source.get("username")
        if uploader:
            return f"uploader:{uploader}"
    name = file_name_of(sample)
    if not sample.original_names:
        name = _CLASH_SUFFIX.sub("", PurePosixPath(name).stem) + PurePosixPath(name).suffix
    stem = song_stem(name)
    return f"song:{stem}" if stem else None


DERIVED_PREFIXES = ("song:", "pack:", "uploader:")


def preference_key(group: str, first_sample_id: str) -> str:
    """What a new group's preferred split is hashed from: the group key, or for a derived group
    (`derived_group`) `sample:<id of its first original>` (see rule 3 above)."""
    return f"sample:{first_sample_id}" if group.startswith(DERIVED_PREFIXES) else group


def group_key(sample: Sample, settings: SplitSettings) -> str:
    """The group of an ORIGINAL sample: `group:<match>` of `group_by` on its file name, else
    `derived_group`, else `sample:<id>`.

    A derived sample belongs to its parent's group; callers resolve that through
    `parent_id` (see `assign_new`).
    """
    if settings._pattern is not None:
        match = settings._pattern.search(file_name_of(sample))
        if match is not None and match.group("group"):
            return f"group:{match.group('group')}"
    return derived_group(sample) or f"sample:{sample.sample_id}"


def preference(key: str, *, seed: int | str, ratios: Sequence[float]) -> tuple[float, Split]:
    """A group's hash position u in [0, 1) and the split it prefers (the ratio bucket holding u)."""
    digest = hashlib.sha256(f"{seed}\x00{key}".encode("utf-8")).digest()
    u = int.from_bytes(digest[:8], "big") / 2.0**64
    edge = 0.0
    for name, ratio in zip(SPLITS, ratios):
        edge += ratio
        if u < edge and ratio > 0:
            return u, name
    # Rounding can leave u just above the last edge: the last split with a share takes it.
    return u, next(name for name, ratio in reversed(list(zip(SPLITS, ratios))) if ratio > 0)


@dataclass
class _Unit:
    """New samples that must share one split; `fixed` is set when a member is already placed."""

    key: str
    members: list[Sample] = field(default_factory=list)
    fixed: Split | None = None


def _root_of(sample: Sample, batch: Mapping[str, Sample]) -> Sample:
    """Follow `parent_id` inside the batch to the topmost sample (cycle-safe)."""
    seen = {sample.sample_id}
    while sample.parent_id and sample.parent_id in batch and sample.parent_id not in seen:
        sample = batch[sample.parent_id]
        seen.add(sample.sample_id)
    return sample


def _units(new_samples: Sequence[Sample], *, group_split: SplitLookup, parent_split: SplitLookup,
           settings: SplitSettings) -> dict[str, _Unit]:
    batch = {s.sample_id: s for s in new_samples}
    units: dict[str, _Unit] = {}
    for sample in new_samples:
        root = _root_of(sample, batch)
        if root.parent_id and root.parent_id not in batch:
            key, placed = f"parent:{root.parent_id}", _checked_split(parent_split(root.parent_id), root.parent_id)
        else:
            key = group_key(root, settings)
            placed = _checked_split(group_split(key), key)
        unit = units.setdefault(key, _Unit(key))
        unit.members.append(sample)
        unit.fixed = placed
    return units


def _checked_split(value: str | None, owner: str) -> Split | None:
    if value is not None and value not in SPLITS:
        raise ValueError(f"split of {owner!r} is {value!r}, expected one of {SPLITS}")
    return value  # type: ignore[return-value]


def _choose(size: int, preferred: Split, placed: Sequence[int], total: int, ratios: Sequence[float]) -> Split:
    """Keep the preferred split while it has room for half the group, else take the largest deficit.

    placed: originals of the group's label already in (train, val, test);
    total: originals of that label once every new one is placed.
    """
    room = [ratio * total - n for ratio, n in zip(ratios, placed)]
    if room[SPLITS.index(preferred)] >= size / 2.0:
        return preferred
    candidates = [i for i, ratio in enumerate(ratios) if ratio > 0]
    return SPLITS[max(candidates, key=lambda i: (room[i], -i))]


def _count_rows(counts: Mapping[tuple[str | None, str], int]) -> dict[str, list[int]]:
    """(label, split) -> n as label -> [train, val, test] (a None label is "")."""
    rows: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for (label, split), n in counts.items():
        if split not in SPLITS:
            raise ValueError(f"counts has split {split!r} for label {label!r}, expected one of {SPLITS}")
        if n < 0:
            raise ValueError(f"counts[({label!r}, {split!r})] is negative: {n}")
        rows[label or ""][SPLITS.index(split)] += int(n)
    return rows


def choose_split(*, group_key: str, label: str | None, counts: Mapping[tuple[str | None, str], int],
                 ratios: Sequence[float], seed: int | str = 0, size: int = 1) -> Split:
    """The split of ONE new group of `size` originals labelled `label`, given the placed counts.

    counts: (label, split) -> originals already placed (`Catalog.split_counts`).
    The group prefers the split its hash points at; it goes to the split with the
    largest deficit for its label when the preferred one has no room left.
    """
    if size < 0:
        raise ValueError(f"size must be non-negative, got {size}")
    placed = _count_rows(counts).get(label or "", [0, 0, 0])
    _, preferred = preference(group_key, seed=seed, ratios=ratios)
    return _choose(size, preferred, placed, sum(placed) + size, ratios)


def assign_new(new_samples: Sequence[Sample], *, counts: Mapping[tuple[str | None, str], int],
               group_split: SplitLookup, parent_split: SplitLookup,
               settings: SplitSettings) -> dict[str, Split]:
    """Splits for samples that have none yet, given what is already placed.

    counts: (label, split) -> number of ORIGINAL samples already placed (a None
        label is the same as ""); `Catalog.split_counts` has this shape.
    group_split: the split of a group key that already has a placed member, or None.
    parent_split: the split of an already placed sample id, or None.

    Cost: O(n log n) in the number of new samples, independent of the dataset size.
    Returns sample_id -> split for every sample in `new_samples`.
    """
    units = _units(new_samples, group_split=group_split, parent_split=parent_split, settings=settings)
    work = _count_rows(counts)
    # Labels of each unit's originals (children follow and do not weigh in the balance).
    labels_of = {key: [label_value(s, settings.label_key) for s in unit.members if not s.parent_id]
                 for key, unit in units.items()}
    totals: Counter[str] = Counter({label: sum(row) for label, row in work.items()})
    for key, unit in units.items():
        totals.update(labels_of[key])
        if unit.fixed is not None:
            for label in labels_of[key]:
                work[label][SPLITS.index(unit.fixed)] += 1

    def hashed(unit: _Unit) -> str:
        ids = [s.sample_id for s in unit.members if not s.parent_id] or [s.sample_id for s in unit.members]
        return preference_key(unit.key, min(ids))

    ranked = sorted((preference(hashed(unit), seed=settings.seed, ratios=settings.ratios), unit.key)
                    for unit in units.values() if unit.fixed is None)
    for (_, preferred), key in ranked:
        labels = labels_of[key]
        if len(set(labels)) > 1:
            primary = min(Counter(labels).most_common(), key=lambda kv: (-kv[1], kv[0]))[0]
        else:
            primary = labels[0] if labels else ""
        chosen = _choose(len(labels), preferred, work[primary], totals[primary], settings.ratios)
        units[key].fixed = chosen
        for label in labels:
            work[label][SPLITS.index(chosen)] += 1
    result: dict[str, Split] = {}
    for unit in units.values():
        for sample in unit.members:
            result[sample.sample_id] = unit.fixed  # type: ignore[assignment]
    return result


def split_counts(samples: Iterable[Sample], assignments: Mapping[str, str],
                 label_key: str | None) -> dict[tuple[str, str], int]:
    """(label, split) -> number of original samples, for the samples that have a split."""
    counts: Counter[tuple[str, str]] = Counter()
    for sample in samples:
        split = assignments.get(sample.sample_id)
        if split is not None and not sample.parent_id:
            counts[(label_value(sample, label_key), split)] += 1
    return dict(counts)


def assign_splits(samples: Sequence[Sample], existing: Mapping[str, str],
                  settings: SplitSettings) -> dict[str, Split]:
    """A split for every sample: those in `existing` keep theirs, the others are placed by `assign_new`.

    Deterministic: the same samples, existing assignment and settings give the same
    result, whatever the order of `samples`. Entries of `existing` for ids not in
    `samples` are ignored (the sample left the dataset) but still anchor their
    children if any remain.
    """
    for sample_id, split in existing.items():
        _checked_split(split, sample_id)
    ordered = sorted(samples, key=lambda s: s.sample_id)
    placed = [s for s in ordered if s.sample_id in existing]
    new = [s for s in ordered if s.sample_id not in existing]
    groups: dict[str, str] = {}
    for sample in placed:
        if not sample.parent_id:
            groups.setdefault(group_key(sample, settings), existing[sample.sample_id])
    counts = split_counts(placed, existing, settings.label_key)
    chosen = assign_new(new, counts=counts, group_split=groups.get, parent_split=existing.get, settings=settings)
    result: dict[str, Split] = {s.sample_id: existing[s.sample_id] for s in placed}  # type: ignore[misc]
    result.update(chosen)
    return result


def write_split_files(root: Path, assignments: Mapping[str, str]) -> dict[Split, Path]:
    """Write `splits/train.txt`, `val.txt`, `test.txt` (sorted sample ids, one a line), each atomically.

    Every file is written, an empty one for an empty split, so a reader never mixes
    a new file with a stale one. Returns the paths written.
    """
    by_split: dict[Split, list[str]] = {name: [] for name in SPLITS}
    for sample_id, split in assignments.items():
        by_split[_checked_split(split, sample_id)].append(sample_id)  # type: ignore[index]
    folder = Path(root) / SPLITS_DIR
    written: dict[Split, Path] = {}
    for name in SPLITS:
        path = folder / f"{name}.txt"
        text = "".join(f"{sample_id}\n" for sample_id in sorted(by_split[name]))
        atomic_write_bytes(path, text.encode("utf-8"))
        written[name] = path
    return written


def read_split_files(root: Path) -> dict[Split, list[str] | None]:
    """The ids listed in each split file, in file order; None for a split file that is missing."""
    folder = Path(root) / SPLITS_DIR
    listed: dict[Split, list[str] | None] = {}
    for name in SPLITS:
        path = folder / f"{name}.txt"
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            listed[name] = None
            continue
        listed[name] = [line.strip() for line in text.splitlines() if line.strip()]
    return listed
