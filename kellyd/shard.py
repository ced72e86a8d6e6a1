"""Where a sample's own files go: one sub-folder per sample-id prefix.

Folders that get one file (or a few) per sample, such as `processed/features/`, would hold a
million entries in a dataset of a million samples; listing, backing up or syncing such a folder
(and on some filesystems, creating a file in it) slows down with its size. Sample ids are hex
(`kellyd.sample.sample_id_for`), so the first `SHARD_HEX_DIGITS` of the id spread samples evenly
over 16**3 = 4,096 folders: about 250 samples per folder at 1,000,000.

The same goes for `raw/<kind>/<label folders>/`, which gets every original of a class, and for
`annotations/`: their files go one shard folder deeper (`raw/midi/happy/3fa/take.mid`).

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


def raw_label_dirs(rel: PurePosixPath, sample_id: str) -> tuple[str, ...]:
    """The label folders of a file under `raw/<kind>/` (`rel` relative to the dataset), its shard folder left
    out: the last folder is the shard when it is the sample id's prefix. (A label folder of a dataset written
    before sharding whose name happens to be that prefix, one file in 4,096 of those, would be read as one.)"""
    dirs = tuple(rel.parts[2:-1])
    if dirs and len(sample_id) >= SHARD_HEX_DIGITS and dirs[-1] == sample_id[:SHARD_HEX_DIGITS]:
        dirs = dirs[:-1]
    return dirs
