"""`kellyd export`: each format reads back equal to the dataset (splits, labels, feature vectors),
and refusals leave OUT as it was with a clear message and exit code."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from kellyd.exitcodes import EXIT_CONFIG, EXIT_OK, EXIT_SKIPPED
from tests.daemon.harness import make_tree, run_cli
from tests.data.conftest import DATASET, dataset_config
from tests.data.test_manifest_parquet import assert_rows_equal_manifest

SPLIT_FILES = {"train": "train", "val": "val", "test": "test"}


def read_parquet_export(out: Path, tmp_path: Path) -> dict[str, list[dict]]:
    import pyarrow.parquet as pq

    return {split: pq.read_table(out / f"{split}.parquet").to_pylist() for split in SPLIT_FILES}


def read_jsonl_export(out: Path, tmp_path: Path) -> dict[str, list[dict]]:
    by_split = {}
    for split in SPLIT_FILES:
        rows = [json.loads(line) for line in (out / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()]
        # Back to the table's columns, to compare the same way as the other formats.
        by_split[split] = [{**{k: v for k, v in r.items() if k not in ("annotations", "source", "augmentation")},
                            "annotations_json": json.dumps(r["annotations"]), "source_json": json.dumps(r["source"]),
                            "augmentation_json": None if r["augmentation"] is None else json.dumps(r["augmentation"])}
                           for r in rows]
    return by_split


def read_hf_export(out: Path, tmp_path: Path) -> dict[str, list[dict]]:
    import datasets

    loaded = datasets.load_dataset(str(out), cache_dir=str(tmp_path / "hf"))
    assert set(loaded) == {"train", "validation", "test"}
    return {"train": loaded["train"].to_list(), "val": loaded["validation"].to_list(),
            "test": loaded["test"].to_list()}


READERS = {"parquet": read_parquet_export, "jsonl": read_jsonl_export, "hf": read_hf_export}


@pytest.mark.parametrize("fmt", sorted(READERS))
def test_each_format_reads_back_equal_to_the_dataset(moods, fmt, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    out = tmp_path / "handover" / fmt
    proc = run_cli(moods.tree, "export", "--format", fmt, "--dataset", moods.dataset_id, str(out))
    assert proc.returncode == EXIT_OK, proc.stderr[-2000:]
    printed = json.loads(proc.stdout)
    by_split = READERS[fmt](out, tmp_path)
    for split, rows in by_split.items():
        assert all(r["split"] == split for r in rows)
        assert printed["splits"][split]["samples"] == len(rows)
    assert_rows_equal_manifest([r for rows in by_split.values() for r in rows], moods)
    record = json.loads((out / "export.json").read_text())
    assert record["format"] == fmt and record["samples"] == len(moods.entries())
    assert len(record["feature_vector_names"]) == np.asarray(by_split["train"][0]["feature_vector"]).size
    assert [p.name for p in out.parent.iterdir()] == [fmt], "no scratch folder is left beside OUT"


def test_refusals_name_the_problem_and_leave_out_alone(moods, tmp_path):
    unknown = run_cli(moods.tree, "export", "--format", "parquet", "--dataset", "nope", str(tmp_path / "a"))
    assert unknown.returncode == EXIT_CONFIG
    assert "dataset 'nope' is unknown" in unknown.stderr and moods.dataset_id in unknown.stderr
    assert not (tmp_path / "a").exists()

    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "keep.txt").write_text("theirs")
    refused = run_cli(moods.tree, "export", "--format", "hf", "--dataset", moods.dataset_id, str(taken))
    assert refused.returncode == EXIT_CONFIG and "exists and is not empty" in refused.stderr
    assert [p.name for p in taken.iterdir()] == ["keep.txt"] and (taken / "keep.txt").read_text() == "theirs"

    a_file = tmp_path / "file.out"
    a_file.write_text("x")
    assert run_cli(moods.tree, "export", "--format", "jsonl", "--dataset", moods.dataset_id,
                   str(a_file)).returncode == EXIT_CONFIG
    assert a_file.read_text() == "x"

    bad_format = run_cli(moods.tree, "export", "--format", "csv", "--dataset", moods.dataset_id, str(tmp_path / "b"))
    assert bad_format.returncode == EXIT_CONFIG and "invalid choice" in bad_format.stderr

    empty = tmp_path / "empty"
    empty.mkdir()
    into_empty = run_cli(moods.tree, "export", "--format", "parquet", "--dataset", moods.dataset_id, str(empty))
    assert into_empty.returncode == EXIT_OK and (empty / "train.parquet").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "file.out", "taken"]


def test_a_dataset_without_samples_exports_nothing(tmp_path):
    tree = make_tree(tmp_path / "tree", datasets=dataset_config())
    created = run_cli(tree, "dataset", "create", "fresh", "--target-model", "GroovePredictor")
    assert created.returncode == 0, created.stderr
    out = tmp_path / "fresh-out"
    proc = run_cli(tree, "export", "--format", "jsonl", "--dataset", "fresh", str(out))
    assert proc.returncode == EXIT_SKIPPED, proc.stderr
    assert "dataset 'fresh' has no samples yet" in proc.stderr and not out.exists()
    never_run = run_cli(tree, "export", "--format", "jsonl", "--dataset", DATASET, str(out))
    assert never_run.returncode == EXIT_SKIPPED and f"dataset {DATASET!r} has no samples yet" in never_run.stderr
    assert not out.exists()
