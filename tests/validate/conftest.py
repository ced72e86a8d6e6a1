"""Fixtures for the validation tests: small real datasets in tmp_path."""

from __future__ import annotations

from pathlib import Path

import pytest

from kellyd.sample import Sample

from .builders import GROOVE_SETTINGS, SMALL_MIX, build_dataset, groove_entries, pick_groove_files


@pytest.fixture
def small_dataset(corpus: Path, tmp_path: Path) -> tuple[Path, list[Sample]]:
    """30 real Groove files (14 straight, 8 swing, 8 shuffle), split and written: (root, samples)."""
    root = tmp_path / "ds"
    rows = pick_groove_files(corpus, SMALL_MIX)
    return root, build_dataset(root, groove_entries(corpus, rows), settings=GROOVE_SETTINGS)
