"""One-shot commands: `kellyd import`, `kellyd dataset create`, and recompute after a version bump."""

from __future__ import annotations

import json
import shutil
import time

import pytest

from kellyd.handlers.annotate import Annotate
from kellyd.batch import batch_runner, run_until_idle
from kellyd.catalog import Catalog
from kellyd.config import load_config
from tests.daemon.harness import DaemonProcess, make_tree, run_cli


def _drop(corpus, folder, n=6):
    files = sorted(corpus.glob("groove_midi/drummer1/session1/*.mid"))[:n]
    for i, src in enumerate(files):
        dst = folder / ("swing" if i % 2 else "straight") / src.name
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
    return files


def test_import_folder_copies_with_labels_from_subfolders(tmp_path, corpus):
    tree = make_tree(tmp_path / "t")
    src = tmp_path / "mine"
    files = _drop(corpus, src)
    shutil.copyfile(files[0], src / "straight" / "again.mid")
    proc = run_cli(tree, "import", str(src), "--dataset", "mix")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result == {"files": 7, "added": 6, "duplicates": 1, "quarantined": 0, "children_added": 0}
    samples = tree.manifest_samples("mix")
    assert len(samples) == 6 and all(s["source"]["type"] == "import" for s in samples)
    assert {s["annotations"]["groove_type"] for s in samples} == {"swing", "straight"}
    assert all(s["split"] in ("train", "val", "test") for s in samples)
    assert len(list(src.rglob("*.mid"))) == 7, "import copies unless --move"


def test_import_is_refused_while_the_daemon_runs(tmp_path, corpus):
    tree = make_tree(tmp_path / "t")
    src = tmp_path / "mine"
    _drop(corpus, src, 1)
    daemon = DaemonProcess(tree)
    try:
        daemon.wait_started()
        proc = run_cli(tree, "import", str(src), "--dataset", "mix")
        assert proc.returncode == 3 and "another kellyd" in proc.stderr
    finally:
        daemon.stop()


def test_unknown_dataset_is_named(tmp_path):
    tree = make_tree(tmp_path / "t")
    proc = run_cli(tree, "import", str(tmp_path), "--dataset", "nope")
    assert proc.returncode == 2 and "unknown dataset 'nope'" in proc.stderr


def test_a_dataset_whose_config_json_is_refused_is_named_with_the_refused_key(tmp_path):
    tree = make_tree(tmp_path / "t")
    (tree.datasets / "broken").mkdir(parents=True)
    (tree.datasets / "broken" / "config.json").write_text(json.dumps({"target_model": "GroovePredictor",
                                                                     "splits": [0.5, 0.5, 0.5]}))
    for command in (("import", str(tmp_path)), ("validate",), ("train", "--model", "GroovePredictor")):
        proc = run_cli(tree, *command, "--dataset", "broken")
        assert proc.returncode == 2, (command, proc.stderr)
        assert "broken/config.json.splits" in proc.stderr and "summing to 1" in proc.stderr, (command, proc.stderr)


@pytest.mark.parametrize("name", ["../escaped", "a/b", ".hidden", "_private", "mix\n", ""])
def test_dataset_create_refuses_a_name_that_is_not_a_dataset_id(tmp_path, name):
    tree = make_tree(tmp_path / "t")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    proc = run_cli(tree, "dataset", "create", name, "--target-model", "GroovePredictor")
    assert proc.returncode == 2
    assert proc.stderr.startswith("kellyd: config error at NAME: a dataset id uses letters, digits, '_', '-' and '.'")
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before  # nothing laid out anywhere


def test_dataset_create_lays_out_the_tree_and_the_daemon_routes_to_it(tmp_path, corpus):
    tree = make_tree(tmp_path / "t")
    proc = run_cli(tree, "dataset", "create", "grooves", "--target-model", "GroovePredictor")
    assert proc.returncode == 0, proc.stderr
    root = tree.datasets / "grooves"
    for sub in ("raw/midi", "raw/audio", "processed/features", "annotations", "splits", "reports"):
        assert (root / sub).is_dir()
    assert json.loads((root / "config.json").read_text())["target_model"] == "GroovePredictor"
    src = tmp_path / "mine"
    _drop(corpus, src, 2)
    assert run_cli(tree, "import", str(src), "--dataset", "grooves").returncode == 0
    samples = tree.manifest_samples("grooves")
    originals = {s["sample_id"]: s for s in samples if s["parent_id"] is None}
    assert len(originals) == 2
    for child in (s for s in samples if s["parent_id"] is not None):  # the default chain augments train samples
        assert originals[child["parent_id"]]["split"] == child["split"] == "train"


def test_a_version_bump_recomputes_that_step(tmp_path, corpus, monkeypatch):
    tree = make_tree(tmp_path / "t")
    _drop(corpus, tmp_path / "mine", 3)
    assert run_cli(tree, "import", str(tmp_path / "mine"), "--dataset", "mix").returncode == 0
    cfg = load_config(tree.config)
    monkeypatch.setattr(Annotate, "version", 2)
    with batch_runner(cfg, "mix") as runner:
        assert runner.enqueue_stale_steps(now=time.time()) == 3
        run_until_idle(runner)
        assert runner.enqueue_stale_steps(now=time.time()) == 0
    catalog = Catalog(cfg.catalog_path)
    versions = catalog.db.execute("SELECT version FROM steps WHERE handler = 'annotate'").fetchall()
    catalog.close()
    assert versions == [(2,), (2,), (2,)]


def test_synthesize_registers_pieces_with_features_and_children(tmp_path):
    tree = make_tree(tmp_path / "t", datasets={"emo": {"target_model": "EmotionRecognizer", "multiplier": 2}})
    proc = run_cli(tree, "synthesize", "--dataset", "emo", "--count", "6", "--quiet")
    assert proc.returncode == 0, proc.stderr
    samples = tree.manifest_samples("emo")
    originals = [s for s in samples if s["parent_id"] is None]
    assert len(originals) == 6 and all(s["source"]["type"] == "synthetic" for s in originals)
    assert all(s["file_path"].startswith("raw/synthetic/emotion/") for s in originals)
    assert all(s["features_path"] for s in samples)
    train = [s for s in originals if s["split"] == "train"]
    assert len(samples) == 6 + 2 * len(train)
    again = run_cli(tree, "synthesize", "--dataset", "emo", "--count", "6", "--quiet")
    assert json.loads(again.stdout)["added"] == 0, "the same seed writes the same pieces: nothing new"


def test_synthesize_refuses_bad_parameters_before_writing(tmp_path):
    tree = make_tree(tmp_path / "t", datasets={"emo": {"target_model": "EmotionRecognizer"}})
    proc = run_cli(tree, "synthesize", "--dataset", "emo", "--count", "0")
    assert proc.returncode == 2 and "count must be a positive integer, got 0" in proc.stderr
    assert not (tree.datasets / "emo" / "raw" / "synthetic" / "emotion").exists()


def test_pipeline_imports_augments_splits_and_validates(tmp_path, corpus):
    datasets = {"g": {"target_model": "GroovePredictor", "chain": ["import", "annotate", "features", "augment"],
                      "multiplier": 1}}
    tree = make_tree(tmp_path / "t", datasets=datasets)
    _drop(corpus, tmp_path / "mine", 8)
    proc = run_cli(tree, "pipeline", "--dataset", "g", "--import-dir", str(tmp_path / "mine"), "--all",
                   "--multiplier", "2", "--quiet")
    steps = json.loads(proc.stdout)
    assert steps["import"]["added"] == 8
    assert steps["validate"]["verdict"] in ("ready", "usable_with_warnings", "invalid")
    # kellyd.exitcodes: 6 for an invalid verdict (8 files make small splits), else 0.
    assert proc.returncode == (6 if steps["validate"]["verdict"] == "invalid" else 0), proc.stderr
    samples = tree.manifest_samples("g")
    train = [s for s in samples if s["parent_id"] is None and s["split"] == "train"]
    children = [s for s in samples if s["parent_id"] is not None]
    assert len(children) == 2 * len(train), "--multiplier 2 gives every training sample two children"
    assert sum(steps["splits"].values()) == len(samples)
    assert (tree.datasets / "g" / "reports" / "latest.html").is_file()


def test_synthesize_fill_to_target_writes_what_the_classes_lack(tmp_path):
    datasets = {"g": {"target_model": "GroovePredictor", "chain": ["import", "annotate", "features"]}}
    tree = make_tree(tmp_path / "t", datasets=datasets)
    first = run_cli(tree, "synthesize", "--dataset", "g", "--fill-to-target", "10", "--quiet")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["added"] == 10
    types = [s["annotations"]["groove_type"] for s in tree.manifest_samples("g")]
    assert sorted(set(types)) == ["laid_back", "rushed", "shuffle", "straight", "swing"]
    assert all(types.count(t) == 2 for t in set(types))
    second = run_cli(tree, "synthesize", "--dataset", "g", "--fill-to-target", "5", "--quiet")
    assert json.loads(second.stdout)["added"] == 5, "a later fill writes new pieces, not the same ones"


def test_an_import_places_its_batch_the_same_way_whatever_order_the_workers_finish(tmp_path, corpus):
    source = tmp_path / "mine"
    _drop(corpus, source, 24)
    splits = []
    for name in ("one", "two"):
        tree = make_tree(tmp_path / name, datasets={"g": {"target_model": "GroovePredictor",
                                                          "chain": ["import", "annotate"]}})
        assert run_cli(tree, "import", str(source), "--dataset", "g", "--quiet").returncode == 0
        splits.append({s["sample_id"]: s["split"] for s in tree.manifest_samples("g")})
        listed = {i for part in ("train", "val", "test")
                  for i in (tree.datasets / "g" / "splits" / f"{part}.txt").read_text().split()}
        assert listed == set(splits[-1])
    assert splits[0] == splits[1] and len(splits[0]) == 24
    assert set(splits[0].values()) == {"train", "val", "test"}


def test_validation_thresholds_come_from_the_validate_section(tmp_path, corpus):
    def reasons(tree) -> dict[str, str]:
        proc = run_cli(tree, "validate", "--dataset", "g")
        assert proc.returncode == 0, proc.stderr
        report = json.loads((tree.datasets / "g" / "reports" / "latest.json").read_text())
        return {f"{r['family']}.{r['check']}": r for r in report["reasons"]}

    datasets = {"g": {"target_model": "GroovePredictor", "chain": ["import", "annotate"]}}
    mine = tmp_path / "mine"
    for i, src in enumerate(sorted(corpus.glob("groove_midi/drummer1/session1/*.mid"))[:6]):
        dst = mine / ("swing" if i == 0 else "straight") / src.name
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)

    default = make_tree(tmp_path / "default", datasets=datasets)
    assert run_cli(default, "import", str(mine), "--dataset", "g").returncode == 0
    assert "wanted at least 0.50" in reasons(default)["balance.imbalanced"]["message"]

    # GroovePredictor expects 5 classes, 3 of which have no file: the ratio is 0, below any threshold but 0.
    lenient = make_tree(tmp_path / "lenient", datasets=datasets, extra={"validate": {"min_balance_ratio": 0.0}})
    assert run_cli(lenient, "import", str(mine), "--dataset", "g").returncode == 0
    assert "balance.imbalanced" not in reasons(lenient)

    bad = make_tree(tmp_path / "bad", datasets=datasets, extra={"validate": {"min_balance_ratio": 1.5}})
    proc = run_cli(bad, "validate", "--dataset", "g")
    assert proc.returncode == 2 and "validate.min_balance_ratio" in proc.stderr and "from 0 to 1" in proc.stderr
