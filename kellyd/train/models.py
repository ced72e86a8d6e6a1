"""Small streaming models made only of layers RTNeural runs: Dense, Conv1D (causal), GRU, LSTM and
element-wise activations.

A model maps a sequence of frames (batch, steps, inputs) to one output vector per step
(batch, steps, outputs), and output t depends on frames 0..t only, so the same weights
run frame by frame in a plug-in (RTNeural's `Model::forward` per frame). The output
vector is the concatenation of the heads of `kellyd.train.data.ModelData` (class
logits, standardised regression values); the last layer has no activation.

The architecture is a tuple of `LayerSpec`s: the torch module and the RTNeural
export are both built from it, so they cannot disagree about the layer order.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

import torch
from torch import nn

from kellyd.train.settings import ModelSettings

Activation = Literal["", "tanh", "relu", "sigmoid", "elu"]
ACTIVATIONS: dict[str, type[nn.Module] | None] = {
    "": None, "tanh": nn.Tanh, "relu": nn.ReLU, "sigmoid": nn.Sigmoid, "elu": nn.ELU,
}


@dataclass(frozen=True)
class LayerSpec:
    """One layer. `size` is its output width; kernel_size and dilation are for conv1d only."""

    kind: Literal["dense", "conv1d", "gru", "lstm"]
    size: int
    activation: Activation = ""
    kernel_size: int = 1
    dilation: int = 1

    def __post_init__(self) -> None:
        if self.size < 1:
            raise ValueError(f"layer size must be positive, got {self.size}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation {self.activation!r} is not one of {sorted(ACTIVATIONS)}")
        if self.kind in ("gru", "lstm") and self.activation:
            raise ValueError(f"a {self.kind} layer takes no activation, got {self.activation!r}")
        if self.kind == "conv1d" and (self.kernel_size < 2 or self.dilation < 1):
            raise ValueError(f"conv1d needs kernel_size >= 2 and dilation >= 1, got {self.kernel_size}, {self.dilation}")

    def to_json(self) -> dict:
        return asdict(self)


def architecture(settings: ModelSettings, output_size: int) -> tuple[LayerSpec, ...]:
    """[causal Conv1D, tanh] or [Dense, tanh] -> GRU or LSTM -> Dense(hidden, tanh) -> Dense(outputs)."""
    if output_size < 1:
        raise ValueError(f"output_size must be positive, got {output_size}")
    h = settings.hidden
    front = (LayerSpec("conv1d", h, "tanh", kernel_size=settings.conv_kernel) if settings.conv_kernel
             else LayerSpec("dense", h, "tanh"))
    return (front, LayerSpec(settings.cell, h), LayerSpec("dense", h, "tanh"), LayerSpec("dense", output_size))


class StreamNet(nn.Module):
    """The torch model of an architecture. forward: (batch, steps, in_size) -> (batch, steps, out)."""

    def __init__(self, in_size: int, layers: tuple[LayerSpec, ...], *, dropout: float = 0.0) -> None:
        super().__init__()
        if in_size < 1:
            raise ValueError(f"in_size must be positive, got {in_size}")
        if not layers:
            raise ValueError("an architecture needs at least one layer")
        self.in_size = in_size
        self.specs = tuple(layers)
        self.layers = nn.ModuleList()
        self.activations = nn.ModuleList()
        width = in_size
        for spec in layers:
            if spec.kind == "dense":
                self.layers.append(nn.Linear(width, spec.size))
            elif spec.kind == "conv1d":
                self.layers.append(nn.Conv1d(width, spec.size, spec.kernel_size, dilation=spec.dilation))
            elif spec.kind == "gru":
                self.layers.append(nn.GRU(width, spec.size, batch_first=True))
            elif spec.kind == "lstm":
                self.layers.append(nn.LSTM(width, spec.size, batch_first=True))
            else:
                raise ValueError(f"unknown layer kind {spec.kind!r}")
            factory = ACTIVATIONS[spec.activation]
            self.activations.append(factory() if factory is not None else nn.Identity())
            width = spec.size
        self.dropout = nn.Dropout(dropout)
        self.out_size = width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        last = len(self.specs) - 1
        for i, (spec, layer, act) in enumerate(zip(self.specs, self.layers, self.activations)):
            if spec.kind == "conv1d":
                pad = (spec.kernel_size - 1) * spec.dilation
                x = layer(nn.functional.pad(x.transpose(1, 2), (pad, 0))).transpose(1, 2)
            elif spec.kind in ("gru", "lstm"):
                x = layer(x)[0]
            else:
                x = layer(x)
            x = act(x)
            if i < last:
                x = self.dropout(x)
        return x


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
