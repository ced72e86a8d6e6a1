"""Configuration: `config.toml` parsed once into typed, frozen values.

Every section is a frozen dataclass; `parse_section` checks unknown keys, types
and bounds generically from the dataclass fields, so each rule lives in one
place and every error names the dotted key (`watch.settle_s`) and the problem.
Relative paths are resolved against the config file's folder. Where the file is
looked for, and the folders used when `[paths]` names none, is decided in `kellyd.locations`.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Mapping

from kellyd.errors import ConfigError
from kellyd.locations import checkout_config_path, default_folders, find_config, folder_problem
from kellyd.validation_limits import Limits

DEFAULT_CONFIG_PATH = checkout_config_path()  # the repository's config.toml; None for an installed package
TARGET_MODELS = ("EmotionRecognizer", "MelodyTransformer", "HarmonyPredictor", "DynamicsEngine", "GroovePredictor")
DEFAULT_LABEL_KEY = {
    "EmotionRecognizer": "emotion",
    "MelodyTransformer": "emotion",
    "HarmonyPredictor": "emotion",
    "DynamicsEngine": "articulation",
    "GroovePredictor": "groove_type",
}
DEFAULT_CHAIN = ("import", "annotate", "features", "augment")
# A `kind = "song"` dataset: whole songs are analysed (beats, key, chords, sections, stems, notes), not augmented.
SONG_CHAIN = ("import", "annotate", "analyze", "features")


def _check(*, minimum: float | None = None, exclusive: bool = False, doc: str = "") -> dict:
    return {"minimum": minimum, "exclusive": exclusive, "doc": doc}


@dataclass(frozen=True)
class PathsConfig:
    """None (not named by the config) becomes the XDG folder of `kellyd.locations.default_folders`."""

    inbox: Path | None = None
    staging: Path = Path("~/.kelly")
    datasets: Path | None = None
    state: Path | None = None

    @property
    def folders(self) -> tuple[Path, ...]:
        """Every folder kellyd writes to (resolved configs only)."""
        return tuple(getattr(self, f.name) for f in dataclasses.fields(self))


@dataclass(frozen=True)
class WatchConfig:
    settle_s: float = field(default=1.0, metadata=_check(minimum=0.0))
    rescan_s: float = field(default=300.0, metadata=_check(minimum=0.0, exclusive=True))
    ignore: tuple[str, ...] = (".*", "*~", "*.part", "*.crdownload", "*.tmp", "*.json", "*.txt", "*.md")
    polling: bool = False
    poll_interval_s: float = field(default=0.25, metadata=_check(minimum=0.0, exclusive=True))


@dataclass(frozen=True)
class ExecutorConfig:
    kind: Literal["local", "dask"] = "local"
    workers: int = field(default=0, metadata=_check(minimum=0))
    address: str = ""
    max_attempts: int = field(default=5, metadata=_check(minimum=1))
    shutdown_grace_s: float = field(default=3.0, metadata=_check(minimum=0.0))
    idle_workers_s: float = field(default=60.0, metadata=_check(minimum=0.0))


@dataclass(frozen=True)
class ExportConfig:
    debounce_s: float = field(default=2.0, metadata=_check(minimum=0.0))
    max_busy_share: float = field(default=0.1, metadata=_check(minimum=0.0, exclusive=True))


@dataclass(frozen=True)
class DatasetConfig:
    target_model: str = "EmotionRecognizer"
    chain: tuple[str, ...] = DEFAULT_CHAIN
    labels: tuple[str, ...] = ()
    label_key: str = ""
    multiplier: int = field(default=4, metadata=_check(minimum=1))
    splits: tuple[float, ...] = (0.7, 0.15, 0.15)
    group_by: str = ""
    on_import: Literal["move", "copy"] = "move"
    sample_rate_hz: int = field(default=16000, metadata=_check(minimum=1000))
    kind: Literal["clip", "song"] = "clip"
    stems: Literal["hpss", "demucs", "off"] = "hpss"
    demucs_model: str = ""
    notes: Literal["auto", "basic_pitch", "cqt", "off"] = "auto"
    # {transform: [low, high] or a number}: the transforms augmentation draws from, and their ranges
    # (kellyd.handlers.augment); absent: all of them at their default ranges.
    augment_transforms: dict[str, Any] | None = None

    @property
    def target_label_key(self) -> str:
        return self.label_key or DEFAULT_LABEL_KEY[self.target_model]


@dataclass(frozen=True)
class ScheduleConfig:
    validate: str = "6h"
    retrain: str = "off"
    freesound: str = "off"
    synthesize: str = "off"
    synthesize_max_pieces: int = field(default=200, metadata=_check(minimum=1))
    validate_after_samples: int = field(default=500, metadata=_check(minimum=0))
    misfire_grace_s: float = field(default=3600.0, metadata=_check(minimum=0.0))


@dataclass(frozen=True)
class LoggingConfig:
    format: Literal["auto", "console", "json"] = "auto"
    level: Literal["debug", "info", "warning", "error"] = "info"


@dataclass(frozen=True)
class ReportsConfig:
    keep: int = field(default=20, metadata=_check(minimum=1))
    storage_budget_gb: float = field(default=3000.0, metadata=_check(minimum=0.0, exclusive=True))


@dataclass(frozen=True)
class ValidateConfig(Limits):
    """How validation runs, and the thresholds of its warnings (`kellyd.validation_limits.Limits`)."""

    mode: Literal["cheap", "full"] = "cheap"
    workers: int = field(default=1, metadata=_check(minimum=1))


@dataclass(frozen=True)
class LimitsConfig:
    """What one input may cost. A file over a limit is quarantined with the limit named, never read whole."""

    max_file_mb: float = field(default=2048.0, metadata=_check(minimum=0.0, exclusive=True))
    max_midi_mb: float = field(default=32.0, metadata=_check(minimum=0.0, exclusive=True))
    max_midi_duration_s: float = field(default=3 * 3600.0, metadata=_check(minimum=0.0, exclusive=True))
    max_midi_notes: int = field(default=500_000, metadata=_check(minimum=1))
    max_audio_analysis_s: float = field(default=600.0, metadata=_check(minimum=0.0, exclusive=True))
    max_audio_augment_s: float = field(default=600.0, metadata=_check(minimum=0.0, exclusive=True))
    max_sidecar_kb: float = field(default=256.0, metadata=_check(minimum=0.0, exclusive=True))
    step_timeout_s: float = field(default=600.0, metadata=_check(minimum=0.0, exclusive=True))


@dataclass(frozen=True)
class Config:
    source: Path
    paths: PathsConfig
    watch: WatchConfig
    executor: ExecutorConfig
    export: ExportConfig
    schedule: ScheduleConfig
    logging: LoggingConfig
    reports: ReportsConfig
    validate: ValidateConfig
    limits: LimitsConfig
    datasets: Mapping[str, DatasetConfig]
    freesound: Any  # kellyd.freesound.settings.FreesoundSettings (parsed by its own module)
    training: Any  # kellyd.train.settings.TrainingSettings (parsed by its own module)
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @property
    def catalog_path(self) -> Path:
        return self.paths.state / "catalog.sqlite3"

    @property
    def quarantine_dir(self) -> Path:
        return self.paths.state / "quarantine"

    def dataset_root(self, dataset_id: str) -> Path:
        return self.paths.datasets / dataset_id

    @property
    def workers(self) -> int:
        return self.executor.workers or (os.cpu_count() or 1)


_SECTIONS: dict[str, type] = {
    "paths": PathsConfig, "watch": WatchConfig, "executor": ExecutorConfig, "export": ExportConfig,
    "schedule": ScheduleConfig, "logging": LoggingConfig, "reports": ReportsConfig, "validate": ValidateConfig,
    "limits": LimitsConfig,
}
_DATASET_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*")
DATASET_ID_RULE = "a dataset id uses letters, digits, '_', '-' and '.' only, and starts with a letter or digit"


def is_dataset_id(text: str) -> bool:
    """Can `text` name a dataset? It is a folder name under datasets/ and inbox/: no path, not hidden."""
    return _DATASET_ID.fullmatch(text) is not None
_INTERVAL = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)\s*$")
_UNIT_S = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return " | ".join(repr(a) for a in typing.get_args(tp))
    if origin is tuple:
        return f"list of {_type_name(typing.get_args(tp)[0])}"
    if origin is dict:
        return "table"
    return getattr(tp, "__name__", str(tp))


def _coerce(key: str, tp: Any, value: Any) -> Any:
    """Convert a TOML value to the field type, or raise ConfigError naming `key`."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):  # `X | None`: TOML has no null, so a value is an X
        (tp,) = [arg for arg in typing.get_args(tp) if arg is not type(None)]
        origin = typing.get_origin(tp)
    wrong = ConfigError(key, f"expected {_type_name(tp)}, got {type(value).__name__} {value!r}")
    if origin is Literal:
        if value not in typing.get_args(tp):
            raise ConfigError(key, f"must be one of {_type_name(tp)}, got {value!r}")
        return value
    if origin is tuple:
        if not isinstance(value, list):
            raise wrong
        inner = typing.get_args(tp)[0]
        return tuple(_coerce(f"{key}[{i}]", inner, v) for i, v in enumerate(value))
    if origin is dict:  # checked by the section's own rules
        if not isinstance(value, dict):
            raise wrong
        return dict(value)
    if tp is bool:
        if not isinstance(value, bool):
            raise wrong
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise wrong
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise wrong
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise wrong
        return value
    if tp is Path:
        if not isinstance(value, str) or not value:
            raise wrong
        return Path(value)
    raise TypeError(f"unsupported config type {tp} for {key}")


def parse_section(cls: type, table: Any, prefix: str) -> Any:
    """Build the frozen dataclass `cls` from a TOML table, checking every key."""
    if not isinstance(table, dict):
        raise ConfigError(prefix, f"expected a table, got {type(table).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    unknown = sorted(set(table) - set(fields))
    if unknown:
        raise ConfigError(f"{prefix}.{unknown[0]}", f"unknown key; known keys: {', '.join(sorted(fields))}")
    values = {}
    for name, value in table.items():
        key = f"{prefix}.{name}"
        converted = _coerce(key, hints[name], value)
        bound = fields[name].metadata.get("minimum")
        if bound is not None:
            exclusive = fields[name].metadata.get("exclusive")
            if converted < bound or (exclusive and converted == bound):
                relation = "greater than" if exclusive else "at least"
                raise ConfigError(key, f"must be {relation} {bound}, got {converted}")
        values[name] = converted
    try:
        return cls(**values)
    except ConfigError as exc:  # a section's own check (`__post_init__`) names the field
        raise ConfigError(f"{prefix}.{exc.key}", exc.reason) from None


def parse_interval_s(key: str, text: str) -> float | None:
    """`"30s"`, `"15m"`, `"6h"`, `"1d"` -> seconds; `"off"` -> None. Cron strings are not intervals."""
    if text.strip().lower() == "off":
        return None
    match = _INTERVAL.match(text)
    if not match:
        raise ConfigError(key, f"expected an interval such as '30m' or '6h', got {text!r}")
    seconds = float(match.group(1)) * _UNIT_S[match.group(2)]
    if seconds <= 0:
        raise ConfigError(key, f"interval must be positive, got {text!r}")
    return seconds


def check_schedule_value(key: str, text: str) -> None:
    """A schedule is 'off', an interval ('6h') or a 5-field cron expression ('0 3 * * *')."""
    if text.strip().lower() == "off" or _INTERVAL.match(text):
        parse_interval_s(key, text)
        return
    if len(text.split()) == 5:
        from apscheduler.triggers.cron import CronTrigger

        try:
            CronTrigger.from_crontab(text)
        except ValueError as exc:
            raise ConfigError(key, f"bad cron expression {text!r}: {exc}") from None
        return
    raise ConfigError(key, f"expected 'off', an interval such as '6h', or a cron line such as '0 3 * * *', got {text!r}")


def parse_dataset(dataset_id: str, table: Any, known_handlers: frozenset[str] | None = None, *,
                  prefix: str | None = None) -> DatasetConfig:
    """One dataset's settings, checked as `[datasets.<id>]` is (a dataset folder's config.json too);
    errors name keys under `prefix` (default `datasets.<id>`)."""
    prefix = prefix or f"datasets.{dataset_id}"
    known_handlers = known_handler_names() if known_handlers is None else known_handlers
    if not is_dataset_id(dataset_id):
        raise ConfigError(prefix, DATASET_ID_RULE)
    ds = parse_section(DatasetConfig, table, prefix)
    if ds.kind == "song" and "chain" not in table:
        ds = dataclasses.replace(ds, chain=SONG_CHAIN)
    if ds.target_model not in TARGET_MODELS:
        raise ConfigError(f"{prefix}.target_model", f"must be one of {', '.join(TARGET_MODELS)}, got {ds.target_model!r}")
    for i, name in enumerate(ds.chain):
        if name not in known_handlers:
            raise ConfigError(f"{prefix}.chain[{i}]", f"unknown handler {name!r}; known: {', '.join(sorted(known_handlers))}")
    if not ds.chain or ds.chain[0] != "import":
        raise ConfigError(f"{prefix}.chain", "the chain must start with 'import'")
    if len(ds.splits) != 3 or any(r < 0 for r in ds.splits) or abs(sum(ds.splits) - 1.0) > 1e-6:
        raise ConfigError(f"{prefix}.splits", f"expected three non-negative ratios (train, val, test) summing to 1, got {list(ds.splits)}")
    if ds.group_by:
        try:
            pattern = re.compile(ds.group_by)
        except re.error as exc:
            raise ConfigError(f"{prefix}.group_by", f"not a regular expression: {exc}") from None
        if "group" not in pattern.groupindex:
            raise ConfigError(f"{prefix}.group_by", "the expression needs a named group (?P<group>...)")
    if ds.augment_transforms is not None:
        _check_augment_transforms(ds.augment_transforms, f"{prefix}.augment_transforms")
    return ds


def _check_augment_transforms(table: dict[str, Any], key: str) -> None:
    from kellyd.handlers.augment import checked_ranges  # numpy: only for a config that sets the key

    if not table:
        raise ConfigError(key, "lists no transform; to make no children, leave 'augment' out of the chain")
    checked_ranges(table, key=key)


def _resolve(base: Path, p: Path) -> Path:
    p = p.expanduser()
    return p if p.is_absolute() else (base / p)


def _check_paths(paths: PathsConfig, base: Path) -> PathsConfig:
    """Absolute folders: named ones resolved against `base`, the others the XDG defaults.

    A folder that does not exist yet is accepted (`kellyd run` and `kellyd init` create it);
    one that can never be a folder (a file is in the way) is refused.
    """
    defaults = default_folders()
    resolved = PathsConfig(**{f.name: defaults[f.name] if getattr(paths, f.name) is None
                              else _resolve(base, getattr(paths, f.name)) for f in dataclasses.fields(PathsConfig)})
    for f in dataclasses.fields(PathsConfig):
        problem = folder_problem(getattr(resolved, f.name))
        if problem:
            raise ConfigError(f"paths.{f.name}", f"{problem}; change the setting or move it away")
    return resolved


def known_handler_names() -> frozenset[str]:
    from kellyd.handlers.registry import HANDLERS

    return frozenset(HANDLERS)


def load_config(path: Path | str | None = None) -> Config:
    """Read and validate the configuration. Raises ConfigError naming the key.

    Without `path`, the file is searched for: $KELLYD_CONFIG, the XDG user config, then the
    repository's config.toml when run from a checkout (`kellyd.locations.find_config`).
    """
    path = find_config(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError("--config", f"no configuration file at {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("--config", f"{path} is not valid TOML: {exc}") from None
    return config_from_mapping(raw, source=path)


def config_from_mapping(raw: Mapping[str, Any], *, source: Path) -> Config:
    from kellyd.freesound.settings import parse_freesound_section
    from kellyd.train.settings import parse_training_section

    known_sections = set(_SECTIONS) | {"datasets", "freesound", "training"}
    unknown = sorted(set(raw) - known_sections)
    if unknown:
        raise ConfigError(unknown[0], f"unknown section; known sections: {', '.join(sorted(known_sections))}")
    sections = {name: parse_section(cls, raw.get(name, {}), name) for name, cls in _SECTIONS.items()}
    sections["paths"] = _check_paths(sections["paths"], source.parent)
    schedule: ScheduleConfig = sections["schedule"]
    for name in ("validate", "retrain", "freesound", "synthesize"):
        check_schedule_value(f"schedule.{name}", getattr(schedule, name))
    handlers = known_handler_names()
    datasets_table = raw.get("datasets", {})
    if not isinstance(datasets_table, dict):
        raise ConfigError("datasets", "expected a table of datasets")
    datasets = {ds_id: parse_dataset(ds_id, table, handlers) for ds_id, table in datasets_table.items()}
    freesound = parse_freesound_section(raw.get("freesound", {}))
    # Checked only when the file has a [freesound] section: an empty config is valid, and its
    # default dataset may still be made by `kellyd dataset create` (staged files wait until then).
    if "freesound" in raw and freesound.enabled and freesound.dataset not in datasets:
        raise ConfigError("freesound.dataset", f"dataset {freesound.dataset!r} is not configured under [datasets]")
    training = parse_training_section(raw.get("training", {}), base_dir=source.parent)
    return Config(source=source, datasets=datasets, freesound=freesound, training=training, raw=dict(raw),
                  **sections)
