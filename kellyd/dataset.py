"""The dataset folder: its layout, its config.json, and datasets created on disk.

A dataset is configured either in `config.toml` (`[datasets.<id>]`) or by
`kellyd dataset create`, which writes `datasets/<id>/config.json`; both are
routed the same way.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Mapping

from kellyd.atomic import atomic_write_json
from kellyd.config import Config, DatasetConfig, parse_dataset
from kellyd.errors import ConfigError

LAYOUT = ("raw/midi", "raw/audio", "raw/synthetic", "processed/features", "processed/augmented",
          "annotations", "splits", "reports")


def dataset_settings_json(dataset_id: str, ds: DatasetConfig) -> dict:
    return {"dataset_id": dataset_id, **{k: (list(v) if isinstance(v, tuple) else v)
                                         for k, v in dataclasses.asdict(ds).items() if v is not None}}


def create_layout(root: Path, dataset_id: str, ds: DatasetConfig) -> None:
    """Lay out the folder tree and write config.json (idempotent)."""
    for sub in LAYOUT:
        (root / sub).mkdir(parents=True, exist_ok=True)
    existing = read_config_json(root)
    created_at = existing.get("created_at") if existing else None
    atomic_write_json(root / "config.json", {**dataset_settings_json(dataset_id, ds),
                                             "created_at": created_at or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})


def read_config_json(root: Path) -> dict | None:
    try:
        return json.loads((root / "config.json").read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def all_datasets(cfg: Config) -> dict[str, DatasetConfig]:
    """Every dataset kellyd serves: those in the config file, and those `kellyd dataset create` made."""
    return {**datasets_on_disk(cfg.paths.datasets, cfg.datasets), **cfg.datasets}


def settings_of(cfg: Config, dataset_id: str) -> DatasetConfig:
    """The settings of `dataset_id`, from config.toml or its folder's config.json. ConfigError: the
    folder's config.json holds a refused value (named), or the dataset is unknown (the known ones named)."""
    if dataset_id in cfg.datasets:
        return cfg.datasets[dataset_id]
    refused: dict[str, ConfigError] = {}
    on_disk = datasets_on_disk(cfg.paths.datasets, cfg.datasets, refused=refused)
    if dataset_id in refused:
        raise refused[dataset_id]
    if dataset_id not in on_disk:
        known = sorted({*cfg.datasets, *on_disk})
        raise ConfigError("--dataset", f"unknown dataset {dataset_id!r}; configured: {', '.join(known) or 'none'}"
                                       " (create it with `kellyd dataset create`)")
    return on_disk[dataset_id]


def datasets_on_disk(datasets_dir: Path, configured: Mapping[str, DatasetConfig], *,
                     refused: dict[str, ConfigError] | None = None) -> dict[str, DatasetConfig]:
    """Datasets made by `kellyd dataset create` that the config file does not list. A config.json that
    names a target model but holds a value kellyd refuses is left out; `refused` gets its error."""
    found: dict[str, DatasetConfig] = {}
    if not datasets_dir.is_dir():
        return found
    for root in sorted(p for p in datasets_dir.iterdir() if p.is_dir()):
        if root.name in configured:
            continue
        data = read_config_json(root)
        if not data or "target_model" not in data:
            continue
        named = data.get("dataset_id")
        if named not in (None, root.name):  # `mv datasets/mix datasets/mix.old`, or a copy kept aside
            if refused is not None:
                refused[root.name] = ConfigError(
                    f"{root}/config.json", f"dataset_id is {named!r}: a moved or copied folder of that dataset, not a"
                    f" dataset of its own; to serve it as {root.name!r}, set \"dataset_id\" to {root.name!r} there")
            continue
        fields = {f.name for f in dataclasses.fields(DatasetConfig)}
        table = {k: v for k, v in data.items() if k in fields and v is not None}  # None: the default
        try:
            found[root.name] = parse_dataset(root.name, table, prefix=f"{root}/config.json")
        except ConfigError as exc:
            if refused is not None:
                refused[root.name] = exc
    return found
