"""Validation findings that are true: features judged on real columns of originals, splits and targets
counted on originals, a real split-imbalance check, the quarantine grouped by reason."""

from __future__ import annotations

import pytest

from kellyd.quarantine_groups import group_quarantine, reason_kind
from kellyd.validate.checks import Limits, check_split_balance
from kellyd.validate.features import ColumnScan, flatten_features, is_feature_column
from kellyd.validate.report import ClassCount
from kellyd.validate.svg import BarRow, Segment, bar_chart, wants_log_scale
from kellyd.validate.templating import short_path


@pytest.mark.parametrize("name, real", [
    ("scalars.note_count", True), ("scalars.pitch_class_histogram[3]", True),
    ("scalars.feature_layout_version", False), ("scalars.groove_source", False), ("tempo_source", False),
    ("scalars.chord_segments[154].roman", False), ("scalars.key_segments[0].start_s", False),
    ("scalars.roll_frames_per_beat", False),
])
def test_which_columns_are_features(name, real):
    assert is_feature_column(name) is real


def _document(i: int, chords: int) -> dict:
    return {"schema_version": 3, "sample_id": f"s{i}", "scalars": {
        "feature_layout_version": 2, "groove_source": "drums", "note_count": 10 + i, "silence": 0.0,
        "velocity_curve": [0.5] * (2 + i % 2),  # a curve whose length varies: its tail is padding
        "chord_segments": [{"roman": "I", "start_s": 0.0}] * chords}}


def test_constant_features_are_real_features_of_originals_only():
    scan = ColumnScan(class_count=2)
    for i in range(4):
        columns, _ = flatten_features(_document(i, chords=3))
        scan.add(columns, "a" if i % 2 else "b", {})
    child, _ = flatten_features({**_document(9, chords=3), "scalars": {**_document(9, 3)["scalars"], "silence": 1.0}})
    scan.add(child, "a", {}, original=False)  # a child that differs does not make `silence` vary
    assert scan.constant_columns() == ["scalars.silence", "scalars.velocity_curve[0]", "scalars.velocity_curve[1]"]
    assert scan.originals == 4 and scan.feature_count() == 4  # note_count, silence, the two positions all have


def test_class_targets_count_originals():
    assert ClassCount("straight", 247, 692, 1000).missing == 753
    assert ClassCount("swing", 1000, 5, 1000).missing == 0


def test_a_class_piled_into_one_split_is_flagged_and_an_even_mix_is_not():
    even = {"train": {"a": 700, "b": 140}, "val": {"a": 150, "b": 30}, "test": {"a": 150, "b": 30}}
    assert check_split_balance(even, "groove_type") == []
    skewed = {"train": {"a": 700, "b": 100}, "val": {"a": 150, "b": 70}, "test": {"a": 150, "b": 4}}
    (reason,) = check_split_balance(skewed, "groove_type")
    assert reason.name == "training.split_class_drift" and "b is 32% of val but 15% overall" in reason.message
    assert set(reason.affected) == {"val:a", "val:b", "test:a", "test:b"}


def test_a_small_split_is_allowed_chance():
    # 20 originals: one class more or less moves a share by 5 points; 12 points is within chance.
    small = {"train": {"a": 560, "b": 140}, "val": {"a": 13, "b": 7}, "test": {"a": 16, "b": 4}}
    assert check_split_balance(small, "groove_type", Limits(min_split_for_balance=20)) == []


def test_quarantine_groups_by_kind_of_reason():
    items = [(f"inbox/x/{i}.mid", "import", "not a MIDI file: header is b'RIFF'") for i in range(282)]
    items += [(f"inbox/big/{i}.mid", "import", f"file is {300 + i} MB, over max_file_mb = 200") for i in range(15)]
    items += [("inbox/y/a.mid", "features", "not a MIDI file: header is b'RIFF'")]
    groups = group_quarantine(items)
    assert [(g.count, g.handler) for g in groups] == [(282, "import"), (15, "import"), (1, "features")]
    assert groups[0].examples == ("inbox/x/0.mid", "inbox/x/1.mid", "inbox/x/2.mid")
    assert reason_kind("inbox/a b.mid does not read", "inbox/a b.mid") == "<file> does not read"


def test_bars_go_logarithmic_when_counts_span_orders_of_magnitude():
    assert wants_log_scale([12_000, 6]) and not wants_log_scale([40, 25, 12])
    rows = [BarRow("straight", (Segment(12_000, "#000", "originals"),), 1000),
            BarRow("rushed", (Segment(6, "#000", "originals"),), 1000)]
    assert "log scale" in bar_chart(rows, title="t") and "log scale" not in bar_chart(rows, title="t", log_scale=False)


def test_long_paths_are_shortened_keeping_their_ends():
    path = "inbox/groove_dataset_v1/" + "a-long-folder/" * 6 + "take-7.mid"
    short = short_path(path)
    assert len(short) <= 64 and short.startswith("inbox/") and short.endswith("a-long-folder/take-7.mid")
    assert short_path("inbox/a.mid") == "inbox/a.mid"
