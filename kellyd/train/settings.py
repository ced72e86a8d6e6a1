"""The `[training]` section of the configuration, typed once at the edge.

```toml
[training]
registry = "models/registry.json"   # relative to the config file's folder
models_dir = "models"
device = "auto"                     # "auto" (CUDA when present), "cpu" or "cuda"
seed = 1234
retrain_min_change = 0.1            # share of samples added or removed that --if-changed needs
nice = 10                           # niceness of the scheduled training subprocess
threads = 0                         # CPU threads for torch (0: its default)
min_val_groups = 8                  # fewer validation groups (songs, takes) than this: training refused

[training.GroovePredictor]          # any of the five models; every key optional
max_epochs = 80
hidden = 48
```

`parse_training_section` checks structure with the generic
`kellyd.config.parse_section` (unknown keys, types, lower bounds) and then the
rules only this section has; every error is a `ConfigError("training.<key>", reason)`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, Mapping

from kellyd.config import TARGET_MODELS, parse_section
from kellyd.errors import ConfigError

SECTION = "training"


def _at_least(bound: float, *, exclusive: bool = False, doc: str = "") -> dict[str, Any]:
    # The metadata convention `kellyd.config.parse_section` reads for lower bounds.
    return {"minimum": bound, "exclusive": exclusive, "doc": doc}


@dataclass(frozen=True)
class ModelSettings:
    """Hyper-parameters of one model. Epochs count passes over the training split."""

    optimizer: Literal["adamw", "adam"] = "adamw"
    lr: float = field(default=1e-3, metadata=_at_least(0.0, exclusive=True))
    batch_size: int = field(default=16, metadata=_at_least(1))
    max_epochs: int = field(default=100, metadata=_at_least(1))
    warmup_epochs: int = field(default=3, metadata=_at_least(0))
    patience: int = field(default=15, metadata=_at_least(1))
    min_delta: float = field(default=1e-3, metadata=_at_least(0.0))
    weight_decay: float = field(default=1e-2, metadata=_at_least(0.0))
    min_lr_share: float = field(default=0.05, metadata=_at_least(0.0))
    grad_clip: float = field(default=1.0, metadata=_at_least(0.0, exclusive=True))
    dropout: float = field(default=0.1, metadata=_at_least(0.0))
    hidden: int = field(default=32, metadata=_at_least(2))
    cell: Literal["gru", "lstm"] = "gru"
    conv_kernel: int = field(default=0, metadata=_at_least(0))
    window: int = field(default=32, metadata=_at_least(2))
    max_examples_per_sample: int = field(default=64, metadata=_at_least(1))


# What differs from the defaults per model: the recurrent cell, a causal convolution in
# front where local patterns matter, and the window each example covers.
MODEL_DEFAULTS: dict[str, dict[str, Any]] = {
    "EmotionRecognizer": {"hidden": 32, "window": 48},  # midi: half-second frames, 24 s
    "MelodyTransformer": {"hidden": 48, "cell": "lstm", "window": 32},
    "HarmonyPredictor": {"hidden": 32, "window": 16},
    "DynamicsEngine": {"hidden": 32, "conv_kernel": 3, "window": 32},
    "GroovePredictor": {"hidden": 48, "window": 32},
}

KEY_DOCS: dict[str, str] = {
    "registry": "the model registry file (JSON), relative to the config file's folder",
    "models_dir": "where checkpoints and exported models are kept, relative to the config file's folder",
    "device": "'auto' (CUDA when torch sees a GPU, else CPU), 'cpu' or 'cuda'",
    "seed": "seed of every random choice in training (same data + seed + device = same model)",
    "retrain_min_change": "share of samples added or removed since the last training that `--if-changed` needs",
    "nice": "niceness the scheduled training subprocess runs at",
    "threads": "CPU threads torch may use (0: torch's default, one per core)",
    "min_val_groups": "fewest groups (songs or takes kept together) the validation split must hold for a "
                      "model to be trained and judged; below it training is refused with the reason",
    "<Model>.optimizer": "'adamw' or 'adam'",
    "<Model>.lr": "peak learning rate (reached after the warm-up)",
    "<Model>.batch_size": "examples per optimisation step",
    "<Model>.max_epochs": "most passes over the training split",
    "<Model>.warmup_epochs": "epochs of linear learning-rate warm-up before the cosine decay",
    "<Model>.patience": "epochs without a validation-loss improvement before stopping",
    "<Model>.min_delta": "smallest validation-loss drop that counts as an improvement",
    "<Model>.weight_decay": "L2 weight decay (decoupled for adamw)",
    "<Model>.min_lr_share": "learning rate at the end of the cosine, as a share of lr",
    "<Model>.grad_clip": "largest gradient norm (clipped above)",
    "<Model>.dropout": "dropout between layers while training (none at inference)",
    "<Model>.hidden": "units of the hidden and recurrent layers",
    "<Model>.cell": "recurrent cell, 'gru' or 'lstm'",
    "<Model>.conv_kernel": "taps of a causal Conv1D in front of the recurrent layer (0: none)",
    "<Model>.window": "steps per example (beats, sixteenths, notes or chords, depending on the model)",
    "<Model>.max_examples_per_sample": "most examples taken from one sample (long files do not dominate)",
}


@dataclass(frozen=True)
class _TopLevel:
    registry: Path = Path("models/registry.json")
    models_dir: Path = Path("models")
    device: Literal["auto", "cpu", "cuda"] = "auto"
    seed: int = field(default=1234, metadata=_at_least(0))
    retrain_min_change: float = field(default=0.1, metadata=_at_least(0.0))
    nice: int = field(default=10, metadata=_at_least(0))
    threads: int = field(default=0, metadata=_at_least(0))
    min_val_groups: int = field(default=8, metadata=_at_least(1))


@dataclass(frozen=True)
class TrainingSettings:
    """Everything `kellyd train` needs besides the dataset. Paths are absolute after parsing."""

    registry: Path = Path("models/registry.json")
    models_dir: Path = Path("models")
    device: Literal["auto", "cpu", "cuda"] = "auto"
    seed: int = 1234
    retrain_min_change: float = 0.1
    nice: int = 10
    threads: int = 0
    min_val_groups: int = 8
    models: Mapping[str, ModelSettings] = field(default_factory=dict)

    def for_model(self, model: str) -> ModelSettings:
        """The settings of `model` (one of the five names): its table over the model's defaults."""
        if model not in TARGET_MODELS:
            raise ValueError(f"unknown model {model!r}; expected one of {', '.join(TARGET_MODELS)}")
        return self.models.get(model) or ModelSettings(**MODEL_DEFAULTS[model])


def _fail(key: str, reason: str) -> ConfigError:
    return ConfigError(f"{SECTION}.{key}", reason)


def _check_model(name: str, settings: ModelSettings) -> ModelSettings:
    for f in dataclasses.fields(settings):
        value = getattr(settings, f.name)
        if isinstance(value, float) and not math.isfinite(value):
            raise _fail(f"{name}.{f.name}", f"must be a finite number, got {value}")
    if settings.dropout >= 1.0:
        raise _fail(f"{name}.dropout", f"must be below 1, got {settings.dropout}")
    if settings.min_lr_share > 1.0:
        raise _fail(f"{name}.min_lr_share", f"must be at most 1, got {settings.min_lr_share}")
    if settings.warmup_epochs >= settings.max_epochs:
        raise _fail(f"{name}.warmup_epochs",
                    f"must be below max_epochs ({settings.max_epochs}), got {settings.warmup_epochs}")
    if settings.conv_kernel == 1:
        raise _fail(f"{name}.conv_kernel", "a causal convolution needs at least 2 taps (0 turns it off), got 1")
    return settings


def _resolve(base_dir: Path, path: Path) -> Path:
    path = path.expanduser()
    return path if path.is_absolute() else Path(base_dir) / path


def parse_training_section(table: Mapping[str, Any], *, base_dir: Path) -> TrainingSettings:
    """`TrainingSettings` from the `[training]` TOML table; relative paths are resolved against
    `base_dir` (the config file's folder). Raises ConfigError naming the key."""
    if not isinstance(table, Mapping):
        raise ConfigError(SECTION, f"expected a table, got {type(table).__name__}")
    top = {k: v for k, v in table.items() if k not in TARGET_MODELS}
    top_level = parse_section(_TopLevel, top, SECTION)
    if not math.isfinite(top_level.retrain_min_change) or top_level.retrain_min_change > 1.0:
        raise _fail("retrain_min_change", f"must be a share in [0, 1], got {top_level.retrain_min_change}")
    if top_level.nice > 19:
        raise _fail("nice", f"must be a niceness from 0 to 19, got {top_level.nice}")
    models: dict[str, ModelSettings] = {}
    for name in TARGET_MODELS:
        if name not in table:
            continue
        model_table = table[name]
        if not isinstance(model_table, Mapping):
            raise _fail(name, f"expected a table, got {type(model_table).__name__}")
        parsed = parse_section(ModelSettings, {**MODEL_DEFAULTS[name], **model_table}, f"{SECTION}.{name}")
        models[name] = _check_model(name, parsed)
    for name in TARGET_MODELS:
        if name not in models:
            models[name] = _check_model(name, ModelSettings(**MODEL_DEFAULTS[name]))
    return TrainingSettings(
        registry=_resolve(base_dir, top_level.registry),
        models_dir=_resolve(base_dir, top_level.models_dir),
        device=top_level.device,
        seed=top_level.seed,
        retrain_min_change=top_level.retrain_min_change,
        nice=top_level.nice,
        threads=top_level.threads,
        min_val_groups=top_level.min_val_groups,
        models=models,
    )


def with_overrides(settings: TrainingSettings, model: str, **changes: Any) -> TrainingSettings:
    """A copy whose `model` settings take `changes` (tests and the bench shorten training this way)."""
    current = settings.for_model(model)
    return replace(settings, models={**settings.models, model: _check_model(model, replace(current, **changes))})
