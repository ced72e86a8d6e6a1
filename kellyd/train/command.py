"""`kellyd train --dataset D [--model M] [--if-changed]`: train, judge, register, export, report.

Order of work, so that a crash or a kill at any point leaves the registry and the
current model as they were:
1. one training at a time: an exclusive lock in the models folder;
2. leftovers of a killed run (temporary folders, version folders the registry never
   listed) are removed;
3. `--if-changed` skips when too few samples changed since the last training or the
   last validation did not pass; the training guard of validation refuses a dataset
   with errors (single class, NaN features, an empty split...);
4. per model: refuse a validation split of fewer than `min_val_groups` groups, train, fit
   the classical baseline on the same split, score, judge (`kellyd.train.gate`), write the version's files
   into a temporary folder, rename it into place, then commit by writing the registry
   atomically, then refresh the `current.*` copies of a promoted model;
5. an HTML report in `datasets/<id>/reports/`.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import tempfile
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import torch

from kellyd.handlers.features import FEATURE_SCHEMA_VERSION
from kellyd.atomic import atomic_copy, atomic_write_bytes, atomic_write_json
from kellyd.config import DatasetConfig
from kellyd.errors import AlreadyRunning
from kellyd.lock import StateLock, lock_holder
from kellyd.progress import EpochLog
from kellyd.splits import SPLITS, SplitSettings, group_key
from kellyd.train import registry as reg
from kellyd.train.checkpoint import checkpoint_bytes
from kellyd.train.baseline import ClassicalBaseline, fit_classical
from kellyd.train.clips import evaluate_clips
from kellyd.train.data import ModelData, Recipe, build_model_data
from kellyd.train.dataset import TrainingSet, UnusableData, load_features, read_training_set
from kellyd.train.gate import GateResult, judge
from kellyd.train.guard import changed_share, guard_reasons, last_validation_failed, samples_text
from kellyd.train.loop import FitResult, fit, predict, resolve_device, seed_everything
from kellyd.train.metrics import evaluate, majority_class
from kellyd.train.models import StreamNet, architecture
from kellyd.train.overlap import champion_exclusion
from kellyd.train.recipes import recipes_for
from kellyd.train.report import write_training_report
from kellyd.train.rtneural import onnx_bytes, rtneural_json
from kellyd.train.settings import TrainingSettings
from kellyd.train.split_file import read_split_file, with_split_file
from kellyd.validate.html import utc_text

CURRENT_STEM = "current"


@dataclass(frozen=True)
class ModelOutcome:
    """What happened to one model key: its new version, the gate's decision, its test metrics."""

    key: str
    version: str
    decision: str
    reason: str
    metrics: dict[str, dict[str, dict[str, Any]]]

    @property
    def promoted(self) -> bool:
        return self.decision == "promoted"


@dataclass(frozen=True)
class TrainResult:
    """status: "trained", "skipped" (nothing to do) or "refused" (the dataset is not trainable)."""

    status: str
    dataset_id: str
    message: str
    reasons: tuple[str, ...] = ()
    models: tuple[ModelOutcome, ...] = ()
    report: str | None = None

    @property
    def exit_code(self) -> int:
        return 1 if self.status == "refused" else 0

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "dataset": self.dataset_id, "message": self.message,
                "reasons": list(self.reasons), "report": self.report,
                "models": [{**asdict(m), "promoted": m.promoted} for m in self.models]}


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _file_record(models_dir: Path, path: Path) -> dict[str, Any]:
    data = path.read_bytes()
    return {"path": path.relative_to(models_dir).as_posix(), "sha256": hashlib.sha256(data).hexdigest(),
            "bytes": len(data)}


def remove_leftovers(models_dir: Path, document: dict) -> list[Path]:
    """Delete temporary folders and version folders the registry does not list (a killed run's
    work); only safe while holding the training lock."""
    removed = []
    if not models_dir.is_dir():
        return removed
    for key_dir in (p for p in models_dir.iterdir() if p.is_dir()):
        listed = {v["version"] for v in reg.versions_of(document, key_dir.name)}
        for child in key_dir.iterdir():
            temporary = child.name.startswith(".") and child.name.endswith(".tmp")
            orphan = child.is_dir() and child.name.startswith("v") and child.name not in listed
            if temporary or orphan:
                shutil.rmtree(child) if child.is_dir() else child.unlink()
                removed.append(child)
    return removed


def _metrics(model: torch.nn.Module, data: ModelData, classical: ClassicalBaseline,
             device: torch.device) -> tuple[dict, dict, dict]:
    """(metrics per window, metrics per clip, test confusion matrices); every metric carries its
    simple baseline (`baseline`) and the classical baseline's value (`classical`) at the same level."""
    majority = {h.name: majority_class(data.splits["train"], h) for h in data.heads if h.kind == "class"}
    metrics, clip_metrics, confusion = {}, {}, {}
    for split in SPLITS:
        outputs = predict(model, data.normalised(split), device)
        found, matrices = evaluate(outputs, data.splits[split], data.heads, majority)
        theirs, _ = evaluate(classical.outputs[split], data.splits[split], data.heads, majority)
        metrics[split] = {name: {**m.to_json(), "classical": theirs[name].value} for name, m in found.items()}
        per_clip = evaluate_clips(outputs, data.splits[split], data.heads, majority)
        theirs_per_clip = evaluate_clips(classical.outputs[split], data.splits[split], data.heads, majority)
        clip_metrics[split] = {name: {**m.to_json(), "classical": theirs_per_clip[name].value}
                               for name, m in per_clip.items()}
        if split == "test":
            confusion = matrices
    return metrics, clip_metrics, confusion


def validation_groups(training_set: TrainingSet, recipe: Recipe) -> int:
    """Groups (songs, takes: `kellyd.splits.group_key`) of the validation split's original samples of
    the recipe's kind."""
    settings = training_set.settings
    split_settings = SplitSettings(ratios=tuple(settings.splits), group_by=settings.group_by or None,
                                   seed=training_set.dataset_id)
    return len({group_key(s, split_settings) for s in training_set.in_split("val")
                if s.kind == recipe.kind and not s.parent_id})


def _features_of(training_set: TrainingSet, data: ModelData) -> dict:
    """sample id -> features, for every sample that gave examples (the classical baseline's input)."""
    wanted = {i for split in SPLITS for i in data.splits[split].sample_ids}
    return {s.sample_id: load_features(training_set.root, s, schema_version=FEATURE_SCHEMA_VERSION)
            for s in training_set.samples if s.sample_id in wanted}


def _write_version(models_dir: Path, key: str, version: str, model: StreamNet, data: ModelData,
                   training_set: TrainingSet, settings_used: dict) -> tuple[Path, dict[str, Any]]:
    """Write the version's files into a temporary folder, then rename it into place."""
    key_dir = models_dir / key
    key_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{version}.", suffix=".tmp", dir=key_dir))
    metadata = {"model": key, "version": version, "feature_names": list(data.feature_names),
                "input_mean": data.input_mean.tolist(), "input_std": data.input_std.tolist(),
                "heads": [{"name": h.name, "kind": h.kind, "size": h.size, "per_step": h.per_step,
                           "classes": list(h.classes), "unit": h.unit, "mean": list(h.mean), "std": list(h.std)}
                          for h in data.heads], "hyperparameters": settings_used}
    atomic_write_bytes(staging / "checkpoint.pt", checkpoint_bytes(model.cpu(), data))
    atomic_write_json(staging / "model.rtneural.json", rtneural_json(model, metadata), indent=None)
    onnx = onnx_bytes(model, data.steps)
    if onnx is not None:
        atomic_write_bytes(staging / "model.onnx", onnx)
    atomic_write_bytes(staging / "samples.txt", samples_text(training_set.samples).encode("utf-8"))
    final = key_dir / version
    staging.rename(final)
    files = {"checkpoint": _file_record(models_dir, final / "checkpoint.pt"),
             "rtneural": _file_record(models_dir, final / "model.rtneural.json"),
             "onnx": _file_record(models_dir, final / "model.onnx") if onnx is not None else None,
             "samples": _file_record(models_dir, final / "samples.txt")}
    return final, files


def _refresh_current(models_dir: Path, key: str, version_dir: Path) -> None:
    """`<key>/current.rtneural.json` (and `.pt`, `.onnx`) become copies of the promoted version's files."""
    for name, suffix in (("model.rtneural.json", ".rtneural.json"), ("checkpoint.pt", ".pt"), ("model.onnx", ".onnx")):
        source = version_dir / name
        target = models_dir / key / f"{CURRENT_STEM}{suffix}"
        if source.exists():
            atomic_copy(source, target)
        else:
            target.unlink(missing_ok=True)


def _train_one(recipe: Recipe, training_set: TrainingSet, settings: TrainingSettings, document: dict,
               device: torch.device, now: datetime, log: Callable[[str], None],
               own_split: bool = True) -> tuple[dict, dict, ModelData, FitResult]:
    model_settings = settings.for_model(recipe.model)
    groups = validation_groups(training_set, recipe)
    if groups < settings.min_val_groups:
        raise UnusableData(f"{recipe.key}: the validation split holds {groups} group(s) of {recipe.kind} samples "
                           f"(songs or takes kept together), fewer than min_val_groups = {settings.min_val_groups}: "
                           f"a gate decision on so few would be chance; add data or give val a larger share")
    log(f"{recipe.key}: building examples from the features of {len(training_set.samples)} samples")
    data = build_model_data(training_set, recipe, model_settings, schema_version=FEATURE_SCHEMA_VERSION)
    log(f"{recipe.key}: {len(data.splits['train'])} train, {len(data.splits['val'])} val, "
        f"{len(data.splits['test'])} test examples of {data.steps} steps x {len(data.feature_names)} features")
    seed_everything(settings.seed)
    net = StreamNet(len(data.feature_names), architecture(model_settings, data.output_size),
                    dropout=model_settings.dropout)
    result = fit(net, data, model_settings, seed=settings.seed, device=device,
                 on_epoch=EpochLog(recipe.key, model_settings.max_epochs, log))
    classical = fit_classical(data, _features_of(training_set, data))
    # The champion is the current model of this same dataset and feature schema, never one of other data.
    champion = reg.champion_entry(document, recipe.key, training_set.dataset_id, FEATURE_SCHEMA_VERSION)
    champion_path = settings.models_dir / champion["files"]["checkpoint"]["path"] if champion else None
    # Nor one that trained on today's validation samples (another split file, or older splits).
    excluded = (champion_exclusion(settings.models_dir, champion, data.splits["val"].sample_ids, own_split)
                if champion else None)
    gate: GateResult = judge(net, data, classical.outputs["val"], champion_path,
                             champion["version"] if champion else None, device, excluded)
    metrics, clip_metrics, confusion = _metrics(net, data, classical, device)
    version = reg.next_version(document, recipe.key)
    settings_used = {**asdict(model_settings), "seed": settings.seed}
    version_dir, files = _write_version(settings.models_dir, recipe.key, version, net.cpu(), data, training_set,
                                        settings_used)
    entry = {
        "version": version, "model": recipe.model, "variant": recipe.variant, "created_at": utc_text(now),
        "promoted": gate.promoted, "gate": {**gate.to_json(), "validation_groups": groups},
        "dataset": {"dataset_id": training_set.dataset_id, "manifest_sha256": training_set.manifest_sha256,
                    "feature_schema_version": FEATURE_SCHEMA_VERSION,
                    "samples": {s: int(data.samples_used[s]) for s in SPLITS},
                    "examples": {s: len(data.splits[s]) for s in SPLITS},
                    "label_key": data.vocabulary.label_key, "classes": list(data.vocabulary.classes)},
        "hyperparameters": settings_used, "architecture": [s.to_json() for s in net.specs],
        "best_epoch": result.best_epoch, "epochs_run": result.epochs_run, "stopped_early": result.stopped_early,
        "val_loss": round(result.best_val_loss, 6), "val_score": round(result.best_val_score, 6),
        "metrics": metrics, "clip_metrics": clip_metrics, "classical": classical.to_json(), "confusion": confusion,
        "training_time_s": round(result.train_s, 3), "examples_per_s": round(result.examples_per_s, 1),
        "device": str(device), "seed": settings.seed, "files": files,
    }
    extra = {"version_dir": version_dir, "champion": champion, "history": result.history,
             "heads": [h.name for h in data.heads]}
    return entry, extra, data, result


def train(datasets_dir: Path, dataset_id: str, settings: TrainingSettings, *, model: str | None = None,
          if_changed: bool = False, dataset_config: DatasetConfig | None = None, now: datetime | None = None,
          log: Callable[[str], None] = _stderr, split_file: Path | None = None) -> TrainResult:
    """Train `model` (default: the dataset's target model) on dataset `dataset_id`.

    Raises AlreadyRunning when another training holds the lock; every other outcome is a
    TrainResult (refused datasets carry their reasons).
    """
    now = now or datetime.now(timezone.utc)
    log(f"reading dataset {dataset_id}: manifest, splits and features")  # output before minutes of work
    try:
        training_set = read_training_set(Path(datasets_dir), dataset_id, dataset_config)
        user_splits = read_split_file(split_file) if split_file is not None else None
    except UnusableData as exc:
        return TrainResult("refused", dataset_id, "the dataset cannot be read", exc.reasons)
    name = model or training_set.settings.target_model
    recipes = recipes_for(name, training_set)
    models_dir = settings.models_dir
    lock = StateLock(models_dir)
    try:
        lock.acquire(purpose=f"training {name} on {dataset_id}")
    except AlreadyRunning:
        raise AlreadyRunning(f"another training ({lock_holder(models_dir)}) holds {lock.path}; "
                             "one training runs at a time") from None
    try:
        document = reg.read_registry(settings.registry)
        for path in remove_leftovers(models_dir, document):
            log(f"removed {path} left by an interrupted training")
        if if_changed:
            if last_validation_failed(training_set.root):
                return TrainResult("skipped", dataset_id, "the last validation did not pass; fix the dataset first")
            shares = {r.key: changed_share(training_set, document, r.key, models_dir) for r in recipes}
            if all(share is not None and share < settings.retrain_min_change for share in shares.values()):
                detail = ", ".join(f"{k} {s:.1%}" for k, s in shares.items())
                return TrainResult("skipped", dataset_id, f"too few samples changed since the last training "
                                   f"({detail}; retrain_min_change is {settings.retrain_min_change:.1%})")
        reasons = guard_reasons(training_set, recipes[0].model, schema_version=FEATURE_SCHEMA_VERSION, now=now)
        if reasons:
            return TrainResult("refused", dataset_id, "the training guard refused the dataset", tuple(reasons))
        if user_splits is not None:  # after the guard, which checks the dataset's own splits against the catalog
            try:
                training_set = with_split_file(training_set, user_splits)
            except UnusableData as exc:
                return TrainResult("refused", dataset_id, "the split file does not fit the dataset", exc.reasons)
        device = resolve_device(settings.device)
        if settings.threads:
            torch.set_num_threads(settings.threads)
        outcomes, entries = [], []
        for recipe in recipes:
            try:
                entry, extra, data, result = _train_one(recipe, training_set, settings, document, device, now, log,
                                                        own_split=user_splits is None)
            except UnusableData as exc:
                return TrainResult("refused", dataset_id, f"{recipe.key} cannot be trained on this dataset",
                                   exc.reasons, tuple(outcomes))
            document = reg.with_version(document, recipe.key, entry, updated_at=utc_text(now))
            reg.write_registry(settings.registry, document)
            if entry["promoted"]:
                _refresh_current(models_dir, recipe.key, extra["version_dir"])
            log(f"{recipe.key} {entry['version']}: {entry['gate']['decision']} ({entry['gate']['reason']})")
            outcomes.append(ModelOutcome(recipe.key, entry["version"], entry["gate"]["decision"],
                                         entry["gate"]["reason"], entry["metrics"]))
            entries.append((entry, extra))
        report = write_training_report(training_set.root, entries, now=now)
        return TrainResult("trained", dataset_id, f"trained {', '.join(o.key for o in outcomes)}",
                           models=tuple(outcomes), report=str(report))
    finally:
        lock.release()


def train_from_config(cfg: Any, dataset_id: str, *, model: str | None = None, if_changed: bool = False,
                      log: Callable[[str], None] = _stderr, split_file: Path | None = None) -> TrainResult:
    """`train` with everything taken from a loaded `kellyd.config.Config` (the lead's CLI).

    The `[training]` settings were parsed with the rest of the config (paths resolved against
    the config file's folder); the dataset's settings come from the config, else its config.json.
    """
    from kellyd.dataset import settings_of

    settings = cfg.training
    configured = settings_of(cfg, dataset_id)
    return train(cfg.paths.datasets, dataset_id, settings, model=model, if_changed=if_changed,
                 dataset_config=configured, log=log, split_file=split_file)


def build_parser():
    import argparse

    parser = argparse.ArgumentParser(prog="python -m kellyd.train", description="Train a Kelly model on a dataset.")
    parser.add_argument("--datasets-dir", required=True, type=Path, help="the datasets folder")
    parser.add_argument("--dataset", required=True, help="dataset id (a folder of the datasets folder)")
    parser.add_argument("--model", help="one of the five models or a model key such as EmotionRecognizer-midi "
                        "(default: the dataset's target model)")
    parser.add_argument("--if-changed", action="store_true",
                        help="skip unless enough samples changed and the last validation passed")
    parser.add_argument("--training-config", type=Path,
                        help="a TOML file with a [training] table (paths relative to that file)")
    parser.add_argument("--base-dir", type=Path, help="folder the registry and models paths are relative to "
                        "(default: the training config's folder, else the datasets folder's parent)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--max-epochs", type=int, help="override max_epochs of the trained model")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Command line of `python -m kellyd.train`; prints the result as one JSON line.
    Exit codes: 0 trained or skipped, 1 refused, 2 bad settings, 3 another training runs."""
    import tomllib
    from dataclasses import replace

    from kellyd.errors import ConfigError
    from kellyd.train.settings import parse_training_section, with_overrides

    args = build_parser().parse_args(argv)
    try:
        table: dict[str, Any] = {}
        if args.training_config is not None:
            table = tomllib.loads(args.training_config.read_text(encoding="utf-8")).get("training", {})
        base = args.base_dir or (args.training_config.parent if args.training_config else args.datasets_dir.parent)
        settings = parse_training_section(table, base_dir=base.resolve())
        if args.device:
            settings = replace(settings, device=args.device)
        if args.max_epochs is not None:
            from kellyd.train.recipes import RECIPES

            name = RECIPES[args.model].model if args.model in RECIPES else args.model
            if name is None:
                name = read_training_set(args.datasets_dir, args.dataset).settings.target_model
            model_settings = settings.for_model(name)
            settings = with_overrides(settings, name, max_epochs=args.max_epochs,
                                      warmup_epochs=min(model_settings.warmup_epochs, args.max_epochs - 1))
        result = train(args.datasets_dir.resolve(), args.dataset, settings, model=args.model,
                       if_changed=args.if_changed)
    except ConfigError as exc:
        print(f"kellyd train: {exc}", file=sys.stderr)
        return 2
    except (ValueError, UnusableData) as exc:
        print(f"kellyd train: {exc}", file=sys.stderr)
        return 2
    except AlreadyRunning as exc:
        print(f"kellyd train: {exc}", file=sys.stderr)
        return 3
    print(json.dumps(result.to_json()))
    if result.status != "trained":
        _stderr(f"{result.status}: {result.message}" + "".join(f"\n  - {r}" for r in result.reasons))
    return result.exit_code
