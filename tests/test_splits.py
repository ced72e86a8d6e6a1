"""Splits: stable, grouped, stratified, and cheap to extend (pure; files only for the split files)."""

from __future__ import annotations

import hashlib
import time
from collections import Counter

import pytest

from kellyd.sample import Sample
from kellyd.splits import (
    SPLITS,
    SplitSettings,
    assign_new,
    assign_splits,
    choose_split,
    group_key,
    preference,
    read_split_files,
    split_counts,
    write_split_files,
)


def make(n: int, label_of=lambda i: "happy", *, prefix: str = "s", name_of=None, start: int = 0) -> list[Sample]:
    samples = []
    for i in range(start, start + n):
        sha = hashlib.sha256(f"{prefix}{i}".encode()).hexdigest()
        name = name_of(i) if name_of else f"{prefix}{i}.mid"
        samples.append(Sample(dataset_id="d", origin_path=f"/inbox/{name}", sample_id=sha[:16], sha256=sha,
                              file_path=f"raw/midi/{name}", annotations={"emotion": label_of(i)}))
    return samples


def child_of(parent: Sample, k: int) -> Sample:
    sha = hashlib.sha256(f"{parent.sample_id}-aug{k}".encode()).hexdigest()
    return Sample(dataset_id="d", origin_path="", sample_id=sha[:16], sha256=sha,
                  file_path=f"processed/augmented/{sha[:16]}.mid", annotations=dict(parent.annotations),
                  parent_id=parent.sample_id, augmentation={"transpose": k})


def shares(assignment: dict[str, str], samples: list[Sample]) -> dict[str, float]:
    counts = Counter(assignment[s.sample_id] for s in samples)
    return {name: counts[name] / len(samples) for name in SPLITS}


@pytest.mark.parametrize("ratios", [(0.7, 0.15, 0.15), (0.8, 0.1, 0.1), (0.6, 0.2, 0.2), (1.0, 0.0, 0.0)])
def test_ratios_are_met_closely(ratios):
    samples = make(1000)
    result = assign_splits(samples, {}, SplitSettings(ratios=ratios))
    got = shares(result, samples)
    for name, ratio in zip(SPLITS, ratios):
        assert abs(got[name] - ratio) <= 0.002, (name, got)


def test_assignment_is_deterministic_and_order_free():
    samples = make(300, lambda i: ["happy", "sad", "angry"][i % 3])
    settings = SplitSettings(label_key="emotion", seed=7)
    first = assign_splits(samples, {}, settings)
    assert assign_splits(list(reversed(samples)), {}, settings) == first
    assert assign_splits(samples, {}, SplitSettings(label_key="emotion", seed=8)) != first


def test_stratified_per_class():
    labels = ["happy"] * 600 + ["sad"] * 300 + ["fear"] * 100
    samples = make(1000, lambda i: labels[i])
    result = assign_splits(samples, {}, SplitSettings(label_key="emotion"))
    for label, n in Counter(labels).items():
        of_label = [s for s in samples if s.annotations["emotion"] == label]
        got = Counter(result[s.sample_id] for s in of_label)
        assert abs(got["train"] - 0.7 * n) <= 1 and abs(got["val"] - 0.15 * n) <= 1, (label, got)


def test_existing_samples_never_move_and_new_ones_fill_deficits():
    first = make(100, lambda i: "happy")
    # A lopsided history: everything in train.
    existing = {s.sample_id: "train" for s in first}
    new = make(100, lambda i: "happy", start=100)
    result = assign_splits(first + new, existing, SplitSettings(label_key="emotion"))
    assert all(result[s.sample_id] == "train" for s in first)
    counts = Counter(result.values())
    # 200 samples want 140/30/30: the new ones go to val and test first.
    assert counts == {"train": 140, "val": 30, "test": 30}


def test_adding_samples_one_by_one_keeps_ratios_and_never_moves():
    settings = SplitSettings(label_key="emotion")
    samples = make(400, lambda i: ["happy", "sad"][i % 2])
    assigned: dict[str, str] = {}
    for sample in samples:
        before = dict(assigned)
        assigned = assign_splits(samples[: len(assigned) + 1], assigned, settings)
        assert all(assigned[k] == v for k, v in before.items())
    for label in ("happy", "sad"):
        got = Counter(assigned[s.sample_id] for s in samples if s.annotations["emotion"] == label)
        assert abs(got["train"] - 140) <= 1 and abs(got["val"] - 30) <= 1 and abs(got["test"] - 30) <= 1


def test_children_follow_their_parent_even_when_parent_was_placed_earlier():
    parents = make(50)
    settings = SplitSettings()
    existing = assign_splits(parents, {}, settings)
    children = [child_of(p, k) for p in parents for k in (1, 2)]
    grandchildren = [child_of(c, 9) for c in children[:10]]
    result = assign_splits(parents + children + grandchildren, existing, settings)
    for c in children + grandchildren:
        root = c
        while root.parent_id:
            root = next(s for s in parents + children if s.sample_id == root.parent_id)
        assert result[c.sample_id] == result[root.sample_id]


def test_children_arriving_with_their_parent_share_its_split():
    parents = make(60)
    children = [child_of(p, k) for p in parents for k in (1, 2, 3)]
    result = assign_splits(children + parents, {}, SplitSettings())
    assert all(result[c.sample_id] == result[c.parent_id] for c in children)
    # Children do not weigh in the balance: the originals alone meet the ratios.
    assert abs(shares(result, parents)["train"] - 0.7) <= 0.02


@pytest.mark.parametrize("pattern, name_of, expected_groups", [
    (r"^(?P<group>\d+)_", lambda i: f"{i % 10}_take{i}.mid", 10),
    (r"^(?P<group>drummer\d+_session\d+)_", lambda i: f"drummer{i % 4}_session{i % 3}_{i}.mid", 12),
])
def test_groups_stay_together(pattern, name_of, expected_groups):
    samples = make(240, lambda i: ["a", "b"][i % 2], name_of=name_of)
    settings = SplitSettings(label_key="emotion", group_by=pattern)
    result = assign_splits(samples, {}, settings)
    by_group: dict[str, set[str]] = {}
    for s in samples:
        by_group.setdefault(group_key(s, settings), set()).add(result[s.sample_id])
    assert len(by_group) == expected_groups
    assert all(len(splits) == 1 for splits in by_group.values())


def test_a_late_member_joins_its_group():
    settings = SplitSettings(group_by=r"^(?P<group>[a-z]+)-")
    first = make(30, name_of=lambda i: f"{'abc'[i % 3] * 3}-{i}.mid")
    existing = assign_splits(first, {}, settings)
    late = make(3, name_of=lambda i: f"{'abc'[i % 3] * 3}-late{i}.mid", prefix="late")
    result = assign_splits(first + late, existing, settings)
    for s in late:
        mate = next(f for f in first if group_key(f, settings) == group_key(s, settings))
        assert result[s.sample_id] == result[mate.sample_id]


def test_group_by_uses_the_dropped_name_when_known():
    settings = SplitSettings(group_by=r"^(?P<group>\d+)_")
    sample = make(1)[0].with_changes(original_names=("42_take.mid",), file_path="raw/midi/abcdef.mid")
    assert group_key(sample, settings) == "group:42"
    # No match: the song derived from the imported name (the import's `_<hash8>` clash suffix dropped).
    assert group_key(sample.with_changes(original_names=()), settings) == "song:abcdef"
    assert group_key(sample.with_changes(original_names=(), file_path="raw/midi/abcdef_0123abcd.mid"),
                     settings) == "song:abcdef"


def test_assign_new_matches_assign_splits_for_a_batch():
    settings = SplitSettings(label_key="emotion", seed=3)
    old = make(500, lambda i: ["x", "y"][i % 2])
    existing = assign_splits(old, {}, settings)
    new = make(40, lambda i: ["x", "y"][i % 3 % 2], prefix="n")
    whole = assign_splits(old + new, existing, settings)
    incremental = assign_new(new, counts=split_counts(old, existing, "emotion"),
                             group_split=lambda key: None, parent_split=existing.get, settings=settings)
    assert incremental == {s.sample_id: whole[s.sample_id] for s in new}


def test_assign_new_cost_does_not_grow_with_the_dataset():
    settings = SplitSettings(label_key="emotion")
    new = make(5, prefix="n")
    timings = []
    for placed in (1_000, 1_000_000):
        counts = {("happy", "train"): int(placed * 0.7), ("happy", "val"): int(placed * 0.15),
                  ("happy", "test"): int(placed * 0.15)}
        started = time.perf_counter()
        for _ in range(200):
            assign_new(new, counts=counts, group_split=lambda k: None, parent_split=lambda k: None,
                       settings=settings)
        timings.append(time.perf_counter() - started)
    assert timings[1] < timings[0] * 3 + 0.05


def test_choose_split_prefers_the_hash_until_the_split_is_full():
    ratios = (0.7, 0.15, 0.15)
    key = next(f"g{i}" for i in range(1000) if preference(f"g{i}", seed=0, ratios=ratios)[1] == "val")
    assert choose_split(group_key=key, label="a", counts={}, ratios=ratios) == "train"  # 1 sample: val wants 0.15
    roomy = {("a", "train"): 70, ("a", "val"): 10, ("a", "test"): 15}
    assert choose_split(group_key=key, label="a", counts=roomy, ratios=ratios) == "val"
    full = {("a", "train"): 70, ("a", "val"): 20, ("a", "test"): 5}
    assert choose_split(group_key=key, label="a", counts=full, ratios=ratios) == "test"


def test_split_files_round_trip(tmp_path):
    samples = make(20)
    result = assign_splits(samples, {}, SplitSettings())
    write_split_files(tmp_path, result)
    listed = read_split_files(tmp_path)
    for name in SPLITS:
        assert listed[name] == sorted(k for k, v in result.items() if v == name)
    text = (tmp_path / "splits" / "train.txt").read_text()
    assert text.endswith("\n") and not list(tmp_path.joinpath("splits").glob(".*tmp"))


def test_split_files_are_written_even_when_empty(tmp_path):
    write_split_files(tmp_path, {"aaaa": "train"})
    assert (tmp_path / "splits" / "val.txt").read_text() == ""
    assert read_split_files(tmp_path / "nowhere") == {"train": None, "val": None, "test": None}


@pytest.mark.parametrize("kwargs, message", [
    ({"ratios": (0.5, 0.5)}, "3 values"),
    ({"ratios": (0.7, 0.2, 0.2)}, "sum to 1"),
    ({"ratios": (1.2, -0.1, -0.1)}, "non-negative"),
    ({"ratios": (float("nan"), 0.5, 0.5)}, "finite"),
    ({"group_by": "(unclosed"}, "not a regular expression"),
    ({"group_by": r"\d+"}, "named group"),
    ({"seed": 1.5}, "seed"),
])
def test_bad_settings_name_the_value(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SplitSettings(**kwargs)


def test_bad_existing_split_is_refused():
    samples = make(2)
    with pytest.raises(ValueError, match="'validation'"):
        assign_splits(samples, {samples[0].sample_id: "validation"}, SplitSettings())
    with pytest.raises(ValueError, match="'dev'"):
        write_split_files("/nonexistent-never-written", {"x": "dev"})
    with pytest.raises(ValueError, match="negative"):
        assign_new(samples, counts={("a", "train"): -1}, group_split=lambda k: None,
                   parent_split=lambda k: None, settings=SplitSettings())
