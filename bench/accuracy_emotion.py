"""EmotionRecognizer-midi on EMOPIA clips: 4-quadrant accuracy, cross-validated over songs.

    .venv/bin/python bench/accuracy_emotion.py [--folds 5] [--max-epochs 40] [--songs N]
        [--threads 2] [--work DIR] [--realdata DIR]

Runs the real commands in a temporary folder with its own config: `kellyd import` of
the clips dropped into `Q1/ ... Q4/` folders, each with a sidecar giving `emotion` (the
quadrant) and the quadrant's valence and arousal (`QUADRANT_AFFECT`), with the
dataset's `group_by` taking the song from the file name, then per fold one
`kellyd train --model EmotionRecognizer-midi --split-file FOLD.json`. Folds are of songs
(every clip of a song in one fold, stratified by quadrant): fold k is the test split,
fold k+1 the validation split (the epoch is chosen there, never on test), the rest train.
Every hyper-parameter is fixed before the run (the defaults of `[training]`), none is
tuned per fold.

Per clip (a clip's window outputs averaged, as `kellyd.train.clips` does), over all
folds' test clips: accuracy, macro-F1, valence accuracy (Q1, Q4 high) and arousal
accuracy (Q1, Q2 high), against
- majority: the training split's most frequent quadrant, per fold;
- logistic regression (scikit-learn) on kellyd's clip feature vector (`feature_vector`
  of the features), standardised, its C chosen by grouped inner cross-validation on
  the fold's train + validation songs, on the same folds.

Data: `emopia_dev/` of the real-data corpus (587 clips of 213 songs of EMOPIA, for
non-commercial research): nothing of it, and no model trained on it, is kept; the
work folder is deleted at the end unless --work names one.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench._realdata import DEFAULT_REALDATA, skipped_without_corpus  # noqa: E402

CORPUS = "emopia_dev"
DATASET = "emopia"
KEY = "EmotionRecognizer-midi"
NAME = re.compile(r"^(?P<quadrant>Q[1-4])_(?P<song>.+)_\d+\.mid$")
GROUP_BY = r"^Q[1-4]_(?P<group>.+)_\d+\.mid$"
QUADRANTS = ("Q1", "Q2", "Q3", "Q4")
HIGH_VALENCE = frozenset({"Q1", "Q4"})
HIGH_AROUSAL = frozenset({"Q1", "Q2"})
# The centre of each quadrant's half of the plane (valence in [-1, 1], arousal in [0, 1]): the
# valence/arousal head learns the two axes apart from the four classes.
QUADRANT_AFFECT = {"Q1": (0.5, 0.75), "Q2": (-0.5, 0.75), "Q3": (-0.5, 0.25), "Q4": (0.5, 0.25)}
LR_C_GRID = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0)


def clips_of(corpus: Path, songs: int | None) -> list[tuple[Path, str, str]]:
    """(path, quadrant, song) of every clip; with `songs`, only the clips of that many songs
    (every n-th song of the sorted list, so that all quadrants stay)."""
    found = []
    for path in sorted((corpus / "midis").glob("*.mid")):
        match = NAME.match(path.name)
        if match:
            found.append((path, match["quadrant"], match["song"]))
    if songs:
        names = sorted({s for _, _, s in found})
        keep = set(names[:: max(len(names) // songs, 1)][:songs])
        found = [c for c in found if c[2] in keep]
    return found


def song_folds(clips: list[tuple[Path, str, str]], k: int, seed: int = 0) -> dict[str, int]:
    """song -> fold, stratified by the songs' quadrant (scikit-learn's StratifiedGroupKFold)."""
    from sklearn.model_selection import StratifiedGroupKFold

    labels = np.array([q for _, q, _ in clips])
    groups = np.array([s for _, _, s in clips])
    fold_of = {}
    for fold, (_, test) in enumerate(StratifiedGroupKFold(k, shuffle=True, random_state=seed)
                                     .split(np.zeros(len(clips)), labels, groups)):
        fold_of.update({groups[i]: fold for i in test})
    return fold_of


def write_config(work: Path, args: argparse.Namespace) -> Path:
    import tomli_w

    config = {"paths": {"inbox": "inbox", "datasets": "datasets", "state": "state", "staging": "home/.kelly"},
              "schedule": {"validate": "off", "retrain": "off", "freesound": "off"},
              "datasets": {DATASET: {"target_model": "EmotionRecognizer", "group_by": GROUP_BY,
                                     "chain": ["import", "annotate", "features"]}},
              "training": {"device": "cpu", "threads": args.threads,
                           "EmotionRecognizer": {"max_epochs": args.max_epochs,
                                                 "warmup_epochs": min(3, args.max_epochs - 1)}},
              "freesound": {"enabled": False}}
    for folder in ("inbox", "datasets", "home/.kelly", "drop"):
        (work / folder).mkdir(parents=True, exist_ok=True)
    path = work / "config.toml"
    path.write_text(tomli_w.dumps(config))
    return path


def kellyd(config: Path, *argv: str) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "kellyd", "--config", str(config), *argv], cwd=REPO,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"kellyd {' '.join(argv)} failed ({proc.returncode}): {proc.stdout[-3000:]} "
                         f"{proc.stderr[-3000:]}")
    return proc


def clip_predictions(work: Path, version_dir: Path, test_ids: set[str]) -> dict[str, np.ndarray]:
    """sample id -> mean class probabilities of the clip's windows, for the test clips."""
    import torch

    from kellyd.handlers.features import FEATURE_SCHEMA_VERSION
    from kellyd.train.checkpoint import heads_of, load_checkpoint, normalise_with
    from kellyd.train.data import Vocabulary
    from kellyd.train.dataset import load_features, read_training_set
    from kellyd.train.recipe_emotion import MIDI_RECIPE
    from kellyd.train.settings import ModelSettings

    model, document = load_checkpoint(version_dir / "checkpoint.pt")
    head = heads_of(document)[0]
    used = json.loads((version_dir / "model.rtneural.json").read_text())["kellyd"]["hyperparameters"]
    settings = ModelSettings(**{k: v for k, v in used.items() if k in ModelSettings.__dataclass_fields__})
    vocabulary = Vocabulary(head.classes, (), head.name)
    training_set = read_training_set(work / "datasets", DATASET)
    out = {}
    for sample in training_set.samples:
        if sample.sample_id not in test_ids:
            continue
        features = load_features(training_set.root, sample, schema_version=FEATURE_SCHEMA_VERSION)
        made = MIDI_RECIPE.examples(sample.with_changes(split="test"), features, vocabulary, settings)
        with torch.no_grad():
            logits = model(torch.as_tensor(normalise_with(document, made.inputs)))[:, -1, :head.size]
        out[sample.sample_id] = torch.softmax(logits, dim=-1).mean(dim=0).numpy()
    return out


def logistic_predictions(vectors: np.ndarray, labels: np.ndarray, groups: np.ndarray, fit_rows: np.ndarray,
                         test_rows: np.ndarray) -> np.ndarray:
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.model_selection import GroupKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    warnings.filterwarnings("ignore", category=FutureWarning, module="sklearn")  # parameter-default notices
    inner = list(GroupKFold(4).split(vectors[fit_rows], labels[fit_rows], groups[fit_rows]))
    model = make_pipeline(StandardScaler(), LogisticRegressionCV(Cs=list(LR_C_GRID), cv=inner, max_iter=5000))
    model.fit(vectors[fit_rows], labels[fit_rows])
    return model.predict(vectors[test_rows])


def scores(predicted: list[str], actual: list[str]) -> dict[str, float]:
    from kellyd.train.metrics import macro_f1

    p = np.array([QUADRANTS.index(q) for q in predicted])
    a = np.array([QUADRANTS.index(q) for q in actual])
    valence = np.mean([(x in HIGH_VALENCE) == (y in HIGH_VALENCE) for x, y in zip(predicted, actual)])
    arousal = np.mean([(x in HIGH_AROUSAL) == (y in HIGH_AROUSAL) for x, y in zip(predicted, actual)])
    return {"accuracy": float(np.mean(p == a)), "macro_f1": macro_f1(p, a, len(QUADRANTS)),
            "valence_accuracy": float(valence), "arousal_accuracy": float(arousal)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--realdata", type=Path, default=DEFAULT_REALDATA)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--max-epochs", type=int, default=40)
    parser.add_argument("--songs", type=int, default=0, help="only this many songs (a quick check; 0: all)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--work", type=Path, help="keep the work folder here (default: a deleted temp folder)")
    args = parser.parse_args()
    if skipped_without_corpus("accuracy_emotion", args.realdata, f"{CORPUS}/midis", f"{CORPUS}/label.csv"):
        return 0
    started = time.perf_counter()
    corpus = args.realdata / CORPUS
    clips = clips_of(corpus, args.songs or None)
    fold_of = song_folds(clips, args.folds)
    work = args.work or Path(tempfile.mkdtemp(prefix="kellyd-bench-emotion-"))
    try:
        config = write_config(work, args)
        for path, quadrant, _ in clips:
            target = work / "drop" / quadrant / path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
            valence, arousal = QUADRANT_AFFECT[quadrant]
            target.with_suffix(".json").write_text(json.dumps({"emotion": quadrant, "valence": valence,
                                                               "arousal": arousal}))
        kellyd(config, "import", str(work / "drop"), "--dataset", DATASET, "--quiet")
        manifest = json.loads((work / "datasets" / DATASET / "manifest.json").read_text())
        from kellyd.handlers.features import FEATURE_SCHEMA_VERSION
        from kellyd.sample import Sample
        from kellyd.splits import file_name_of
        from kellyd.train.dataset import load_features

        samples = [Sample.from_json({"dataset_id": DATASET, **s}) for s in manifest["samples"]]
        samples = [s for s in samples if s.parent_id is None]
        name_of = {s.sample_id: file_name_of(s) for s in samples}
        info = {path.name: (quadrant, song) for path, quadrant, song in clips}
        print(f"corpus: {corpus} (EMOPIA, non-commercial research data): {len(clips)} clips of "
              f"{len({c[2] for c in clips})} songs dropped, {len(samples)} samples imported; "
              f"{args.folds} song folds; import with features {time.perf_counter() - started:.0f} s")
        ids = [s.sample_id for s in samples]
        labels = np.array([info[name_of[i]][0] for i in ids])
        groups = np.array([info[name_of[i]][1] for i in ids])
        folds = np.array([fold_of[g] for g in groups])
        vectors = np.stack([np.asarray(load_features(work / "datasets" / DATASET, s,
                                                     schema_version=FEATURE_SCHEMA_VERSION).arrays["feature_vector"],
                                       dtype=np.float64) for s in samples])
        predicted: dict[str, list[str]] = {"EmotionRecognizer-midi": [], "logistic regression": [], "majority": []}
        actual: list[str] = []
        for k in range(args.folds):
            split = np.where(folds == k, "test", np.where(folds == (k + 1) % args.folds, "val", "train"))
            split_path = work / f"fold{k}.json"
            split_path.write_text(json.dumps({name_of[i]: str(s) for i, s in zip(ids, split)}))
            fold_started = time.perf_counter()
            kellyd(config, "train", "--dataset", DATASET, "--model", KEY, "--split-file", str(split_path), "--json")
            registry = json.loads((work / "models" / "registry.json").read_text())
            entry = registry["models"][KEY]["versions"][-1]
            version_dir = work / "models" / KEY / entry["version"]
            test_rows = np.flatnonzero(split == "test")
            probabilities = clip_predictions(work, version_dir, {ids[r] for r in test_rows})
            classes = entry["dataset"]["classes"]
            fit_rows = np.flatnonzero(split != "test")
            lr = logistic_predictions(vectors, labels, groups, fit_rows, test_rows)
            train_labels = labels[split == "train"]
            majority = max(QUADRANTS, key=lambda q: (np.sum(train_labels == q), q))
            fold_truth = [str(labels[r]) for r in test_rows]
            fold_model = [classes[int(np.argmax(probabilities[ids[r]]))] for r in test_rows]
            actual += fold_truth
            predicted["EmotionRecognizer-midi"] += fold_model
            predicted["logistic regression"] += [str(q) for q in lr]
            predicted["majority"] += [majority] * len(test_rows)
            print(f"fold {k}: {len(test_rows)} test clips, model {scores(fold_model, fold_truth)['accuracy']:.3f}, "
                  f"LR {scores([str(q) for q in lr], fold_truth)['accuracy']:.3f}, epochs {entry['epochs_run']} "
                  f"(best {entry['best_epoch']}), gate {entry['gate']['decision']}, "
                  f"{time.perf_counter() - fold_started:.0f} s", flush=True)
        print(f"\nper clip, {len(actual)} test clips over {args.folds} song folds "
              f"(max_epochs {args.max_epochs}, window {entry['hyperparameters']['window']} frames):\n")
        print("| predictor | accuracy | macro-F1 | valence accuracy | arousal accuracy |")
        print("|---|---|---|---|---|")
        for name, values in predicted.items():
            s = scores(values, actual)
            print(f"| {name} | {s['accuracy']:.3f} | {s['macro_f1']:.3f} | {s['valence_accuracy']:.3f} | "
                  f"{s['arousal_accuracy']:.3f} |")
        print(f"\nbench total: {time.perf_counter() - started:.0f} s")
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
