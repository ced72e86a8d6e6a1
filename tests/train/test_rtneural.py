"""The RTNeural JSON of every model runs in an independent NumPy reading of RTNeural's layers and
gives PyTorch's outputs, frame by frame, within 1e-5."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from kellyd.train.data import Vocabulary
from kellyd.train.models import LayerSpec, StreamNet, architecture
from kellyd.train.recipes import RECIPES
from kellyd.train.rtneural import onnx_bytes, rtneural_json
from kellyd.train.settings import parse_training_section
from tests.train.numpy_rtneural import NumpyRTNeural

VOCABULARY = Vocabulary(classes=("calm", "happy", "sad"), emotions=("calm", "happy", "sad"), label_key="emotion")
STEPS = 24


def _compare(model: StreamNet, seed: int) -> float:
    document = json.loads(json.dumps(rtneural_json(model, {"model": "test"})))  # through real JSON text
    frames = np.random.default_rng(seed).normal(size=(STEPS, model.in_size)).astype(np.float32)
    with torch.no_grad():
        expected = model.eval()(torch.from_numpy(frames)[None])[0].numpy()
    got = NumpyRTNeural(document).run(frames)
    assert got.shape == expected.shape
    return float(np.abs(got - expected).max())


@pytest.mark.parametrize("key", sorted(RECIPES))
def test_every_model_matches_pytorch_frame_by_frame(key, tmp_path):
    recipe = RECIPES[key]
    settings = parse_training_section({}, base_dir=tmp_path).for_model(recipe.model)
    in_size = len(recipe.feature_names(VOCABULARY))
    out_size = sum(h.size for h in recipe.heads(VOCABULARY))
    torch.manual_seed(3)
    model = StreamNet(in_size, architecture(settings, out_size))
    with torch.no_grad():  # larger weights than the initialisation, so the gates saturate somewhere
        for p in model.parameters():
            p.mul_(2.0)
    assert _compare(model, seed=1) < 1e-5


@pytest.mark.parametrize("layers", [
    (LayerSpec("conv1d", 6, "relu", kernel_size=3, dilation=2), LayerSpec("lstm", 5), LayerSpec("dense", 4, "sigmoid")),
    (LayerSpec("dense", 6, "elu"), LayerSpec("gru", 7), LayerSpec("gru", 3), LayerSpec("dense", 2)),
    (LayerSpec("conv1d", 4, "", kernel_size=2), LayerSpec("dense", 3, "tanh")),
])
def test_layer_kinds_activations_and_dilation_match(layers):
    torch.manual_seed(5)
    assert _compare(StreamNet(5, layers), seed=2) < 1e-5


def test_the_json_has_the_fields_rtneural_reads():
    model = StreamNet(3, (LayerSpec("conv1d", 4, "tanh", kernel_size=2), LayerSpec("gru", 5), LayerSpec("dense", 2)))
    document = rtneural_json(model, {"model": "x"})
    assert document["in_shape"][-1] == 3
    conv, gru, dense = document["layers"]
    assert conv["kernel_size"] == [2] and conv["dilation"] == [1] and np.shape(conv["weights"][0]) == (2, 3, 4)
    assert [np.shape(w) for w in gru["weights"]] == [(4, 15), (5, 15), (2, 15)]
    assert [np.shape(w) for w in dense["weights"]] == [(5, 2), (2,)] and dense["shape"][-1] == 2


def test_onnx_is_skipped_cleanly_without_the_onnx_package():
    model = StreamNet(3, (LayerSpec("gru", 4), LayerSpec("dense", 2)))
    try:
        import onnx  # noqa: F401
    except ImportError:
        assert onnx_bytes(model, 8) is None
    else:
        assert onnx_bytes(model, 8)[:2]
