"""The handler registry and the one function that assembles a dataset's chain."""

from __future__ import annotations

import importlib

from kellyd.handlers.base import DatasetContext, Handler
from kellyd.config import DatasetConfig

# name -> "module:Class"; resolved lazily so that listing names imports nothing heavy.
HANDLERS: dict[str, str] = {
    "import": "kellyd.handlers.importer:Import",
    "annotate": "kellyd.handlers.annotate:Annotate",
    "features": "kellyd.handlers.features:Features",
    "augment": "kellyd.handlers.augment:Augment",
    "analyze": "kellyd.handlers.analyze:Analyze",
}

# Steps a derived (augmented) sample goes through after it is written.
NOT_FOR_CHILDREN = frozenset({"import", "annotate", "augment", "analyze"})


def handler_class(name: str) -> type:
    module, cls = HANDLERS[name].split(":")
    return getattr(importlib.import_module(module), cls)


def _settings_for(name: str, ds: DatasetConfig, multiplier: int | None) -> dict:
    if name == "annotate":
        return {"label_key": ds.target_label_key, "labels": ds.labels}
    if name == "features":
        return {"sr_hz": ds.sample_rate_hz}
    if name == "analyze":
        return {"stems": ds.stems, "demucs_model": ds.demucs_model, "notes": ds.notes}
    if name == "augment":
        return {"multiplier": ds.multiplier if multiplier is None else multiplier, "sr_hz": ds.sample_rate_hz,
                "transforms": ds.augment_transforms, "child_features": "features" in child_chain(ds.chain)}
    return {}


def build_handler(name: str, ctx: DatasetContext, ds: DatasetConfig, *, multiplier: int | None = None) -> Handler:
    return handler_class(name)(ctx, **_settings_for(name, ds, multiplier))


def build_chain(ctx: DatasetContext, ds: DatasetConfig) -> dict[str, Handler]:
    """The dataset's handlers by name, in chain order."""
    return {name: build_handler(name, ctx, ds) for name in ds.chain}


def child_chain(chain: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(name for name in chain if name not in NOT_FOR_CHILDREN)


