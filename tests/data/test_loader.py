"""kellyd.data on a real dataset: one training epoch through a torch DataLoader, the streaming
dataset over two worker processes, padding of ragged sequences, bad features, and life without torch."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from kellyd.data import (
    SampleDataset, SampleItem, StreamingSampleDataset, UnusableData, collate_arrays, collate_batch, split_spec,
)
from kellyd.music.midi_vector import FEATURE_SIZE
from tests.test_no_torch import BLOCKER


class TinyNet(torch.nn.Module):
    """Feature vector plus the mean of each roll row over its real frames, to class logits."""

    def __init__(self, classes: int) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(FEATURE_SIZE + 2 * 128, classes)

    def forward(self, batch: dict) -> torch.Tensor:
        pooled = []
        for name in ("piano_roll", "drum_roll"):
            roll = batch[name].float()
            length = batch[f"{name}_length"].clamp(min=1).float()
            pooled.append(roll.sum(dim=2) / length[:, None] / 127.0)
        vector = torch.sign(batch["feature_vector"]) * torch.log1p(batch["feature_vector"].abs())
        return self.linear(torch.cat([vector, *pooled], dim=1))


def test_one_training_epoch_reads_every_training_sample_once(moods):
    train = SampleDataset(moods.root, "train")
    entries = moods.entries()
    expected = sorted(i for i, e in entries.items() if e["split"] == "train")
    assert train.classes == ("happy", "sad") and len(train) == len(expected)
    torch.manual_seed(0)
    model = TinyNet(len(train.classes))
    before = [p.detach().clone() for p in model.parameters()]
    optimiser = torch.optim.Adam(model.parameters(), lr=0.01)
    loader = DataLoader(train, batch_size=3, shuffle=True, collate_fn=collate_batch,
                        generator=torch.Generator().manual_seed(1))
    seen, losses = [], []
    for batch in loader:
        for i, sample_id in enumerate(batch["sample_id"]):
            entry = entries[sample_id]
            arrays = moods.npz(entry)
            assert np.array_equal(batch["feature_vector"][i].numpy(), arrays["feature_vector"])
            for name in ("piano_roll", "drum_roll"):
                length = int(batch[f"{name}_length"][i])
                assert length == arrays[name].shape[1]
                assert np.array_equal(batch[name][i, :, :length].numpy(), arrays[name])
                assert not batch[name][i, :, length:].any(), "padding is zeros"
            assert batch["label_name"][i] == entry["annotations"]["emotion"]
            assert train.classes[int(batch["label"][i])] == entry["annotations"]["emotion"]
        loss = torch.nn.functional.cross_entropy(model(batch), batch["label"])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        seen.extend(batch["sample_id"])
        losses.append(float(loss.detach()))
    assert sorted(seen) == expected
    assert all(np.isfinite(losses))
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters())), "the epoch trained the model"


def test_streaming_over_two_workers_yields_each_sample_once_in_a_seeded_order(moods):
    stream = StreamingSampleDataset(moods.root, "train", shuffle_seed=7, arrays=("feature_vector",))
    loader = DataLoader(stream, batch_size=2, num_workers=2, collate_fn=collate_batch)
    seen = [sample_id for batch in loader for sample_id in batch["sample_id"]]
    expected = [i for i, e in moods.entries().items() if e["split"] == "train"]
    assert Counter(seen) == Counter(expected)
    in_one = [item.sample_id for item in StreamingSampleDataset(moods.root, "train", shuffle_seed=7)]
    again = [item.sample_id for item in StreamingSampleDataset(moods.root, "train", shuffle_seed=7)]
    assert in_one == again and sorted(in_one) == sorted(expected)
    other = StreamingSampleDataset(moods.root, "train", shuffle_seed=7)
    other.set_epoch(1)
    assert sorted(item.sample_id for item in other) == sorted(expected)


def test_val_and_test_use_the_training_vocabulary(moods):
    classes = SampleDataset(moods.root, "train").classes
    for split in ("val", "test"):
        part = SampleDataset(moods.root, split)
        assert part.classes == classes
        for i in range(len(part)):
            item = part[i]
            assert item.split == split and classes[item.label] == item.label_name


def _item(sample_id: str, **arrays) -> SampleItem:
    return SampleItem(sample_id, "train", "audio" if "mel_segments" in arrays else "midi", arrays, 0, "happy",
                      0.5, float("nan"))


def test_collate_pads_every_ragged_array_and_marks_what_is_missing():
    midi = _item("a", feature_vector=np.ones(FEATURE_SIZE, np.float32), piano_roll=np.full((128, 3), 9, np.uint8))
    audio_long = _item("b", mel_segments=np.ones((3, 64, 5), np.float32), mel_segment_frames=np.array([5, 5, 2]))
    audio_short = _item("c", mel_segments=np.full((1, 64, 5), 2.0, np.float32), mel_segment_frames=np.array([4]))
    batch = collate_arrays([midi, audio_long, audio_short])
    assert batch["mel_segments"].shape == (3, 3, 64, 5)
    assert batch["mel_segments_length"].tolist() == [0, 3, 1]
    assert not batch["mel_segments"][0].any() and not batch["mel_segments"][2, 1:].any()
    assert (batch["mel_segments"][2, 0] == 2.0).all()
    assert batch["mel_segment_frames"].tolist() == [[0, 0, 0], [5, 5, 2], [4, 0, 0]]
    assert batch["piano_roll"].shape == (3, 128, 3) and batch["piano_roll_length"].tolist() == [3, 0, 0]
    assert batch["feature_vector_present"].tolist() == [True, False, False]
    assert batch["sample_id"] == ["a", "b", "c"]
    assert batch["valence"][0] == 0.5 and np.isnan(batch["arousal"]).all()
    with pytest.raises(ValueError, match="empty batch"):
        collate_arrays([])


def test_unknown_array_names_and_broken_features_say_what_is_wrong(moods, tmp_path):
    with pytest.raises(ValueError, match="unknown arrays.*'mfcc_typo'"):
        split_spec(moods.root, "train", arrays=("mfcc_typo",))
    copy = tmp_path / "moods"
    shutil.copytree(moods.root, copy)
    train = SampleDataset(copy, "train")
    broken = train.spec.samples[0]
    (copy / broken.features_path).with_suffix(".npz").write_bytes(b"not a zip file")
    with pytest.raises(UnusableData, match=f"features of sample {broken.sample_id} do not load"):
        train[0]
    stale = train.spec.samples[1]
    json_path = copy / stale.features_path
    document = json.loads(json_path.read_text())
    json_path.write_text(json.dumps({**document, "schema_version": -1}))
    with pytest.raises(UnusableData, match=f"sample {stale.sample_id} have schema version -1.*kellyd features"):
        train[1]
    (copy / "manifest.json").unlink()
    with pytest.raises(UnusableData, match="has no manifest"):
        SampleDataset(copy, "train")


def test_without_torch_the_numpy_part_works_and_the_torch_part_names_the_extra(moods, tmp_path):
    folder = tmp_path / "no-torch"
    folder.mkdir()
    (folder / "sitecustomize.py").write_text(BLOCKER)
    script = (
        "import json, sys\n"
        "from kellyd.data import open_split, collate_arrays\n"
        f"spec, items = open_split({str(moods.root)!r}, 'train')\n"
        "batch = collate_arrays(items)\n"
        "try:\n"
        "    from kellyd.data import SampleDataset\n"
        "    error = None\n"
        "except ModuleNotFoundError as exc:\n"
        "    error = str(exc)\n"
        "print(json.dumps({'n': len(items), 'fv': list(batch['feature_vector'].shape), 'error': error,\n"
        "                  'torch': 'torch' in sys.modules}))\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          env={**__import__("os").environ, "PYTHONPATH": str(folder)}, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.splitlines()[-1])
    expected = sum(1 for e in moods.entries().values() if e["split"] == "train")
    assert result["n"] == expected and result["fv"] == [expected, FEATURE_SIZE]
    assert "needs torch" in result["error"] and "kellyd[train]" in result["error"]
    assert result["torch"] is False
