"""What a model is fed from one sample, and how items of different lengths make a batch.

An item holds the arrays a model reads (the MIDI feature vector, the piano and drum rolls,
the audio mel segments), the class label as an index into a vocabulary learnt from the
training split, valence and arousal, and the sample id. No torch here: the torch datasets
(`kellyd.train.torch_data`) wrap these functions, and a numpy training loop can use them alone.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Mapping, Sequence

import numpy as np

from kellyd.config import DEFAULT_LABEL_KEY
from kellyd.data.features import load_features
from kellyd.data.manifest import DatasetManifest, read_manifest
from kellyd.dataset import read_config_json
from kellyd.sample import Sample

# The arrays an item carries by default, and for each its ragged axis (the one whose length varies
# between samples; a batch pads it and reports each item's length). The feature vector is fixed-size.
RAGGED_AXIS: Mapping[str, int | None] = {
    "feature_vector": None,      # (172,) float32, layout in kellyd.music.midi_vector (MIDI only)
    "piano_roll": 1,             # (128, T) uint8 velocities on sixteenths (MIDI only)
    "drum_roll": 1,              # (128, T) uint8
    "mel_segments": 0,           # (n_seg, 64, F) float32 log-mel dB, 5 s segments (audio only)
    "mel_segment_frames": 0,     # (n_seg,) int32 real frames in each segment
}
DEFAULT_ARRAYS: tuple[str, ...] = tuple(RAGGED_AXIS)
FALLBACK_LABEL_KEY = "emotion"


def label_of(sample: Sample, key: str) -> str | None:
    """The sample's class label under annotation `key` as text; None when absent or empty."""
    value = sample.annotations.get(key)
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else str(value)


def _number(value) -> float:
    """A finite number as float, anything else as NaN (a missing regression target)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(float(value)):
        return float(value)
    return math.nan


def default_label_key(root: Path) -> str:
    """The class annotation of the dataset's target model: config.json's `label_key`, else the model's default."""
    config = read_config_json(Path(root)) or {}
    if isinstance(config.get("label_key"), str) and config["label_key"]:
        return config["label_key"]
    return DEFAULT_LABEL_KEY.get(config.get("target_model", ""), FALLBACK_LABEL_KEY)


@dataclass(frozen=True)
class SampleItem:
    """One sample as a model sees it.

    arrays: name -> array (only those the sample has); label: index into the split's `classes`
    (-1: no label or a class unseen in training); valence in [-1, 1] and arousal in [0, 1], NaN when absent.
    """

    sample_id: str
    split: str | None
    kind: str | None
    arrays: Mapping[str, np.ndarray]
    label: int
    label_name: str | None
    valence: float
    arousal: float


@dataclass(frozen=True)
class SplitSpec:
    """The samples of one split of a dataset folder, and how to turn each into an item.

    samples: those of the split that have features (and of `kind`, when set), in manifest order.
    skipped: sample ids of the split left out because they have no features yet.
    classes: the label vocabulary, from the training split (sorted), so every split shares it.
    """

    manifest: DatasetManifest
    split: str
    samples: tuple[Sample, ...]
    skipped: tuple[str, ...]
    label_key: str
    classes: tuple[str, ...]
    arrays: tuple[str, ...]
    schema_version: int
    _index: Mapping[str, int] = field(default_factory=dict, repr=False, compare=False)

    @property
    def root(self) -> Path:
        return self.manifest.root

    def item(self, sample: Sample) -> SampleItem:
        """Read `sample`'s item; UnusableData when its features are missing, stale or broken."""
        features = load_features(self.root, sample, schema_version=self.schema_version, arrays=self.arrays)
        name = label_of(sample, self.label_key)
        index = self._index.get(name, -1) if name is not None else -1
        return SampleItem(sample.sample_id, sample.split, sample.kind, dict(features.arrays), index, name,
                          _number(sample.annotations.get("valence")), _number(sample.annotations.get("arousal")))


def split_spec(root: Path | str, split: str, *, arrays: Sequence[str] = DEFAULT_ARRAYS, kind: str | None = None,
               label_key: str | None = None, classes: Sequence[str] | None = None,
               schema_version: int | None = None) -> SplitSpec:
    """Resolve a split of the dataset folder `root` (reads manifest.json and config.json once).

    kind: "midi" or "audio" to keep only those samples. label_key: default `default_label_key(root)`.
    classes: default the sorted labels of the training split's samples (of `kind`).
    """
    if schema_version is None:
        from kellyd.handlers.features import FEATURE_SCHEMA_VERSION

        schema_version = FEATURE_SCHEMA_VERSION
    unknown = [a for a in arrays if a not in RAGGED_AXIS]
    if unknown:
        raise ValueError(f"unknown arrays {unknown}; known: {list(RAGGED_AXIS)}")
    manifest = read_manifest(Path(root))
    key = label_key or default_label_key(manifest.root)
    of_kind = [s for s in manifest.samples if kind is None or s.kind == kind]
    if classes is None:
        classes = sorted({v for s in of_kind if s.split == "train" and (v := label_of(s, key)) is not None})
    in_split = [s for s in of_kind if s.split == split]
    usable = tuple(s for s in in_split if s.features_path)
    skipped = tuple(s.sample_id for s in in_split if not s.features_path)
    classes = tuple(classes)
    return SplitSpec(manifest, split, usable, skipped, key, classes, tuple(arrays), schema_version,
                     {c: i for i, c in enumerate(classes)})


def stream_samples(samples: Sequence[Sample], *, worker: int = 0, workers: int = 1,
                   shuffle_seed: int | None = None) -> Iterator[Sample]:
    """The samples one of `workers` readers takes (every `workers`-th, from `worker`), each exactly once
    over all readers; shuffled by `shuffle_seed` first (the same order in every reader) when given."""
    if not 0 <= worker < workers:
        raise ValueError(f"worker must be in [0, {workers}), got {worker}")
    order = list(range(len(samples)))
    if shuffle_seed is not None:
        random.Random(shuffle_seed).shuffle(order)
    for position in order[worker::workers]:
        yield samples[position]


def collate_arrays(items: Sequence[SampleItem], arrays: Iterable[str] | None = None) -> dict[str, object]:
    """A batch of `items` as numpy arrays.

    Every array present in any item becomes `name` (batch, ...), zero-padded on every axis to the
    batch's largest; a ragged one also gets `name_length` (batch,) int64: each item's length on its
    ragged axis, 0 for an item without the array; a fixed-size one gets `name_present` (batch,) bool. Also `label` (batch,) int64, `valence` and
    `arousal` (batch,) float32 (NaN: none), and `sample_id`, `label_name`, `split`, `kind` as lists.
    """
    if not items:
        raise ValueError("cannot collate an empty batch")
    names = list(arrays) if arrays is not None else sorted({n for it in items for n in it.arrays})
    batch: dict[str, object] = {}
    for name in names:
        present = [it.arrays[name] for it in items if name in it.arrays]
        if not present:
            continue
        ndim = present[0].ndim
        if any(a.ndim != ndim for a in present):
            raise ValueError(f"array {name!r} has different ranks in one batch: {[a.ndim for a in present]}")
        shape = tuple(max(a.shape[d] for a in present) for d in range(ndim))
        out = np.zeros((len(items), *shape), dtype=np.result_type(*present))
        lengths = np.zeros(len(items), dtype=np.int64)
        present_mask = np.zeros(len(items), dtype=bool)
        axis = RAGGED_AXIS.get(name, 0 if ndim else None)
        for i, it in enumerate(items):
            a = it.arrays.get(name)
            if a is None:
                continue
            out[(i, *(slice(0, n) for n in a.shape))] = a
            present_mask[i] = True
            if axis is not None:
                lengths[i] = a.shape[axis]
        batch[name] = out
        if axis is not None:
            batch[f"{name}_length"] = lengths
        else:
            batch[f"{name}_present"] = present_mask
    batch["label"] = np.array([it.label for it in items], dtype=np.int64)
    batch["valence"] = np.array([it.valence for it in items], dtype=np.float32)
    batch["arousal"] = np.array([it.arousal for it in items], dtype=np.float32)
    batch["sample_id"] = [it.sample_id for it in items]
    batch["label_name"] = [it.label_name for it in items]
    batch["split"] = [it.split for it in items]
    batch["kind"] = [it.kind for it in items]
    return batch


def open_split(root: Path | str, split: str, **options) -> tuple[SplitSpec, list[SampleItem]]:
    """Every item of a split, read now (for numpy code and small datasets); options as `split_spec`."""
    spec = split_spec(root, split, **options)
    return spec, [spec.item(s) for s in spec.samples]


__all__ = ["DEFAULT_ARRAYS", "RAGGED_AXIS", "SampleItem", "SplitSpec", "collate_arrays", "default_label_key",
           "label_of", "open_split", "split_spec", "stream_samples"]
