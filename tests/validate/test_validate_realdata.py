"""Validation and splits on real drum performances (Groove MIDI Dataset, Magenta, CC BY 4.0)."""

from __future__ import annotations

import math
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest
from .builders import (
    SCHEMA_VERSION,
    Entry,
    augmented_copy,
    build_dataset,
    groove_entries,
    pick_groove_files,
)

from kellyd.splits import SPLITS, SplitSettings, group_key
from kellyd.validate import validate_dataset
from kellyd.validate.measures import TEMPO_BIN_EDGES_BPM

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)
MIX = {"straight": 80, "swing": 40, "shuffle": 30}
STRATIFIED = SplitSettings(label_key="groove_type")


def validate(root: Path, samples, settings: SplitSettings = STRATIFIED, **kwargs):
    kwargs.setdefault("verify_hashes", True)
    return validate_dataset(samples, root, target_model="GroovePredictor", schema_version=SCHEMA_VERSION,
                            now=NOW, split_settings=settings, **kwargs)


@pytest.fixture(scope="module")
def groove150(corpus, tmp_path_factory):
    root = tmp_path_factory.mktemp("groove150") / "ds"
    rows = pick_groove_files(corpus, MIX)
    return root, rows, build_dataset(root, groove_entries(corpus, rows), settings=STRATIFIED)


def test_counts_and_split_composition(groove150):
    root, rows, samples = groove150
    report = validate(root, samples)
    assert report.verdict != "invalid", [r.message for r in report.reasons_of("error")]
    counts = {c.label: c.total for c in report.class_counts}
    assert counts == {"straight": 80, "swing": 40, "shuffle": 30, "laid_back": 0, "rushed": 0}
    assert report.files_hashed == 150 and report.files_trusted == 0
    # Below the GroovePredictor target of 1,000 per groove type, and missing two types: said so.
    assert {"counts.below_target", "balance.imbalanced"} <= report.reason_names()
    # Near 70/15/15 overall and within every class (stratified).
    total = Counter(s.split for s in samples)
    assert abs(total["train"] / 150 - 0.7) <= 0.02 and abs(total["val"] / 150 - 0.15) <= 0.02
    for label, n in MIX.items():
        per = report.split_counts
        assert abs(per["train"][label] - 0.7 * n) <= 1 and abs(per["val"][label] - 0.15 * n) <= 1, label


def test_tempo_diversity_matches_the_ground_truth(groove150):
    root, rows, samples = groove150
    report = validate(root, samples)
    tempo = next(d for d in report.distributions if d.name == "tempo")
    expected = np.bincount(np.searchsorted(TEMPO_BIN_EDGES_BPM, [r.bpm for r in rows], side="right"),
                           minlength=len(TEMPO_BIN_EDGES_BPM) + 1)
    assert [n for _, n in tempo.counts] == expected.tolist()
    p = expected[expected > 0] / expected.sum()
    assert tempo.entropy == pytest.approx(float(-(p * np.log(p)).sum() / math.log(9)), abs=1e-12)
    assert 0.0 < tempo.entropy < 1.0
    # Drums carry no key: shown as no coverage, and not held against a groove dataset.
    key = next(d for d in report.distributions if d.name == "key")
    assert key.coverage == 0 and key.entropy == 0.0
    assert not any(r.family == "diversity" for r in report.reasons)


def test_adding_100_files_moves_no_sample(groove150, corpus, tmp_path):
    _, rows, first = groove150
    root = tmp_path / "ds"
    samples = build_dataset(root, groove_entries(corpus, rows), settings=STRATIFIED)
    assert {s.sample_id: s.split for s in samples} == {s.sample_id: s.split for s in first}
    more = pick_groove_files(corpus, {"straight": 76, "swing": 15, "shuffle": 9}, exclude=rows)
    grown = build_dataset(root, groove_entries(corpus, more), settings=STRATIFIED, existing=samples)
    assert len(grown) == 250
    after = {s.sample_id: s.split for s in grown}
    assert all(after[s.sample_id] == s.split for s in samples)
    shares = Counter(after.values())
    assert abs(shares["train"] / 250 - 0.7) <= 0.02 and abs(shares["test"] / 250 - 0.15) <= 0.02
    report = validate(root, grown)
    assert not any(r.family == "leakage" for r in report.reasons)
    assert report.verdict != "invalid", [r.message for r in report.reasons_of("error")]


def test_augmented_children_stay_with_their_parents(corpus, tmp_path):
    root = tmp_path / "ds"
    rows = pick_groove_files(corpus, {"straight": 30, "swing": 15, "shuffle": 15})
    parents = build_dataset(root, groove_entries(corpus, rows), settings=STRATIFIED)
    children = []
    for parent in parents:
        for k, scale in enumerate((0.8, 1.15)):
            rel = f"processed/augmented/{parent.sample_id}_v{k}.mid"
            augmented_copy(root / parent.file_path, root / rel, scale)
            children.append(Entry(root / rel, rel, dict(parent.annotations), parent_rel_path=parent.file_path))
    everything = build_dataset(root, children, settings=STRATIFIED, existing=parents)
    by_id = {s.sample_id: s for s in everything}
    kids = [s for s in everything if s.parent_id]
    assert len(kids) == 120
    assert all(s.split == by_id[s.parent_id].split for s in kids)
    report = validate(root, everything)
    assert report.augmented_count == 120 and report.original_count == 60
    assert not any(r.family == "leakage" for r in report.reasons)
    assert report.verdict != "invalid", [r.message for r in report.reasons_of("error")]


@pytest.mark.parametrize("pattern", [
    r"^(?P<group>drummer\d+_(?:eval_)?session\d*)_",  # the drummer and session
    r"session\d*_(?P<group>\d+)_",  # the take number inside a session
])
def test_group_by_keeps_every_group_in_one_split(corpus, tmp_path, pattern):
    settings = SplitSettings(label_key="groove_type", group_by=pattern)
    root = tmp_path / "ds"
    rows = pick_groove_files(corpus, MIX)
    samples = build_dataset(root, groove_entries(corpus, rows), settings=settings)
    groups: dict[str, set[str]] = {}
    for s in samples:
        key = group_key(s, settings)
        assert key.startswith("group:"), s.file_path
        groups.setdefault(key, set()).add(s.split)
    assert len(groups) > 5
    assert all(len(splits) == 1 for splits in groups.values())
    assert {s.split for s in samples} == set(SPLITS)
    report = validate(root, samples, settings)
    assert "leakage.group_in_many_splits" not in report.reason_names()
