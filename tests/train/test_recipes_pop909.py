"""Melody, harmony and dynamics examples from real piano arrangements (POP909, three songs):
shapes, targets that the input does not hold, a short training, and the RTNeural parity."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from kellyd.handlers.features import FEATURE_SCHEMA_VERSION
from kellyd.train.data import build_model_data
from kellyd.train.dataset import read_training_set
from kellyd.train.loop import fit, predict
from kellyd.train.metrics import evaluate, majority_class
from kellyd.train.models import StreamNet, architecture
from kellyd.train.recipes import RECIPES
from kellyd.train.rtneural import rtneural_json
from kellyd.train.settings import ModelSettings, parse_training_section
from tests.daemon.harness import make_tree, run_cli
from tests.train.numpy_rtneural import NumpyRTNeural

SONGS = {"001": ("happy", "train"), "004": ("sad", "val"), "005": ("calm", "test")}


@pytest.fixture(scope="module")
def songs(tmp_path_factory, corpus):
    base = tmp_path_factory.mktemp("pop909")
    tree = make_tree(base / "tree", datasets={"songs": {"target_model": "MelodyTransformer",
                                                        "chain": ["import", "annotate", "features"]}})
    for song, (emotion, _) in SONGS.items():
        target = base / "drop" / emotion / f"{song}.mid"
        target.parent.mkdir(parents=True)
        shutil.copyfile(corpus / "pop909" / song / f"{song}.mid", target)
    proc = run_cli(tree, "import", str(base / "drop"), "--dataset", "songs", "--quiet", timeout_s=300)
    assert proc.returncode == 0, proc.stderr
    # Three songs, one per split: set by hand (the splitter balances classes over larger sets).
    manifest_path = tree.datasets / "songs" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    for sample in manifest["samples"]:
        sample["split"] = SONGS[sample["original_names"][0][:3]][1]
    manifest_path.write_text(json.dumps(manifest))
    return read_training_set(tree.datasets, "songs")


@pytest.mark.parametrize("key", ["MelodyTransformer", "HarmonyPredictor", "DynamicsEngine"])
def test_real_songs_train_and_export(songs, key, tmp_path):
    recipe = RECIPES[key]
    defaults = parse_training_section({}, base_dir=tmp_path).for_model(recipe.model)
    settings = ModelSettings(**{**defaults.__dict__, "max_epochs": 3, "warmup_epochs": 1, "window": 12})
    data = build_model_data(songs, recipe, settings, schema_version=FEATURE_SCHEMA_VERSION)
    for split in ("train", "val", "test"):
        part = data.splits[split]
        assert len(part) > 0 and part.inputs.shape[1:] == (12, len(data.feature_names))
        assert np.all(np.isfinite(part.inputs))
    if key == "DynamicsEngine":
        velocity = data.splits["train"].targets["velocity"]
        assert 1 <= velocity.min() and velocity.max() <= 127 and velocity.std() > 1
    else:
        first = data.heads[0].name
        assert data.splits["train"].targets[first].max() < data.heads[0].size
    torch.manual_seed(0)
    model = StreamNet(len(data.feature_names), architecture(settings, data.output_size))
    result = fit(model, data, settings, seed=1, device=torch.device("cpu"))
    assert 1 <= result.best_epoch <= 3
    majority = {h.name: majority_class(data.splits["train"], h) for h in data.heads if h.kind == "class"}
    metrics, _ = evaluate(predict(model, data.normalised("test"), torch.device("cpu")), data.splits["test"],
                          data.heads, majority)
    assert metrics and all(np.isfinite(m.value) and m.count > 0 for m in metrics.values())
    document = json.loads(json.dumps(rtneural_json(model, {"model": key})))
    frames = data.normalised("test")[0]
    with torch.no_grad():
        expected = model.eval()(torch.from_numpy(frames)[None])[0].numpy()
    assert np.abs(NumpyRTNeural(document).run(frames) - expected).max() < 1e-5
