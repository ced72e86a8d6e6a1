"""Broken datasets are reported invalid (or warned about) with the reason named."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import numpy as np
import pytest

from kellyd.splits import SplitSettings
from kellyd.validate import validate_dataset

from .builders import GROOVE_SETTINGS, SCHEMA_VERSION, Entry, build_dataset, rewrite_catalog, write_features

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)


def validate(root, samples, **kwargs):
    kwargs.setdefault("verify_hashes", True)
    kwargs.setdefault("split_settings", GROOVE_SETTINGS)
    return validate_dataset(samples, root, target_model="GroovePredictor", schema_version=SCHEMA_VERSION,
                            now=NOW, **kwargs)


def errors(report):
    return {r.name for r in report.reasons_of("error")}


def test_the_intact_small_dataset_has_no_error(small_dataset):
    root, samples = small_dataset
    report = validate(root, samples)
    assert errors(report) == set()
    assert report.verdict == "usable_with_warnings"  # below the 1,000-per-type target


def test_missing_file(small_dataset):
    root, samples = small_dataset
    (root / samples[3].file_path).unlink()
    report = validate(root, samples)
    assert report.verdict == "invalid" and errors(report) == {"quality.file_missing"}
    reason = next(r for r in report.reasons if r.name == "quality.file_missing")
    assert reason.affected == (samples[3].file_path,)


@pytest.mark.parametrize("verify_hashes", [True, False])
def test_hash_mismatch_found_in_both_modes(small_dataset, verify_hashes):
    root, samples = small_dataset
    stamps = validate(root, samples).stamps
    with open(root / samples[5].file_path, "ab") as f:
        f.write(b"\0")
    report = validate(root, samples, verify_hashes=verify_hashes, recorded_stamps=stamps)
    assert "quality.hash_mismatch" in errors(report)
    assert samples[5].sample_id not in report.stamps


def test_cheap_mode_trusts_unchanged_files_only(small_dataset):
    root, samples = small_dataset
    stamps = validate(root, samples).stamps
    assert len(stamps) == 30
    changed = root / samples[0].file_path
    changed.write_bytes(changed.read_bytes())  # same content, new mtime
    report = validate(root, samples, verify_hashes=False, recorded_stamps=stamps)
    assert report.mode == "cheap" and errors(report) == set()
    assert (report.files_hashed, report.files_trusted) == (1, 29)


def test_nan_features(small_dataset):
    root, samples = small_dataset
    path = root / samples[2].features_path
    document = json.loads(path.read_text())
    document["nan_feature"] = float("nan")
    path.write_text(json.dumps(document))  # json writes NaN as a bare token, as numpy-minded writers do
    report = validate(root, samples)
    assert report.verdict == "invalid" and "quality.non_finite_features" in errors(report)


def test_nan_in_feature_arrays_full_mode(small_dataset):
    root, samples = small_dataset
    scalars = json.loads((root / samples[4].features_path).read_text())["scalars"]
    write_features(root, samples[4].sample_id, scalars, {"onsets_s": np.array([0.0, np.inf])})
    assert "quality.non_finite_features" in errors(validate(root, samples))


def test_stale_feature_schema(small_dataset):
    root, samples = small_dataset
    path = root / samples[1].features_path
    document = json.loads(path.read_text())
    path.write_text(json.dumps({**document, "schema_version": SCHEMA_VERSION - 1}))
    assert "quality.features_stale" in errors(validate(root, samples))


def test_single_class_split(small_dataset):
    root, samples = small_dataset
    # Every val sample becomes straight; the swaps keep the other splits mixed.
    staged = [s.with_changes(split="val") if s.annotations["groove_type"] == "straight" and s.split == "train"
              and i % 3 == 0 else s.with_changes(split="train") if s.split == "val" else s
              for i, s in enumerate(samples)]
    rewrite_catalog(root, staged)
    report = validate(root, staged)
    assert "training.single_class_split" in errors(report)
    reason = next(r for r in report.reasons if r.name == "training.single_class_split")
    assert reason.affected == ("val",)


def test_sample_in_two_split_files(small_dataset):
    root, samples = small_dataset
    twice = next(s for s in samples if s.split == "train")
    with open(root / "splits" / "test.txt", "a") as f:
        f.write(twice.sample_id + "\n")
    report = validate(root, samples)
    assert report.verdict == "invalid"
    assert "leakage.sample_in_many_splits" in errors(report)
    reason = next(r for r in report.reasons if r.name == "leakage.sample_in_many_splits")
    assert reason.affected == (twice.sample_id,)


def test_sample_listed_twice_by_the_catalog(small_dataset):
    root, samples = small_dataset
    copy = samples[0].with_changes(split="test" if samples[0].split != "test" else "val")
    assert "leakage.sample_in_many_splits" in errors(validate(root, [*samples, copy]))


def test_same_content_under_two_ids_in_two_splits(small_dataset):
    root, samples = small_dataset
    twin = samples[0].with_changes(sample_id="f" * 16, split="test" if samples[0].split != "test" else "val")
    staged = rewrite_catalog(root, [*samples, twin])
    assert "leakage.hash_in_many_splits" in errors(validate(root, staged))


def test_augmented_copy_in_another_split(small_dataset):
    root, samples = small_dataset
    parent = next(s for s in samples if s.split == "train")
    child = samples[1].with_changes(parent_id=parent.sample_id, split="test")
    staged = rewrite_catalog(root, [child if s.sample_id == child.sample_id else s for s in samples])
    assert "leakage.augmented_family_split" in errors(validate(root, staged))


def test_group_split_across_splits(small_dataset):
    root, samples = small_dataset
    settings = SplitSettings(label_key="groove_type", group_by=r"^(?P<group>drummer\d+)_")
    report = validate(root, samples, split_settings=settings)  # split without groups, checked with them
    assert "leakage.group_in_many_splits" in errors(report)


def test_constant_labels_and_empty_split(small_dataset):
    root, samples = small_dataset
    staged = rewrite_catalog(root, [s.with_annotations(groove_type="straight").with_changes(
        split="train" if s.split == "test" else s.split) for s in samples])
    names = errors(validate(root, staged))
    assert {"training.constant_labels", "training.empty_split"} <= names


def test_label_readable_from_a_feature(small_dataset):
    root, samples = small_dataset
    codes = {"straight": 0, "swing": 1, "shuffle": 2}
    for s in samples:
        path = root / s.features_path
        document = json.loads(path.read_text())
        document["groove_code"] = codes[s.annotations["groove_type"]]
        path.write_text(json.dumps(document))
    report = validate(root, samples)
    reason = next(r for r in report.reasons if r.name == "training.label_from_features")
    assert reason.severity == "error" and reason.affected == ("groove_code",)


def test_numeric_label_equal_to_a_feature(small_dataset):
    root, samples = small_dataset
    staged = []
    for i, s in enumerate(samples):
        ratio = 0.5 + 0.01 * i
        path = root / s.features_path
        path.write_text(json.dumps({**json.loads(path.read_text()), "timing": {"swing": ratio}}))
        staged.append(s.with_annotations(swing_ratio=ratio))
    report = validate(root, staged)
    reason = next(r for r in report.reasons if r.name == "training.label_from_features")
    assert "timing.swing" in reason.message


@pytest.mark.parametrize("annotations, check", [
    ({"groove_type": "bouncy"}, "quality.annotation_invalid"),
    ({"groove_type": None}, "quality.annotation_missing"),
    ({"tempo_bpm": float("nan")}, "quality.annotation_invalid"),
    ({"swing_ratio": 1.7}, "quality.annotation_invalid"),
])
def test_bad_annotations(small_dataset, annotations, check):
    root, samples = small_dataset
    staged = [samples[0].with_annotations(**annotations), *samples[1:]]
    report = validate(root, staged)
    assert check in errors(report)


def test_structure_problems(small_dataset):
    root, samples = small_dataset
    (root / "annotations").rmdir()
    (root / "config.json").write_text("{not json")
    manifest = json.loads((root / "manifest.json").read_text())
    manifest["samples"] = manifest["samples"][1:]
    (root / "manifest.json").write_text(json.dumps(manifest))
    names = errors(validate(root, samples))
    assert {"structure.layout", "structure.config_invalid", "structure.manifest_mismatch"} <= names


def test_split_files_behind_the_catalog(small_dataset):
    root, samples = small_dataset
    (root / "splits" / "val.txt").write_text("")
    assert "structure.split_files_mismatch" in errors(validate(root, samples))
    (root / "splits" / "val.txt").unlink()
    assert "structure.split_files_missing" in errors(validate(root, samples))


def test_missing_features(small_dataset):
    root, samples = small_dataset
    (root / samples[0].features_path).unlink()
    staged = [*samples[:5], samples[5].with_changes(features_path=None), *samples[6:]]
    report = validate(root, staged)
    reason = next(r for r in report.reasons if r.name == "quality.features_missing")
    assert reason.affected_count == 2


def test_over_the_storage_budget_is_a_warning(small_dataset):
    root, samples = small_dataset
    report = validate(root, samples, storage_budget_bytes=1000)
    reason = next(r for r in report.reasons if r.name == "storage.over_budget")
    assert reason.severity == "warning" and report.storage.used_bytes > 1000


@pytest.mark.parametrize("kwargs, message", [
    ({"target_model": "Transformer9000"}, "unknown target model 'Transformer9000'"),
    ({"workers": 0}, "workers must be at least 1, got 0"),
    ({"storage_budget_bytes": 0}, "storage_budget_bytes must be positive, got 0"),
    ({"now": datetime(2025, 1, 1)}, "naive"),
])
def test_bad_arguments_name_the_value(small_dataset, kwargs, message):
    root, samples = small_dataset
    args = {"target_model": "GroovePredictor", "schema_version": SCHEMA_VERSION, "now": NOW, **kwargs}
    with pytest.raises(ValueError, match=message):
        validate_dataset(samples, root, **args)


def test_executors_give_the_same_findings(small_dataset):
    """Thread pool, process pool and in-line runs find the same problems."""
    from concurrent.futures import ProcessPoolExecutor

    root, samples = small_dataset
    (root / samples[7].file_path).unlink()
    inline = validate(root, samples)
    threads = validate(root, samples, workers=2)
    with ProcessPoolExecutor(max_workers=2) as pool:
        processes = validate(root, samples, executor=pool)
    assert inline.reasons == threads.reasons == processes.reasons
    assert inline.stamps == threads.stamps == processes.stamps


def test_unreadable_audio_and_midi_are_named(corpus, tmp_path):
    """Real flac loops read; a text file named .wav and a MIDI header over garbage do not."""
    root = tmp_path / "ds"
    (tmp_path / "fake.wav").write_text("this is not audio, only text with a .wav name\n" * 20)
    (tmp_path / "broken.mid").write_bytes(b"MThd\x00\x00\x00\x06\x00\x01\x00\x01\x01\xe0MTrk\xff\xff\xff\xff")
    names = ["loop_amen.flac", "loop_breakbeat.flac", "loop_compus.flac"]
    entries = [Entry(corpus / "sonic_pi" / n, f"raw/audio/straight/{n}", {"groove_type": "straight"}) for n in names]
    entries += [Entry(tmp_path / "fake.wav", "raw/audio/swing/fake.wav", {"groove_type": "swing"}),
                Entry(tmp_path / "broken.mid", "raw/midi/swing/broken.mid", {"groove_type": "swing"})]
    samples = build_dataset(root, entries, settings=GROOVE_SETTINGS,
                            features=lambda path: ({"size_bytes": path.stat().st_size}, {}))
    report = validate(root, samples)
    reason = next(r for r in report.reasons if r.name == "quality.unreadable")
    assert reason.affected == ("raw/audio/swing/fake.wav", "raw/midi/swing/broken.mid")
