"""The gate judges every head against its baselines (majority or mean, and the classical one), compares a
challenger only with the champion of the same dataset and feature schema, and refuses to judge on too few
validation groups. Real models trained on real drums (`tests.train.conftest`)."""

from __future__ import annotations

import json
import re
import shutil

import torch

from kellyd.handlers.features import FEATURE_SCHEMA_VERSION
from kellyd.train.baseline import fit_classical
from kellyd.train.checkpoint import load_checkpoint
from kellyd.train.command import _features_of, train
from kellyd.train.data import build_model_data
from kellyd.train.dataset import read_training_set
from kellyd.train.gate import judge
from kellyd.train.metrics import head_slices
from kellyd.train.recipes import recipes_for
from kellyd.splits import file_name_of
from kellyd.train.registry import champion_entry, champion_key, read_registry
from kellyd.train.settings import parse_training_section, with_overrides
from tests.train.conftest import DATASET, NOW, TRAINING_TABLE, copy_tree

CPU = torch.device("cpu")


def _groove_data(trained):
    training_set = read_training_set(trained.built.datasets, DATASET)
    (recipe,) = recipes_for("GroovePredictor", training_set)
    settings = parse_training_section(TRAINING_TABLE, base_dir=trained.built.tree_root)
    data = build_model_data(training_set, recipe, settings.for_model("GroovePredictor"),
                            schema_version=FEATURE_SCHEMA_VERSION)
    return data, fit_classical(data, _features_of(training_set, data))


def test_a_model_with_one_head_no_better_than_its_baseline_is_refused(trained):
    document = read_registry(trained.registry)
    entry = champion_entry(document, "GroovePredictor", DATASET, FEATURE_SCHEMA_VERSION)
    assert entry is not None and entry["promoted"]
    data, classical = _groove_data(trained)
    model, _ = load_checkpoint(trained.models_dir / entry["files"]["checkpoint"]["path"])
    intact = judge(model, data, classical.outputs["val"], None, None, CPU)
    assert intact.promoted and all(h.passed for h in intact.heads), intact.reason
    assert {tuple(h.baselines) for h in intact.heads} == {("majority", "logistic"), ("mean", "ridge")}

    # The same network with its groove-type outputs silenced: that head now calls every window the
    # first class, while the timing and velocity heads are exactly as good as before.
    where = head_slices(data.heads)["groove_type"]
    with torch.no_grad():
        model.layers[-1].weight[where] = 0.0
        model.layers[-1].bias[where] = 0.0
    broken = judge(model, data, classical.outputs["val"], None, None, CPU)
    assert broken.decision == "below_baseline" and not broken.promoted
    verdicts = {h.head: h for h in broken.heads}
    assert not verdicts["groove_type"].passed and "groove_type" in broken.reason
    assert "majority" in verdicts["groove_type"].reason
    others = [h for h in broken.heads if h.head != "groove_type"]
    assert others and all(h.passed for h in others)
    assert [h.challenger for h in others] == [h.challenger for h in intact.heads if h.head != "groove_type"]


def test_the_registry_records_each_head_against_each_baseline_per_clip(trained):
    document = read_registry(trained.registry)
    entry = champion_entry(document, "GroovePredictor", DATASET, FEATURE_SCHEMA_VERSION)
    heads = {h["head"]: h for h in entry["gate"]["heads"]}
    assert set(heads) == {"groove_type", "offset_rel_ms", "velocity_rel"}
    assert heads["groove_type"]["metric"] == "macro_f1" and heads["offset_rel_ms"]["metric"] == "mae"
    assert entry["gate"]["validation_groups"] >= 8 and entry["classical"]["features"] > 100
    for split in ("val", "test"):
        clip = entry["clip_metrics"][split]["groove_type.macro_f1"]
        window = entry["metrics"][split]["groove_type.macro_f1"]
        assert clip["count"] == entry["dataset"]["samples"][split] < window["count"]
        assert 0.0 <= clip["classical"] <= 1.0 and 0.0 <= window["classical"] <= 1.0
    val = entry["clip_metrics"]["val"]["groove_type.macro_f1"]
    assert heads["groove_type"]["challenger"] == val["value"]
    assert heads["groove_type"]["baselines"] == {"majority": val["baseline"], "logistic": val["classical"]}


def test_a_champion_of_another_dataset_is_never_the_comparison(trained, tmp_path):
    built = copy_tree(trained.built, tmp_path / "t")
    shutil.copytree(built.root, built.datasets / "grooves_copy")
    settings = parse_training_section(TRAINING_TABLE, base_dir=built.tree_root)
    settings = with_overrides(settings, "GroovePredictor", max_epochs=2, warmup_epochs=1,
                              max_examples_per_sample=4)
    before = read_registry(settings.registry)
    assert before["models"]["GroovePredictor"]["current"] == "v0001"

    other = train(built.datasets, "grooves_copy", settings, model="GroovePredictor", now=NOW, log=lambda line: None)
    assert other.status == "trained", other.reasons
    gate = read_registry(settings.registry)["models"]["GroovePredictor"]["versions"][-1]["gate"]
    assert gate["champion_version"] is None and gate["champion_score"] is None
    assert all(h["champion"] is None for h in gate["heads"]) and "v0001" not in gate["reason"]

    # The same short training on the champion's own dataset is judged against it.
    same = train(built.datasets, DATASET, settings, model="GroovePredictor", now=NOW, log=lambda line: None)
    assert same.status == "trained", same.reasons
    after = read_registry(settings.registry)
    gate = after["models"]["GroovePredictor"]["versions"][-1]["gate"]
    assert gate["champion_version"] == "v0001" and all(h["champion"] is not None for h in gate["heads"])
    champions = after["models"]["GroovePredictor"]["champions"]
    assert champions[champion_key(DATASET, FEATURE_SCHEMA_VERSION)] == "v0001"


def test_too_few_validation_groups_refuse_training_with_the_reason(trained, tmp_path):
    built = copy_tree(trained.built, tmp_path / "t")
    settings = parse_training_section({**TRAINING_TABLE, "min_val_groups": 1000}, base_dir=built.tree_root)
    registry_before = settings.registry.read_bytes()
    result = train(built.datasets, DATASET, settings, model="GroovePredictor", now=NOW, log=lambda line: None)
    assert result.status == "refused" and result.exit_code == 1
    (reason,) = result.reasons
    val_groups = len({s["sample_id"] for s in json.loads((built.root / "manifest.json").read_text())["samples"]
                      if s["split"] == "val" and not s.get("parent_id")})
    assert f"holds {val_groups} group(s)" in reason and "min_val_groups = 1000" in reason, reason
    assert settings.registry.read_bytes() == registry_before, "nothing is trained or registered"


def test_a_format_1_registry_is_read_with_its_current_model_as_the_champion_of_its_data(trained, tmp_path):
    document = json.loads(trained.registry.read_text())
    old = {**document, "format_version": 1,
           "models": {k: {"current": v["current"], "versions": v["versions"]} for k, v in document["models"].items()}}
    path = tmp_path / "registry.json"
    path.write_text(json.dumps(old))
    migrated = read_registry(path)
    assert migrated["format_version"] == 2
    groove = migrated["models"]["GroovePredictor"]
    assert groove["champions"] == {champion_key(DATASET, FEATURE_SCHEMA_VERSION): groove["current"]}
    assert champion_entry(migrated, "GroovePredictor", "another_dataset", FEATURE_SCHEMA_VERSION) is None


def _own_split(built) -> dict[str, str]:
    """File name -> split of the dataset's own split (the one `trained`'s v0001 was trained on)."""
    samples = read_training_set(built.datasets, DATASET).samples
    return {file_name_of(s): s.split for s in samples if not s.parent_id}


def _train_with(built, settings, tmp_path, splits: dict[str, str] | None):
    split_file = None
    if splits is not None:
        split_file = tmp_path / f"fold{len(list(tmp_path.glob('fold*.json')))}.json"
        split_file.write_text(json.dumps(splits))
    result = train(built.datasets, DATASET, settings, model="GroovePredictor", now=NOW, log=lambda line: None,
                   split_file=split_file)
    assert result.status == "trained", result.reasons
    return read_registry(settings.registry)["models"]["GroovePredictor"]["versions"][-1]


def _short(built, **overrides):
    settings = parse_training_section(TRAINING_TABLE, base_dir=built.tree_root)
    return with_overrides(settings, "GroovePredictor", warmup_epochs=1, max_examples_per_sample=4,
                          **{"max_epochs": 2, **overrides})


def test_a_champion_that_trained_on_todays_validation_samples_is_not_the_comparison(trained, tmp_path):
    built = copy_tree(trained.built, tmp_path / "t")
    own = _own_split(built)
    own_train = sorted(n for n, split in own.items() if split == "train")
    # A fold whose validation half is samples v0001 trained on, and whose training split holds every
    # sample of the dataset's own validation split.
    moved = set(own_train[::2])
    fold = {n: "val" if n in moved else ("test" if split == "test" else "train") for n, split in own.items()}
    entry = _train_with(built, _short(built, max_epochs=12), tmp_path, fold)
    gate = entry["gate"]
    assert gate["champion_version"] is None and gate["champion_score"] is None, gate
    assert "v0001 is not the comparison: it trained on" in gate["reason"], gate["reason"]
    assert all(h["champion"] is None and "v0001" in h["champion_skipped"] for h in gate["heads"])
    # Judged against the baselines alone: this fold's model beats them and becomes the champion.
    assert gate["decision"] == "promoted", gate["reason"]
    assert entry["version"] == "v0002"

    # Back on the dataset's own split: its validation samples are ones v0002 trained on.
    gate = _train_with(built, _short(built), tmp_path, None)["gate"]
    assert gate["champion_version"] is None and "v0002 is not the comparison" in gate["reason"], gate["reason"]
    seen, scored = re.search(r"trained on (\d+) of these (\d+) validation samples", gate["reason"]).groups()
    assert seen == scored and int(seen) > 0, gate["reason"]
    assert all(h["champion"] is None and "v0002" in h["champion_skipped"] for h in gate["heads"])


def test_a_champion_that_never_trained_on_todays_validation_samples_is_the_comparison(trained, tmp_path):
    built = copy_tree(trained.built, tmp_path / "t")
    settings = _short(built)
    own = _own_split(built)
    # Another split with the same validation samples: a few of v0001's training samples go to test.
    few = set(sorted(n for n, split in own.items() if split == "train")[:6])
    fold = {n: "test" if n in few else split for n, split in own.items()}
    gate = _train_with(built, settings, tmp_path, fold)["gate"]
    assert gate["champion_version"] == "v0001" and gate["champion_score"] is not None, gate["reason"]
    assert all(h["champion"] is not None and h["champion_skipped"] is None for h in gate["heads"])

    # Without v0001's list of samples the overlap is unknown: a split file's validation may hold its
    # training samples, so it is not compared; the dataset's own split still compares it.
    (settings.models_dir / "GroovePredictor" / "v0001" / "samples.txt").unlink()
    gate = _train_with(built, settings, tmp_path, None)["gate"]
    assert gate["champion_version"] == "v0001" and all(h["champion"] is not None for h in gate["heads"])
    gate = _train_with(built, settings, tmp_path, fold)["gate"]
    assert gate["champion_version"] is None and "v0001 is not the comparison" in gate["reason"], gate["reason"]
    assert "are not recorded" in gate["reason"] and all(h["champion"] is None for h in gate["heads"])
