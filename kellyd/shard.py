"""Where a sample's own files go: one sub-folder per sample-id prefix.

Folders that get one file (or a few) per sample, such as `processed/features/`, would hold a
million entries in a dataset of a million samples; listing, backing up or syncing such a folder
(and on some filesystems, creating a file in it) slows down with its size. Sample ids are hex
(`kellyd.sample.sample_id_for`), so the first `SHARD_HEX_DIGITS` of the id spread samples evenly
over 16**3 = 4,096 folders: about 250 samples per folder at 1,000,000.

This module is the one place that decides those paths. Readers never rebuild a path from an id:
they use the path recorded with the sample (`features_path`, `file_path`), so datasets written
before sharding (flat folders) stay readable as they are.
"""

from __future__ import annotations

from pathlib import PurePosixPath

SHARD_HEX_DIGITS = 3


def shard_of(sample_id: str) -> str:
    """The sub-folder of `sample_id`: its first SHARD_HEX_DIGITS characters."""
    if len(sample_id) < SHARD_HEX_DIGITS or not all(c in "0123456789abcdef" for c in sample_id[:SHARD_HEX_DIGITS]):
        raise ValueError(f"a sample id starts with {SHARD_HEX_DIGITS} lower-case hex digits, got {sample_id!r}")
    return sample_id[:SHARD_HEX_DIGITS]


def sample_file(folder: PurePosixPath, sample_id: str, name: str) -> PurePosixPath:
    """`folder/<shard of sample_id>/name`, relative to the dataset root."""
    return folder / shard_of(sample_id) / name
