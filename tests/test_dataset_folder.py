"""A dataset folder moved, removed or replaced while kellyd runs: found by identity, never made again by a
write, and not blamed on the files whose steps lost their input. Real folders and files."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from kellyd.atomic import DatasetFolderGone, atomic_write_bytes, write_group, writes_inside
from kellyd.config import DatasetConfig
from kellyd.dataset import create_layout, datasets_on_disk
from kellyd.dataset_folder import away_reason, folder_identity
from kellyd.outcome import run_step
from kellyd.sample import Sample


def test_a_write_makes_missing_folders_under_the_dataset_folder_but_never_the_folder_itself(tmp_path):
    root = tmp_path / "mix"
    root.mkdir()
    with writes_inside(root):
        atomic_write_bytes(root / "processed" / "features" / "a.json", b"{}")
        assert (root / "processed" / "features" / "a.json").read_bytes() == b"{}"
        os.rename(root, tmp_path / "mix.old")
        for target in (root / "processed" / "features" / "b.json", root / "manifest.json"):
            with pytest.raises(DatasetFolderGone) as caught:
                atomic_write_bytes(target, b"{}")
            assert caught.value.filename == str(root)
            assert "the dataset folder is not there (moved or removed?)" in str(caught.value)
        assert not root.exists()
    # Outside the bound, and for paths elsewhere, a write makes every folder it lacks, as before.
    atomic_write_bytes(root / "new" / "c.json", b"{}")
    with writes_inside(tmp_path / "other"):
        atomic_write_bytes(tmp_path / "state" / "d.json", b"{}")
    assert (root / "new" / "c.json").exists() and (tmp_path / "state" / "d.json").exists()


def test_the_folder_is_not_made_again_inside_a_write_group_either(tmp_path):
    root = tmp_path / "mix"
    with write_group(), writes_inside(root):
        with pytest.raises(DatasetFolderGone):
            atomic_write_bytes(root / "raw" / "midi" / "a.mid", b"MThd")
    assert not root.exists()


def test_the_folder_laid_out_is_known_by_identity_not_by_name(tmp_path):
    root = tmp_path / "mix"
    root.mkdir()
    laid_out = folder_identity(root)
    assert laid_out is not None and away_reason(root, laid_out) is None
    os.rename(root, tmp_path / "mix.old")
    gone = away_reason(root, laid_out)
    assert gone.startswith(f"the dataset folder {root} is gone (moved or removed) while kellyd ran; its jobs wait")
    root.mkdir()  # a new, empty folder of the same name
    assert "was replaced by another folder" in away_reason(root, laid_out)
    root.rmdir()
    os.symlink(tmp_path / "mix.old", root)  # a link to it is not the folder laid out
    assert "is gone" in away_reason(root, laid_out)
    os.unlink(root)
    os.rename(tmp_path / "mix.old", root)  # moved back: the same folder
    assert away_reason(root, laid_out) is None
    assert away_reason(tmp_path / "never", None) is None  # nothing was laid out: nothing to compare


class ReadsItsInput:
    name = "features"
    version = 1

    def __init__(self, path):
        self.path = path

    def __call__(self, sample):
        self.path.read_bytes()
        return sample


def test_a_step_whose_input_went_with_its_dataset_folder_is_retried_not_an_internal_error(tmp_path):
    root = tmp_path / "mix"
    (root / "raw").mkdir(parents=True)
    sample = Sample(dataset_id="mix", origin_path="/in/a.mid", file_path="raw/a.mid")
    handler = ReadsItsInput(root / "raw" / "a.mid")
    assert run_step(handler, sample, dataset_root=root).status == "error"  # the folder is there: the file's fault
    shutil.move(root, tmp_path / "mix.old")
    outcome = run_step(handler, sample, dataset_root=root)
    assert outcome.status == "retry" and outcome.reason == f"the dataset folder is not there (moved or removed?): {root}"
    assert run_step(handler, sample).status == "error"  # no folder given: nothing to tell


def test_a_moved_or_copied_dataset_folder_is_not_served_as_a_dataset_of_its_own(tmp_path):
    settings = DatasetConfig(target_model="GroovePredictor")
    create_layout(tmp_path / "grooves", "grooves", settings)
    shutil.copytree(tmp_path / "grooves", tmp_path / "grooves.old")
    refused = {}
    assert set(datasets_on_disk(tmp_path, {}, refused=refused)) == {"grooves"}
    assert refused["grooves.old"].reason.startswith("dataset_id is 'grooves': a moved or copied folder of that dataset")
    assert json.loads((tmp_path / "grooves.old" / "config.json").read_text())["dataset_id"] == "grooves"  # untouched
    config = json.loads((tmp_path / "grooves.old" / "config.json").read_text())
    (tmp_path / "grooves.old" / "config.json").write_text(json.dumps({**config, "dataset_id": "grooves.old"}))
    assert set(datasets_on_disk(tmp_path, {})) == {"grooves", "grooves.old"}  # named for its folder: served


def test_a_validation_report_does_not_lay_out_a_dataset_folder_that_went_away(tmp_path):
    from kellyd.reports import write_stamps

    root = tmp_path / "mix"
    with pytest.raises(DatasetFolderGone):
        write_stamps(root, {})
    assert not root.exists()
    root.mkdir()
    assert write_stamps(root, {}).is_file()  # the reports folder under it is made as before


def test_the_parquet_manifest_does_not_lay_out_a_dataset_folder_that_went_away(tmp_path):
    from kellyd.catalog import Catalog
    from kellyd.manifest_parquet import write_manifest_parquet

    catalog = Catalog(tmp_path / "catalog.sqlite3")
    try:
        with pytest.raises(DatasetFolderGone):
            write_manifest_parquet(catalog, "mix", tmp_path / "mix")
        assert not (tmp_path / "mix").exists()
        (tmp_path / "mix").mkdir()
        assert write_manifest_parquet(catalog, "mix", tmp_path / "mix").rows == 0
        assert (tmp_path / "mix" / "manifest.parquet").is_dir()
    finally:
        catalog.close()
