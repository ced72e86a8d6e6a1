"""Datasets training refuses before it starts, with the reason; bad settings name their key."""

from __future__ import annotations

import json

import pytest

from kellyd.errors import AlreadyRunning, ConfigError
from kellyd.lock import StateLock
from kellyd.train.command import train
from kellyd.train.settings import parse_training_section
from tests.train.conftest import DATASET, NOW, TRAINING_TABLE, copy_tree, write_splits_from_manifest


def _rewrite_manifest(root, change):
    path = root / "manifest.json"
    manifest = json.loads(path.read_text())
    for sample in manifest["samples"]:
        change(sample)
    path.write_text(json.dumps(manifest))
    write_splits_from_manifest(root)


def _train(built):
    settings = parse_training_section(TRAINING_TABLE, base_dir=built.tree_root)
    return train(built.datasets, DATASET, settings, now=NOW, log=lambda line: None), settings


def test_a_single_class_dataset_is_refused(groove_dataset, tmp_path):
    built = copy_tree(groove_dataset, tmp_path / "t")
    _rewrite_manifest(built.root, lambda s: s["annotations"].update(groove_type="straight"))
    result, settings = _train(built)
    assert result.status == "refused" and result.exit_code == 1
    assert any("constant_labels" in r and "'straight'" in r for r in result.reasons), result.reasons
    assert not settings.registry.exists(), "nothing is trained or registered"


def test_nan_features_are_refused(groove_dataset, tmp_path):
    built = copy_tree(groove_dataset, tmp_path / "t")
    feature = sorted((built.root / "processed" / "features").rglob("*.json"))[0]  # sharded: <shard>/<id>.json
    document = json.loads(feature.read_text())
    document["scalars"]["tempo_bpm"] = float("nan")
    feature.write_text(json.dumps(document))
    result, _ = _train(built)
    assert result.status == "refused"
    assert any("non_finite_features" in r and "NaN" in r for r in result.reasons), result.reasons


def test_an_empty_split_is_refused(groove_dataset, tmp_path):
    built = copy_tree(groove_dataset, tmp_path / "t")
    _rewrite_manifest(built.root, lambda s: s.update(split="train") if s["split"] == "val" else None)
    result, _ = _train(built)
    assert result.status == "refused"
    assert any("empty_split" in r and "val split is empty" in r for r in result.reasons), result.reasons


def test_a_missing_manifest_is_refused(tmp_path):
    settings = parse_training_section({}, base_dir=tmp_path)
    result = train(tmp_path, "nowhere", settings, now=NOW, log=lambda line: None)
    assert result.status == "refused" and "no manifest" in result.reasons[0]


def test_a_second_training_waits_for_none(groove_dataset, tmp_path):
    built = copy_tree(groove_dataset, tmp_path / "t")
    settings = parse_training_section(TRAINING_TABLE, base_dir=built.tree_root)
    holder = StateLock(settings.models_dir)
    holder.acquire(purpose="another training")
    try:
        with pytest.raises(AlreadyRunning, match="one training runs at a time"):
            train(built.datasets, DATASET, settings, now=NOW, log=lambda line: None)
    finally:
        holder.release()


def test_an_unknown_model_is_named(groove_dataset, tmp_path):
    settings = parse_training_section({}, base_dir=tmp_path)
    with pytest.raises(ValueError, match="unknown model 'Drummer'"):
        train(groove_dataset.datasets, DATASET, settings, model="Drummer", now=NOW, log=lambda line: None)


@pytest.mark.parametrize("table, key", [
    ({"device": "tpu"}, "training.device"),
    ({"retrain_min_change": 1.5}, "training.retrain_min_change"),
    ({"nice": 25}, "training.nice"),
    ({"colour": 1}, "training.colour"),
    ({"GroovePredictor": {"lr": 0}}, "training.GroovePredictor.lr"),
    ({"GroovePredictor": {"optimizer": "sgd"}}, "training.GroovePredictor.optimizer"),
    ({"GroovePredictor": {"max_epochs": 3, "warmup_epochs": 3}}, "training.GroovePredictor.warmup_epochs"),
    ({"GroovePredictor": {"dropout": 1.0}}, "training.GroovePredictor.dropout"),
    ({"GroovePredictor": {"conv_kernel": 1}}, "training.GroovePredictor.conv_kernel"),
    ({"GroovePredictor": {"batch_size": "16"}}, "training.GroovePredictor.batch_size"),
    ({"GroovePredictor": 3}, "training.GroovePredictor"),
])
def test_bad_settings_name_their_key(table, key, tmp_path):
    with pytest.raises(ConfigError) as caught:
        parse_training_section(table, base_dir=tmp_path)
    assert caught.value.key == key
