"""An independent NumPy reading of an RTNeural JSON model, frame by frame, written from the
layer equations that RTNeural and Keras document (not from kellyd's exporter):

- dense: y = act(x K + b), K is (in, out).
- conv1d (causal, dilation d, K taps): y_t = act(b + sum_i x_{t - (K-1-i) d} W_i), W_i is (in, out),
  inputs before the first frame are zeros.
- gru (Keras, reset_after): z = sig(x Kz + b0z + h Rz + b1z), r = sig(x Kr + b0r + h Rr + b1r),
  c = tanh(x Kc + b0c + r * (h Rc + b1c)), h' = z * h + (1 - z) * c; gate columns z, r, c.
- lstm (Keras): [i f c o] = x K + h R + b; c' = sig(f) * c + sig(i) * tanh(c~); h' = sig(o) * tanh(c').
"""

from __future__ import annotations

import numpy as np


def _activation(name: str, x: np.ndarray) -> np.ndarray:
    if name == "":
        return x
    if name == "tanh":
        return np.tanh(x)
    if name == "relu":
        return np.maximum(x, 0.0)
    if name == "sigmoid":
        return 1.0 / (1.0 + np.exp(-x))
    if name == "elu":
        return np.where(x > 0, x, np.expm1(np.minimum(x, 0.0)))
    if name == "softmax":
        e = np.exp(x - x.max())
        return e / e.sum()
    raise ValueError(f"activation {name!r} is not one RTNeural knows")


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


class NumpyRTNeural:
    """Runs one frame at a time, keeping each layer's state like RTNeural's `Model::forward`."""

    def __init__(self, document: dict) -> None:
        self.in_size = int(document["in_shape"][-1])
        self.layers = document["layers"]
        self.reset()

    def reset(self) -> None:
        self.state: list[dict] = []
        for layer in self.layers:
            size = int(layer["shape"][-1])
            if layer["type"] == "gru":
                self.state.append({"h": np.zeros(size)})
            elif layer["type"] == "lstm":
                self.state.append({"h": np.zeros(size), "c": np.zeros(size)})
            elif layer["type"] == "conv1d":
                kernel = np.asarray(layer["weights"][0])
                span = (kernel.shape[0] - 1) * int(layer["dilation"][-1]) + 1
                self.state.append({"past": np.zeros((span, kernel.shape[1]))})
            else:
                self.state.append({})

    def forward(self, frame: np.ndarray) -> np.ndarray:
        x = np.asarray(frame, dtype=np.float64)
        assert x.shape == (self.in_size,), x.shape
        for layer, state in zip(self.layers, self.state):
            kind = layer["type"]
            w = [np.asarray(v, dtype=np.float64) for v in layer["weights"]]
            if kind == "dense":
                x = _activation(layer["activation"], x @ w[0] + w[1])
            elif kind == "conv1d":
                taps, dilation = w[0].shape[0], int(layer["dilation"][-1])
                state["past"] = np.vstack([state["past"][1:], x])  # last row is the newest frame
                newest = state["past"].shape[0] - 1
                y = w[1].copy()
                for i in range(taps):
                    y += state["past"][newest - (taps - 1 - i) * dilation] @ w[0][i]
                x = _activation(layer["activation"], y)
            elif kind == "gru":
                h = state["h"]
                n = h.size
                xs = x @ w[0] + w[2][0]
                hs = h @ w[1] + w[2][1]
                z = _sigmoid(xs[:n] + hs[:n])
                r = _sigmoid(xs[n:2 * n] + hs[n:2 * n])
                c = np.tanh(xs[2 * n:] + r * hs[2 * n:])
                x = state["h"] = z * h + (1.0 - z) * c
            elif kind == "lstm":
                h, c = state["h"], state["c"]
                n = h.size
                g = x @ w[0] + h @ w[1] + w[2]
                c = _sigmoid(g[n:2 * n]) * c + _sigmoid(g[:n]) * np.tanh(g[2 * n:3 * n])
                state["c"] = c
                x = state["h"] = _sigmoid(g[3 * n:]) * np.tanh(c)
            elif kind == "activation":
                x = _activation(layer["activation"], x)
            else:
                raise ValueError(f"layer type {kind!r} is not handled")
        return x

    def run(self, frames: np.ndarray) -> np.ndarray:
        """(steps, in) -> (steps, out), from a fresh state."""
        self.reset()
        return np.stack([self.forward(f) for f in frames])
