"""The classical baseline of every training run: a linear model on each clip's feature vector.

A neural model earns its place only if it does better than what a logistic
regression (class heads) or a ridge regression (regression heads) makes of the
same clips' summary features. Both are fitted on the training split only, with the
inputs standardised by the training clips' mean and deviation. The strength of the
regularisation is chosen inside the training split (logistic: 5-fold cross-validation
over whole clips; ridge: leave-one-clip-out, which a ridge computes in closed form),
never on validation, so the baseline's validation and test scores are as honest as
the model's and it is not a strawman a neural model beats by default.

The clip feature vector:
- MIDI: the `feature_vector` array of the features (`kellyd.music.midi_vector`, 172 values);
- audio: every numeric scalar of the features, plus the mean and deviation of each mel
  band when the `mel_db` array is there.

One prediction per clip. For a per-step head (a target at every step) the
baseline knows nothing of the step, so it is fitted to the clip's targets as a
whole: a class head learns the clip's class shares (each clip's positions weigh
as many as it has), a regression head the clip's mean per value. Class weights
are balanced (each class weighs the same in the fit), which is what macro-F1
rewards. The result is a model-shaped output array (`(n, steps, out)`, logits as
log-probabilities and standardised regression values), so every metric, per
window and per clip, is computed for it exactly as for the neural model.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Mapping

import numpy as np

from kellyd.splits import SPLITS
from kellyd.train.data import Head, ModelData
from kellyd.train.dataset import SampleFeatures

# Inverse regularisation strengths (logistic) and penalties (ridge) cross-validation picks from.
LOGISTIC_CS = tuple(float(c) for c in np.logspace(-3, 2, 6))
RIDGE_ALPHAS = tuple(float(a) for a in np.logspace(-1, 5, 13))
CV_FOLDS = 5
MAX_ITERATIONS = 2000
# Log-probability given to a class the classifier never saw in training (it is never predicted).
UNSEEN_LOG_PROBABILITY = -30.0
METHOD = "logistic regression (class heads) and ridge regression (regression heads) on the clip feature vector"
NAMES = {"class": "logistic", "regression": "ridge"}


@dataclass(frozen=True)
class ClassicalBaseline:
    """What the classical baseline outputs for every example of every split, like a model would."""

    outputs: Mapping[str, np.ndarray]
    feature_count: int
    method: str = METHOD

    def to_json(self) -> dict:
        return {"method": self.method, "features": self.feature_count}


def clip_vector(features: SampleFeatures) -> dict[str, float]:
    """The named, finite values describing one clip as a whole (see the module's docstring)."""
    vector = features.arrays.get("feature_vector")
    if vector is not None:
        flat = np.asarray(vector, dtype=np.float64).reshape(-1)
        return {f"feature_vector[{i}]": float(v) for i, v in enumerate(flat) if math.isfinite(float(v))}
    found: dict[str, float] = {}
    for name, value in features.scalars.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(float(value)):
            found[name] = float(value)
    mel = features.arrays.get("mel_db")
    if mel is not None and np.asarray(mel).ndim == 2 and np.asarray(mel).shape[1] > 0:
        bands = np.asarray(mel, dtype=np.float64)
        for i, (m, s) in enumerate(zip(bands.mean(axis=1), bands.std(axis=1))):
            found[f"mel_db[{i}].mean"], found[f"mel_db[{i}].std"] = float(m), float(s)
    return found


def _matrix(vectors: Mapping[str, Mapping[str, float]], ids: list[str], names: list[str]) -> np.ndarray:
    return np.array([[vectors[i].get(n, 0.0) for n in names] for i in ids], dtype=np.float64).reshape(len(ids),
                                                                                                       len(names))


def _class_rows(clip_of: np.ndarray, targets: np.ndarray, n_clips: int, size: int) -> np.ndarray:
    """(n_clips, size) counts of each class among each clip's scored positions."""
    counts = np.zeros((n_clips, size), dtype=np.float64)
    flat_clip = np.repeat(clip_of, targets.shape[1]) if targets.ndim == 2 else clip_of
    flat = targets.reshape(-1)
    valid = flat >= 0
    np.add.at(counts, (flat_clip[valid], flat[valid]), 1.0)
    return counts


def _log_probabilities(x_train: np.ndarray, counts: np.ndarray, x_all: np.ndarray, size: int) -> np.ndarray:
    """Fit a balanced logistic regression on (clip, class) rows weighted by counts; (n, size) log-probabilities."""
    from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
    from sklearn.model_selection import GroupKFold

    clips, classes = np.nonzero(counts)
    weights = counts[clips, classes]
    per_class = counts.sum(axis=0)
    seen = np.flatnonzero(per_class > 0)
    out = np.full((x_all.shape[0], size), UNSEEN_LOG_PROBABILITY)
    if seen.size == 1:
        out[:, seen[0]] = 0.0
        return out
    # Balanced: every class seen in training weighs the same in the fit as a whole.
    weights = weights * (per_class.sum() / (seen.size * per_class[classes]))
    folds = min(CV_FOLDS, int(np.bincount(classes)[seen].min()))  # every class in every fold's training part
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a fit that stops at MAX_ITERATIONS is still a fair baseline
        if folds >= 2:
            # Folds of whole clips: a clip's rows never sit on both sides of a fold.
            splits = list(GroupKFold(n_splits=folds).split(x_train[clips], classes, groups=clips))
            model = LogisticRegressionCV(Cs=list(LOGISTIC_CS), cv=splits, max_iter=MAX_ITERATIONS)
        else:
            model = LogisticRegression(max_iter=MAX_ITERATIONS)
        model.fit(x_train[clips], classes, sample_weight=weights)
    probabilities = np.clip(model.predict_proba(x_all), 1e-12, 1.0)
    out[:, model.classes_] = np.log(probabilities)
    return out


def _ridge(x_train: np.ndarray, clip_of: np.ndarray, targets: np.ndarray, mask: np.ndarray, head: Head,
           x_all: np.ndarray) -> np.ndarray:
    """(n, size) standardised predictions of a ridge regression per value, fitted to each training
    clip's mean target (weighted by its scored positions)."""
    from sklearn.linear_model import RidgeCV

    n_clips = x_train.shape[0]
    values = targets.reshape(-1, head.size).astype(np.float64)
    scored = mask.reshape(-1, head.size)
    owner = np.repeat(clip_of, targets.shape[1]) if targets.ndim == 3 else clip_of  # per-step: (n, steps, size)
    out = np.zeros((x_all.shape[0], head.size))
    for j in range(head.size):
        sums = np.bincount(owner[scored[:, j]], weights=values[scored[:, j], j], minlength=n_clips)
        counts = np.bincount(owner[scored[:, j]], minlength=n_clips).astype(np.float64)
        has = counts > 0
        if has.sum() < 2:
            continue  # nothing to fit: the training mean (0 standardised)
        model = RidgeCV(alphas=RIDGE_ALPHAS)
        model.fit(x_train[has], sums[has] / counts[has], sample_weight=counts[has])
        out[:, j] = (model.predict(x_all) - head.mean[j]) / head.std[j]
    return out


def fit_classical(data: ModelData, features_of: Mapping[str, SampleFeatures]) -> ClassicalBaseline:
    """Fit the classical baseline on `data`'s training split and give its outputs on every split.

    features_of: sample id -> that sample's features, for every sample `data` holds examples of.
    """
    vectors = {sample_id: clip_vector(f) for sample_id, f in features_of.items()}
    train = data.splits["train"]
    train_ids = list(dict.fromkeys(train.sample_ids))
    names = sorted({n for i in train_ids for n in vectors[i]})
    x_train = _matrix(vectors, train_ids, names)
    centre = x_train.mean(axis=0) if len(train_ids) else np.zeros(len(names))
    scale = x_train.std(axis=0) if len(train_ids) else np.ones(len(names))
    scale = np.where(scale > 1e-9, scale, 1.0)
    x_train = (x_train - centre) / scale
    row_of = {sample_id: r for r, sample_id in enumerate(train_ids)}
    clip_of = np.array([row_of[s] for s in train.sample_ids], dtype=np.int64)
    per_clip: dict[str, np.ndarray] = {}
    all_ids = list(dict.fromkeys(i for split in SPLITS for i in data.splits[split].sample_ids))
    x_all = (_matrix(vectors, all_ids, names) - centre) / scale if names else np.zeros((len(all_ids), 0))
    blocks = []
    for head in data.heads:
        if head.kind == "class":
            counts = _class_rows(clip_of, train.targets[head.name], len(train_ids), head.size)
            blocks.append(_log_probabilities(x_train, counts, x_all, head.size))
        else:
            blocks.append(_ridge(x_train, clip_of, train.targets[head.name], train.masks[head.name], head, x_all))
    row = np.concatenate(blocks, axis=1).astype(np.float32)
    for r, sample_id in enumerate(all_ids):
        per_clip[sample_id] = row[r]
    outputs = {}
    for split in SPLITS:
        ids = data.splits[split].sample_ids
        stacked = np.stack([per_clip[i] for i in ids]) if ids else np.zeros((0, row.shape[1]), dtype=np.float32)
        outputs[split] = np.repeat(stacked[:, None, :], data.steps, axis=1)
    return ClassicalBaseline(outputs, len(names))
