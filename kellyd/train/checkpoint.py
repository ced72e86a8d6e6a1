"""A trained model on disk: weights, architecture, normalisation and heads in one torch file.

Loaded with `weights_only=True`: a checkpoint holds tensors and plain values only.
"""

from __future__ import annotations

import io
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from kellyd.train.data import Head, ModelData
from kellyd.train.models import LayerSpec, StreamNet

CHECKPOINT_FORMAT_VERSION = 1


def checkpoint_bytes(model: StreamNet, data: ModelData) -> bytes:
    """The serialised checkpoint of `model` trained on `data`."""
    document = {
        "format_version": CHECKPOINT_FORMAT_VERSION,
        "key": data.key,
        "in_size": model.in_size,
        "architecture": [spec.to_json() for spec in model.specs],
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "feature_names": list(data.feature_names),
        "input_mean": data.input_mean.tolist(),
        "input_std": data.input_std.tolist(),
        "heads": [{**asdict(h), "classes": list(h.classes), "mean": list(h.mean), "std": list(h.std)}
                  for h in data.heads],
    }
    buffer = io.BytesIO()
    torch.save(document, buffer)
    return buffer.getvalue()


def load_checkpoint(path: Path) -> tuple[StreamNet, dict[str, Any]]:
    """(model in eval mode on the CPU, the checkpoint's description) from a checkpoint file."""
    document = torch.load(Path(path), map_location="cpu", weights_only=True)
    if document.get("format_version") != CHECKPOINT_FORMAT_VERSION:
        raise ValueError(f"{path} has checkpoint format {document.get('format_version')!r}, "
                         f"expected {CHECKPOINT_FORMAT_VERSION}")
    specs = tuple(LayerSpec(**spec) for spec in document["architecture"])
    model = StreamNet(int(document["in_size"]), specs)
    model.load_state_dict(document["state_dict"])
    model.eval()
    return model, document


def heads_of(document: dict[str, Any]) -> tuple[Head, ...]:
    return tuple(Head(**{**h, "classes": tuple(h["classes"]), "mean": tuple(h["mean"]), "std": tuple(h["std"])})
                 for h in document["heads"])


def normalise_with(document: dict[str, Any], inputs: np.ndarray) -> np.ndarray:
    """Raw inputs (n, steps, features) standardised with the checkpoint's own statistics."""
    mean = np.asarray(document["input_mean"], dtype=np.float32)
    std = np.asarray(document["input_std"], dtype=np.float32)
    return ((inputs - mean) / std).astype(np.float32)
