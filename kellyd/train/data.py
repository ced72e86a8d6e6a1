"""Training examples for each model, built from the features of the samples of each split.

Every model is a streaming sequence model (see `kellyd.train.models`): an example is a
window of `steps` input frames of `features` values, shape (steps, features), and the
targets sit either at every step (masked where there is nothing to predict) or at
the last step (what the model says after hearing the whole window). The recipes,
one module each, say what a frame and a target are:

| model key | frame | targets | module |
|---|---|---|---|
| EmotionRecognizer-midi | half a second of notes | emotion class, valence, arousal (last step) | recipe_emotion |
| EmotionRecognizer-audio | 4 mel frames (64 bands, ~64 ms) | emotion class, valence, arousal (last step) | recipe_emotion |
| MelodyTransformer | one melody note + emotion + key | next pitch class, next duration class (every step) | recipe_melody |
| HarmonyPredictor | one chord + emotion + key | next chord root, next chord quality (every step) | recipe_harmony |
| DynamicsEngine | one note's context + articulation | its velocity (every step) | recipe_dynamics |
| GroovePredictor | one sixteenth of a quantised drum pattern | per-drum offset (ms) and velocity relative to the piece's mean (every step), groove type (last step) | recipe_groove |

EmotionRecognizer has two variants because its inputs differ in kind: MIDI samples
train `EmotionRecognizer-midi`, audio samples `EmotionRecognizer-audio`; each is a
model of its own in the registry.

Vocabularies (class names, the emotions used as a condition) come from the
training split only, so a class seen only in val or test is ignored there rather
than learnt. Inputs are standardised with the training split's mean and standard
deviation; regression targets likewise (the loss works on standardised values,
metrics are reported in the target's units).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Mapping, Sequence

import numpy as np

from kellyd.sample import Sample
from kellyd.splits import SPLITS
from kellyd.data import SampleFeatures, UnusableData, label_of, load_features
from kellyd.train.dataset import TrainingSet
from kellyd.train.settings import ModelSettings

MIN_STD = 1e-6


@dataclass(frozen=True)
class Head:
    """One block of the model's output vector.

    kind: "class" (logits over `classes`) or "regression" (`size` values in `unit`).
    per_step: targets at every step (masked) or at the last step only.
    mean, std: of the regression target on the training split (per value), set by `build_model_data`.
    """

    name: str
    kind: Literal["class", "regression"]
    size: int
    per_step: bool
    classes: tuple[str, ...] = ()
    unit: str = ""
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()


@dataclass(frozen=True)
class Examples:
    """Examples of one sample (k of them).

    inputs: (k, steps, features) float32.
    targets: head name -> int64 (k,) or (k, steps) class indices (-1: none), or float32
        (k, size) / (k, steps, size) regression values.
    masks: regression head name -> bool array shaped like its targets (False: no target there).
    """

    inputs: np.ndarray
    targets: Mapping[str, np.ndarray]
    masks: Mapping[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.inputs.shape[0])


@dataclass(frozen=True)
class Vocabulary:
    """Names learnt from the training split: the classes of the class annotation, the emotions."""

    classes: tuple[str, ...]
    emotions: tuple[str, ...]
    label_key: str


@dataclass(frozen=True)
class Recipe:
    """How one model key turns samples into examples."""

    model: str
    variant: str | None
    kind: Literal["midi", "audio"]
    heads: Callable[[Vocabulary], tuple[Head, ...]]
    feature_names: Callable[[Vocabulary], tuple[str, ...]]
    examples: Callable[[Sample, SampleFeatures, Vocabulary, ModelSettings], "Examples | None"]
    description: str

    @property
    def key(self) -> str:
        return f"{self.model}-{self.variant}" if self.variant else self.model


@dataclass(frozen=True)
class SplitData:
    """The examples of one split, concatenated; `sample_ids[i]` is where example i came from."""

    inputs: np.ndarray
    targets: Mapping[str, np.ndarray]
    masks: Mapping[str, np.ndarray]
    sample_ids: tuple[str, ...]

    def __len__(self) -> int:
        return int(self.inputs.shape[0])


@dataclass(frozen=True)
class ModelData:
    """Everything training and evaluation need, normalisation included."""

    key: str
    model: str
    variant: str | None
    heads: tuple[Head, ...]
    feature_names: tuple[str, ...]
    input_mean: np.ndarray
    input_std: np.ndarray
    splits: Mapping[str, SplitData]
    vocabulary: Vocabulary
    description: str
    samples_used: Mapping[str, int]

    @property
    def steps(self) -> int:
        return int(self.splits["train"].inputs.shape[1])

    @property
    def output_size(self) -> int:
        return sum(h.size for h in self.heads)

    def normalised(self, split: str) -> np.ndarray:
        return ((self.splits[split].inputs - self.input_mean) / self.input_std).astype(np.float32)


def one_hot(index: int | None, size: int) -> np.ndarray:
    """(size,) float32 zeros with a 1 at `index` (all zeros for None or an index outside)."""
    out = np.zeros(size, dtype=np.float32)
    if index is not None and 0 <= index < size:
        out[index] = 1.0
    return out


def window_starts(n_steps: int, window: int, max_windows: int) -> np.ndarray:
    """Starts of non-overlapping windows of `window` steps covering `n_steps`, at most `max_windows`
    of them, spread evenly over the piece when there are more."""
    if window < 1 or max_windows < 1:
        raise ValueError(f"window and max_windows must be positive, got {window} and {max_windows}")
    count = n_steps // window
    starts = np.arange(count, dtype=np.int64) * window
    if count > max_windows:
        starts = starts[np.linspace(0, count - 1, max_windows).round().astype(np.int64)]
    return starts


def vocabulary_of(training_set: TrainingSet, recipe: Recipe) -> Vocabulary:
    key = training_set.label_key(recipe.model)
    train = [s for s in training_set.in_split("train") if s.kind == recipe.kind]
    classes = sorted({v for s in train if (v := label_of(s, key)) is not None})
    emotions = sorted({v for s in train if (v := label_of(s, "emotion")) is not None})
    return Vocabulary(tuple(classes), tuple(emotions), key)


def _concatenate(parts: Sequence[Examples], heads: Sequence[Head], n_features: int, steps: int) -> tuple:
    if not parts:
        inputs = np.zeros((0, steps, n_features), dtype=np.float32)
        targets, masks = {}, {}
        for h in heads:
            shape = (0, steps) if h.per_step else (0,)
            if h.kind == "class":
                targets[h.name] = np.zeros(shape, dtype=np.int64)
            else:
                targets[h.name] = np.zeros((*shape, h.size), dtype=np.float32)
                masks[h.name] = np.zeros((*shape, h.size), dtype=bool)
        return inputs, targets, masks
    inputs = np.concatenate([p.inputs for p in parts]).astype(np.float32)
    targets = {h.name: np.concatenate([p.targets[h.name] for p in parts]) for h in heads}
    masks = {h.name: np.concatenate([p.masks[h.name] for p in parts]) for h in heads if h.kind == "regression"}
    return inputs, targets, masks


def _regression_stats(split: SplitData, head: Head) -> tuple[tuple[float, ...], tuple[float, ...]]:
    values = split.targets[head.name].reshape(-1, head.size)
    mask = split.masks[head.name].reshape(-1, head.size)
    means, stds = [], []
    for j in range(head.size):
        column = values[mask[:, j], j].astype(np.float64)
        mean = float(column.mean()) if column.size else 0.0
        std = float(column.std()) if column.size > 1 else 1.0
        means.append(mean)
        stds.append(std if std > MIN_STD else 1.0)
    return tuple(means), tuple(stds)


def build_model_data(training_set: TrainingSet, recipe: Recipe, settings: ModelSettings, *,
                     schema_version: int) -> ModelData:
    """Examples of every split for `recipe`, normalised with the training split's statistics.

    Raises UnusableData when a split ends up with no example or the training split has fewer
    than two classes for a class head.
    """
    vocabulary = vocabulary_of(training_set, recipe)
    heads = recipe.heads(vocabulary)
    names = recipe.feature_names(vocabulary)
    splits: dict[str, SplitData] = {}
    used: dict[str, int] = {}
    steps = settings.window
    for split in SPLITS:
        parts, ids = [], []
        for sample in training_set.in_split(split):
            if sample.kind != recipe.kind:
                continue
            features = load_features(training_set.root, sample, schema_version=schema_version)
            made = recipe.examples(sample, features, vocabulary, settings)
            if made is None or len(made) == 0:
                continue
            if made.inputs.ndim != 3 or made.inputs.shape[2] != len(names):
                raise AssertionError(f"{recipe.key} made inputs of shape {made.inputs.shape}, "
                                     f"expected (k, steps, {len(names)})")
            steps = made.inputs.shape[1]
            parts.append(made)
            ids.extend([sample.sample_id] * len(made))
        inputs, targets, masks = _concatenate(parts, heads, len(names), steps)
        splits[split] = SplitData(inputs, targets, masks, tuple(ids))
        used[split] = len({*ids})
    empty = [split for split, data in splits.items() if len(data) == 0]
    if empty:
        raise UnusableData([f"{recipe.key}: the {split} split gives no training example "
                            f"({used[split]} usable {recipe.kind} samples)" for split in empty])
    for head in heads:
        if head.kind == "class" and len(head.classes) < 2:
            raise UnusableData(f"{recipe.key}: {head.name} needs at least two classes in the train split, "
                               f"found {list(head.classes)}")
    train = splits["train"]
    flat = train.inputs.reshape(-1, len(names)).astype(np.float64)
    mean = flat.mean(axis=0)
    std = flat.std(axis=0)
    std = np.where(std > MIN_STD, std, 1.0)
    finished = []
    for head in heads:
        if head.kind == "regression":
            head_mean, head_std = _regression_stats(train, head)
            head = Head(**{**head.__dict__, "mean": head_mean, "std": head_std})
        finished.append(head)
    return ModelData(recipe.key, recipe.model, recipe.variant, tuple(finished), names, mean.astype(np.float32),
                     std.astype(np.float32), splits, vocabulary, recipe.description, used)


def features_array(features: SampleFeatures, name: str, *, dtype: Any = np.float64) -> np.ndarray:
    """A named array of the sample's features; UnusableData names the missing one."""
    try:
        return np.asarray(features.arrays[name], dtype=dtype)
    except KeyError:
        raise UnusableData(f"feature array {name!r} is missing (recompute the features)") from None
