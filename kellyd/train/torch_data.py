"""The torch side of `kellyd.data`: a map-style and a streaming dataset over one split, and the collate
function that pads ragged sequences. Reached as `kellyd.data.SampleDataset` etc.; it lives under
kellyd.train because only training installs torch (the `train` extra).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator, Sequence

import torch
from torch.utils.data import Dataset, IterableDataset, get_worker_info

from kellyd.data.items import SampleItem, collate_arrays, split_spec, stream_samples


class SampleDataset(Dataset):
    """Map-style: `dataset[i]` is the SampleItem of the i-th sample of `split` (manifest order).

    Options as `kellyd.data.split_spec` (arrays, kind, label_key, classes, schema_version).
    Features are read when an item is asked for, so DataLoader workers share the reading.
    """

    def __init__(self, root: Path | str, split: str = "train", **options) -> None:
        self.spec = split_spec(root, split, **options)

    @property
    def classes(self) -> tuple[str, ...]:
        return self.spec.classes

    def __len__(self) -> int:
        return len(self.spec.samples)

    def __getitem__(self, index: int) -> SampleItem:
        return self.spec.item(self.spec.samples[index])


class StreamingSampleDataset(IterableDataset):
    """Streaming: yields the split's items one at a time, never holding more than one.

    With DataLoader workers each worker reads its own share, so an epoch yields every sample once.
    shuffle_seed: a new order per epoch is `shuffle_seed + epoch` (call `set_epoch`).
    """

    def __init__(self, root: Path | str, split: str = "train", *, shuffle_seed: int | None = None,
                 **options) -> None:
        self.spec = split_spec(root, split, **options)
        self.shuffle_seed = shuffle_seed
        self.epoch = 0

    @property
    def classes(self) -> tuple[str, ...]:
        return self.spec.classes

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.spec.samples)

    def __iter__(self) -> Iterator[SampleItem]:
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        seed = None if self.shuffle_seed is None else self.shuffle_seed + self.epoch
        for sample in stream_samples(self.spec.samples, worker=worker, workers=workers, shuffle_seed=seed):
            yield self.spec.item(sample)


def collate_batch(items: Sequence[SampleItem]) -> dict[str, object]:
    """`collate_arrays` with every array as a tensor (the lists of ids and names stay lists)."""
    return {name: torch.from_numpy(value) if hasattr(value, "dtype") else value
            for name, value in collate_arrays(items).items()}
