"""Read a kellyd dataset folder the way training code expects.

Without torch: `read_manifest`, `load_features`, `split_spec`, `open_split`, `collate_arrays`
(numpy). With torch (the `kellyd[train]` extra): `SampleDataset`, `StreamingSampleDataset` and
`collate_batch`, for a `torch.utils.data.DataLoader`:

    from torch.utils.data import DataLoader
    from kellyd.data import SampleDataset, collate_batch

    train = SampleDataset("datasets/emotion_dataset_v1", "train")
    for batch in DataLoader(train, batch_size=16, shuffle=True, collate_fn=collate_batch):
        batch["feature_vector"], batch["piano_roll"], batch["piano_roll_length"], batch["label"]

Training (`kellyd train`) reads through the same functions, so there is one reading path.
"""

from __future__ import annotations

from kellyd.data.errors import UnusableData
from kellyd.data.features import SampleFeatures, load_feature_array, load_features
from kellyd.data.items import (
    DEFAULT_ARRAYS, RAGGED_AXIS, SampleItem, SplitSpec, collate_arrays, default_label_key, label_of, open_split,
    split_spec, stream_samples,
)
from kellyd.data.manifest import DatasetManifest, read_manifest

TORCH_NAMES = ("SampleDataset", "StreamingSampleDataset", "collate_batch")


def __getattr__(name: str):
    # The torch classes are imported on first use, so the rest of kellyd.data works without torch.
    if name not in TORCH_NAMES:
        raise AttributeError(f"module 'kellyd.data' has no attribute {name!r}")
    try:
        from kellyd.train import torch_data
    except ModuleNotFoundError as exc:
        if exc.name != "torch" and not str(exc.name or "").startswith("torch."):
            raise
        raise ModuleNotFoundError(
            f"kellyd.data.{name} needs torch, which the kellyd[train] extra installs and is missing here: "
            "pip install 'kellyd[train]' (README, 'Training needs kellyd[train]': the CPU-only build of torch); "
            "read_manifest, split_spec, open_split and collate_arrays work without it", name="torch") from None
    return getattr(torch_data, name)


__all__ = ["DEFAULT_ARRAYS", "RAGGED_AXIS", "DatasetManifest", "SampleFeatures", "SampleItem", "SplitSpec",
           "UnusableData", "collate_arrays", "default_label_key", "label_of", "load_feature_array", "load_features",
           "open_split", "read_manifest", "split_spec", "stream_samples", *TORCH_NAMES]
