"""Export a trained `StreamNet` as the JSON RTNeural's `json_parser::parseJson` reads, and as ONNX
when the `onnx` package is installed.

The JSON follows the Keras-style layout of RTNeural's Python helpers: `in_shape` (its
last entry is the input width) and `layers`, each with `type`, `shape` (last entry:
output width), `activation` ("" for none) and `weights` in Keras' layout:

- dense: [kernel (in, out), bias (out)]
- conv1d: [kernel (kernel_size, in, out), bias (out)], plus `kernel_size` [k] and
  `dilation` [d]; RTNeural runs it causally, like Keras' `padding="causal"`.
- gru: [kernel (in, 3h), recurrent (h, 3h), bias (2, 3h)], gates in Keras' order
  (update z, reset r, candidate h), bias row 0 for the input and row 1 for the
  recurrent side (Keras' `reset_after=True`, which is also PyTorch's formula).
  PyTorch stores the gates as (r, z, n) with weights (3h, in): reordered and transposed.
- lstm: [kernel (in, 4h), recurrent (h, 4h), bias (4h)], gates (i, f, c, o), the same
  order as PyTorch's (i, f, g, o); PyTorch's two bias vectors are summed.

A `kellyd` object rides along (RTNeural ignores unknown keys): the input
normalisation to apply before the first layer, the output heads (where each sits in
the output vector, class names, the mean and std that turn standardised regression
outputs back into units), the feature names and the model key.
"""

from __future__ import annotations

import io
from typing import Any, Mapping

import torch

from kellyd.train.models import StreamNet

RTNEURAL_FORMAT_VERSION = 1


def _matrix(tensor: torch.Tensor) -> list:
    return tensor.detach().cpu().to(torch.float32).tolist()


def _gru_weights(layer: torch.nn.GRU) -> list:
    def keras_order(t: torch.Tensor) -> torch.Tensor:
        r, z, n = t.chunk(3, dim=0)
        return torch.cat([z, r, n], dim=0)

    kernel = keras_order(layer.weight_ih_l0).T
    recurrent = keras_order(layer.weight_hh_l0).T
    bias = torch.stack([keras_order(layer.bias_ih_l0), keras_order(layer.bias_hh_l0)])
    return [_matrix(kernel), _matrix(recurrent), _matrix(bias)]


def _lstm_weights(layer: torch.nn.LSTM) -> list:
    return [_matrix(layer.weight_ih_l0.T), _matrix(layer.weight_hh_l0.T),
            _matrix(layer.bias_ih_l0 + layer.bias_hh_l0)]


def rtneural_json(model: StreamNet, metadata: Mapping[str, Any]) -> dict[str, Any]:
    """The RTNeural JSON document of `model` (weights as float32 values)."""
    layers = []
    for spec, layer in zip(model.specs, model.layers):
        entry: dict[str, Any] = {"type": spec.kind, "activation": spec.activation, "shape": [None, None, spec.size]}
        if spec.kind == "dense":
            entry["weights"] = [_matrix(layer.weight.T), _matrix(layer.bias)]
        elif spec.kind == "conv1d":
            entry["kernel_size"] = [spec.kernel_size]
            entry["dilation"] = [spec.dilation]
            entry["weights"] = [_matrix(layer.weight.permute(2, 1, 0)), _matrix(layer.bias)]
        elif spec.kind == "gru":
            entry["weights"] = _gru_weights(layer)
        elif spec.kind == "lstm":
            entry["weights"] = _lstm_weights(layer)
        else:
            raise ValueError(f"no RTNeural export for layer kind {spec.kind!r}")
        layers.append(entry)
    return {"in_shape": [None, None, model.in_size], "layers": layers,
            "kellyd": {"format_version": RTNEURAL_FORMAT_VERSION, **metadata}}


def onnx_bytes(model: StreamNet, steps: int) -> bytes | None:
    """The model as ONNX (input `frames` (batch, steps, inputs), output `outputs`), or None when the
    `onnx` package is not installed (the export is optional)."""
    try:
        import onnx  # noqa: F401  (torch.onnx needs it; its absence means "skip")
    except ImportError:
        return None
    model = model.eval().cpu()
    buffer = io.BytesIO()
    example = torch.zeros(1, steps, model.in_size)
    torch.onnx.export(model, (example,), buffer, input_names=["frames"], output_names=["outputs"],
                      dynamic_axes={"frames": {0: "batch", 1: "steps"}, "outputs": {0: "batch", 1: "steps"}})
    return buffer.getvalue()
