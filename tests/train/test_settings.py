"""The [training] section: defaults, per-model tables, paths relative to the config folder."""

from __future__ import annotations

from pathlib import Path

from kellyd.train.settings import KEY_DOCS, ModelSettings, TrainingSettings, parse_training_section, with_overrides


def test_defaults_follow_the_brief(tmp_path):
    settings = parse_training_section({}, base_dir=tmp_path)
    assert settings.registry == tmp_path / "models" / "registry.json"
    assert settings.models_dir == tmp_path / "models"
    assert (settings.device, settings.retrain_min_change, settings.nice) == ("auto", 0.1, 10)
    groove = settings.for_model("GroovePredictor")
    assert (groove.optimizer, groove.lr, groove.batch_size, groove.patience, groove.min_delta) == (
        "adamw", 1e-3, 16, 15, 1e-3)
    assert settings.for_model("MelodyTransformer").cell == "lstm"


def test_a_model_table_overrides_only_its_keys_and_absolute_paths_stay(tmp_path):
    table = {"registry": "/srv/kelly/registry.json", "models_dir": "weights",
             "GroovePredictor": {"hidden": 64, "optimizer": "adam"}}
    settings = parse_training_section(table, base_dir=tmp_path)
    assert settings.registry == Path("/srv/kelly/registry.json") and settings.models_dir == tmp_path / "weights"
    groove = settings.for_model("GroovePredictor")
    assert (groove.hidden, groove.optimizer, groove.window) == (64, "adam", 32)
    assert settings.for_model("DynamicsEngine").conv_kernel == 3


def test_overrides_make_a_new_value(tmp_path):
    settings = parse_training_section({}, base_dir=tmp_path)
    shorter = with_overrides(settings, "EmotionRecognizer", max_epochs=5)
    assert shorter.for_model("EmotionRecognizer").max_epochs == 5
    assert settings.for_model("EmotionRecognizer").max_epochs == ModelSettings().max_epochs


def test_every_key_is_documented():
    top = {f for f in TrainingSettings.__dataclass_fields__ if f != "models"}
    per_model = {f"<Model>.{f}" for f in ModelSettings.__dataclass_fields__}
    assert top | per_model == set(KEY_DOCS)
