"""Configuration: typed once, and every mistake names its key."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import tomli_w

from kellyd.config import DEFAULT_CONFIG_PATH, config_from_mapping, load_config
from kellyd.config_docs import DOCS, SECTIONS, default_config_text
from kellyd.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


def base(tmp_path: Path) -> dict:
    for d in ("inbox", "datasets"):
        (tmp_path / d).mkdir(exist_ok=True)
    (tmp_path / "a-file").write_text("not a folder")
    return {"paths": {"inbox": "inbox", "datasets": "datasets", "state": "state", "staging": str(tmp_path / "st")},
            "datasets": {"emo": {"target_model": "EmotionRecognizer", "chain": ["import", "annotate"]}},
            "freesound": {"dataset": "emo"}}


def with_change(cfg: dict, dotted: str, value) -> dict:
    node = cfg
    *parents, last = dotted.split(".")
    for p in parents:
        node = node.setdefault(p, {})
    node[last] = value
    return cfg


@pytest.mark.parametrize("key, value, message", [
    ("watch.settle_s", -1, "must be at least 0.0"),
    ("watch.rescan_s", 0, "must be greater than 0.0"),
    ("watch.settle_s", "fast", "expected float"),
    ("watch.speed", 3, "unknown key"),
    ("executor.kind", "threads", "must be one of 'local' | 'dask'"),
    ("executor.workers", 1.5, "expected int"),
    ("logging.level", "loud", "must be one of"),
    ("schedule.validate", "every tuesday", "expected 'off', an interval"),
    ("schedule.validate", "0 99 * * *", "bad cron expression"),
    ("datasets.emo.target_model", "Beatles", "must be one of EmotionRecognizer"),
    ("datasets.emo.chain", ["import", "magic"], "unknown handler 'magic'"),
    ("datasets.emo.chain", ["annotate"], "must start with 'import'"),
    ("datasets.emo.splits", [0.5, 0.5, 0.5], "summing to 1"),
    ("datasets.emo.group_by", "(unclosed", "not a regular expression"),
    ("datasets.emo.group_by", r"\d+", "named group"),
    ("datasets.emo.multiplier", 0, "must be at least 1"),
    ("datasets.emo.on_import", "teleport", "must be one of 'move' | 'copy'"),
    ("validate.min_entropy", 1.5, "must be a share from 0 to 1"),
    ("validate.max_listed", 0, "must be a whole number of at least 1"),
    ("validate.min_split_for_balance", 2.5, "expected int"),
    ("datasets.emo.augment_transforms", [-3, 3], "expected table"),
    ("datasets.emo.augment_transforms", {}, "lists no transform"),
    ("datasets.emo.augment_transforms", {"reverse": [0, 1]}, "unknown transform"),
    ("datasets.emo.augment_transforms", {"transpose": [-20, 3]}, "must satisfy -12"),
    ("datasets.emo.augment_transforms", {"stretch": "wide"}, "must be a number or [low, high]"),
    ("paths.inbox", "a-file", "exists and is not a folder"),
    ("paths.state", "a-file/state", "cannot be created"),
    ("freesound.dataset", "nope", "not configured"),
    ("colours", {"x": 1}, "unknown section"),
])
def test_bad_values_name_the_key(tmp_path, key, value, message):
    cfg = with_change(base(tmp_path), key, value)
    with pytest.raises(ConfigError) as info:
        config_from_mapping(cfg, source=tmp_path / "config.toml")
    expected_key = key.split(".")[0] if key == "colours" else key
    assert info.value.key.startswith(expected_key), info.value
    assert message in info.value.reason


def test_the_embedded_default_is_valid():
    cfg = load_config(DEFAULT_CONFIG_PATH)
    assert set(cfg.datasets) == {"emotion_dataset_v1", "melody_dataset_v1", "harmony_dataset_v1",
                                 "dynamics_dataset_v1", "groove_dataset_v1"}
    assert cfg.paths.inbox == REPO / "inbox"


def test_config_check_refuses_and_names_the_key(tmp_path):
    cfg = with_change(base(tmp_path), "watch.settle_s", -2)
    path = tmp_path / "config.toml"
    path.write_text(tomli_w.dumps(cfg))
    proc = subprocess.run([sys.executable, "-m", "kellyd", "--config", str(path), "config", "check"],
                          capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 2
    assert "watch.settle_s" in proc.stderr and "-2" in proc.stderr
    run = subprocess.run([sys.executable, "-m", "kellyd", "--config", str(path), "run"],
                         capture_output=True, text=True, cwd=REPO, timeout=60)
    assert run.returncode == 2 and "watch.settle_s" in run.stderr


def test_init_writes_a_commented_default_that_parses(tmp_path):
    text = default_config_text()
    data = tomllib.loads(text)
    assert data["watch"]["settle_s"] == 1.0 and "emotion_dataset_v1" in data["datasets"]
    assert text.count("\n# ") > 30


def test_every_key_is_documented_in_docs_and_readme():
    import dataclasses

    from kellyd.config import DatasetConfig
    from kellyd.freesound.settings import FreesoundSettings
    from kellyd.train.settings import KEY_DOCS

    readme = (REPO / "README.md").read_text()
    keys = [f"{name}.{f.name}" for name, cls in SECTIONS.items() for f in dataclasses.fields(cls)]
    keys += [f"datasets.<id>.{f.name}" for f in dataclasses.fields(DatasetConfig)]
    keys += [f"freesound.{f.name}" for f in dataclasses.fields(FreesoundSettings)]
    keys += [f"training.{name}" for name in KEY_DOCS if not name.startswith("<Model>")]
    keys += [f"training.<Model>.{name.split('.')[1]}" for name in KEY_DOCS if name.startswith("<Model>")]
    missing_docs = [k for k in keys if not k.startswith("training.") and k not in DOCS]
    assert missing_docs == []
    missing_readme = [k for k in keys if not re.search(rf"`{re.escape(k.split('.')[-1])}`", readme)]
    assert missing_readme == []
