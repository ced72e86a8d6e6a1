"""Sample files go to one sub-folder per sample-id prefix; datasets written flat stay readable."""

from __future__ import annotations

import hashlib
import os
from pathlib import PurePosixPath

import pytest

from kellyd.data.features import load_features
from kellyd.handlers.base import DatasetContext
from kellyd.handlers.features import FEATURE_SCHEMA_VERSION, Features
from kellyd.sample import Sample, sample_id_for
from kellyd.shard import SHARD_HEX_DIGITS, sample_file, shard_of
from tests.daemon.midi_files import small_midi_bytes


@pytest.mark.parametrize(("sample_id", "shard"), [("3fa2b4c5d6e7f809", "3fa"), ("000", "000"), ("fffe", "fff")])
def test_shard_is_the_id_prefix(sample_id, shard):
    assert shard_of(sample_id) == shard
    assert sample_file(PurePosixPath("processed", "features"), sample_id, "x.json") == \
        PurePosixPath("processed", "features", shard, "x.json")


@pytest.mark.parametrize("bad", ["", "ab", "G12345", "../etc", "ABC123"])
def test_an_id_that_is_not_hex_is_refused(bad):
    with pytest.raises(ValueError, match=repr(bad)):
        shard_of(bad)


def test_ids_spread_over_all_shards():
    ids = [sample_id_for(hashlib.sha256(str(i).encode()).hexdigest()) for i in range(100_000)]
    counts: dict[str, int] = {}
    for sid in ids:
        counts[shard_of(sid)] = counts.get(shard_of(sid), 0) + 1
    assert len(counts) == 16 ** SHARD_HEX_DIGITS
    assert max(counts.values()) < 3 * 100_000 / 16 ** SHARD_HEX_DIGITS  # no folder fills up


def midi_sample(root, index: int) -> Sample:
    data = small_midi_bytes(index)
    rel = f"raw/midi/f{index}.mid"
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    (root / rel).write_bytes(data)
    sha = hashlib.sha256(data).hexdigest()
    return Sample(dataset_id="ds", origin_path="", sample_id=sample_id_for(sha), sha256=sha, kind="midi",
                  file_path=rel)


def test_features_land_in_the_shard_folder_and_flat_ones_still_load(tmp_path):
    ctx = DatasetContext("ds", tmp_path / "ds")
    sample = Features(ctx)(midi_sample(ctx.root, 1))
    sid = sample.sample_id
    assert sample.features_path == f"processed/features/{sid[:SHARD_HEX_DIGITS]}/{sid}.json"
    sharded = load_features(ctx.root, sample, schema_version=FEATURE_SCHEMA_VERSION)
    # A dataset written before sharding: the files lie flat and the sample records that path.
    flat = f"processed/features/{sid}.json"
    for suffix in (".json", ".npz"):
        os.replace(ctx.root / sample.features_path.replace(".json", suffix), ctx.root / flat.replace(".json", suffix))
    old = load_features(ctx.root, sample.with_changes(features_path=flat), schema_version=FEATURE_SCHEMA_VERSION)
    assert old.scalars == sharded.scalars and old.arrays.keys() == sharded.arrays.keys()


def test_raw_files_land_in_shard_folders_under_their_labels(tmp_path):
    from kellyd.handlers.importer import destination
    from kellyd.shard import raw_label_dirs

    sha = "3fa" + "0" * 61
    rel = destination(tmp_path, "midi", ("happy", "piano"), "take.mid", sha)
    assert rel == PurePosixPath("raw/midi/happy/piano/3fa/take.mid")
    assert raw_label_dirs(rel, sha[:16]) == ("happy", "piano")
    # Another file of the same name in the same shard keeps its own name, with the hash added.
    (tmp_path / rel).parent.mkdir(parents=True)
    (tmp_path / rel).write_bytes(b"other bytes")
    assert destination(tmp_path, "midi", ("happy", "piano"), "take.mid", sha).name == "take_3fa00000.mid"
    # A file of a dataset written before sharding: every folder is a label.
    assert raw_label_dirs(PurePosixPath("raw/midi/happy/take.mid"), sha[:16]) == ("happy",)
    assert raw_label_dirs(PurePosixPath("raw/midi/take.mid"), sha[:16]) == ()
