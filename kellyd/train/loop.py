"""The training loop: AdamW or Adam, linear warm-up then cosine decay, early stopping on the
validation loss that keeps the best weights, seeded so that a rerun gives the same model.

The loss is the sum over heads of the mean cross-entropy (class heads) or the mean
squared error on standardised values (regression heads), over the positions that
have a target. Only the training and validation splits are seen here.
"""

from __future__ import annotations

import copy
import math
import os
import random
import time
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from kellyd.train.data import Head, ModelData
from kellyd.train.metrics import head_slices
from kellyd.train.settings import ModelSettings

EVAL_BATCH = 512


@dataclass(frozen=True)
class EpochRecord:
    epoch: int
    train_loss: float
    val_loss: float
    lr: float


@dataclass(frozen=True)
class FitResult:
    """What training did. `state` holds the weights of `best_epoch` (CPU tensors)."""

    state: Mapping[str, torch.Tensor]
    best_epoch: int
    best_val_loss: float
    epochs_run: int
    stopped_early: bool
    history: tuple[EpochRecord, ...]
    train_s: float
    examples_per_s: float


def resolve_device(name: str) -> torch.device:
    """'auto' -> CUDA when torch sees a GPU, else CPU; 'cuda' without a GPU is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' was asked for but torch sees no GPU")
    if name not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda', got {name!r}")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch, and ask torch for deterministic kernels."""
    # cuBLAS needs this before its first use to be deterministic.
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True


def lr_factor(step: int, *, warmup_steps: int, total_steps: int, min_share: float) -> float:
    """Learning-rate multiplier at optimisation step `step` (0-based): linear warm-up to 1, then a
    cosine down to `min_share` at `total_steps`."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    span = max(total_steps - warmup_steps, 1)
    progress = min((step - warmup_steps) / span, 1.0)
    return min_share + (1.0 - min_share) * 0.5 * (1.0 + math.cos(math.pi * progress))


def loss_parts(outputs: torch.Tensor, targets: Mapping[str, torch.Tensor], masks: Mapping[str, torch.Tensor],
               heads: Sequence[Head]) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Per head, (sum of losses, number of scored positions) on one batch."""
    parts = []
    for head, where in zip(heads, head_slices(heads).values()):
        if head.kind == "class":
            logits = outputs[:, :, where] if head.per_step else outputs[:, -1, where]
            target = targets[head.name].reshape(-1)
            total = nn.functional.cross_entropy(logits.reshape(-1, head.size), target, ignore_index=-1,
                                                reduction="sum")
            parts.append((total, (target >= 0).sum()))
        else:
            values = outputs[:, :, where] if head.per_step else outputs[:, -1, where]
            mean = torch.as_tensor(head.mean, dtype=values.dtype, device=values.device)
            std = torch.as_tensor(head.std, dtype=values.dtype, device=values.device)
            z = (targets[head.name] - mean) / std
            mask = masks[head.name].to(values.dtype)
            parts.append((((values - z) ** 2 * mask).sum(), mask.sum()))
    return parts


def total_loss(parts: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
    return sum(s / torch.clamp(n, min=1) for s, n in parts)  # type: ignore[return-value]


class _Tensors:
    """One split on the device: normalised inputs, targets, masks."""

    def __init__(self, data: ModelData, split: str, device: torch.device) -> None:
        part = data.splits[split]
        self.inputs = torch.as_tensor(data.normalised(split), device=device)
        self.targets = {k: torch.as_tensor(v, device=device) for k, v in part.targets.items()}
        self.masks = {k: torch.as_tensor(v, device=device) for k, v in part.masks.items()}

    def __len__(self) -> int:
        return int(self.inputs.shape[0])

    def batch(self, index: torch.Tensor):
        return (self.inputs[index], {k: v[index] for k, v in self.targets.items()},
                {k: v[index] for k, v in self.masks.items()})


@torch.no_grad()
def split_loss(model: nn.Module, tensors: _Tensors, heads: Sequence[Head]) -> float:
    model.eval()
    sums = [0.0] * len(heads)
    counts = [0.0] * len(heads)
    for start in range(0, len(tensors), EVAL_BATCH):
        index = torch.arange(start, min(start + EVAL_BATCH, len(tensors)), device=tensors.inputs.device)
        inputs, targets, masks = tensors.batch(index)
        for i, (s, n) in enumerate(loss_parts(model(inputs), targets, masks, heads)):
            sums[i] += float(s)
            counts[i] += float(n)
    return float(sum(s / max(n, 1.0) for s, n in zip(sums, counts)))


@torch.no_grad()
def predict(model: nn.Module, inputs: np.ndarray, device: torch.device) -> np.ndarray:
    """Outputs (n, steps, out) of `model` for normalised `inputs` (n, steps, features), in eval mode."""
    model.eval()
    chunks = [model(torch.as_tensor(inputs[i:i + EVAL_BATCH], device=device)).cpu().numpy()
              for i in range(0, len(inputs), EVAL_BATCH)]
    return np.concatenate(chunks) if chunks else np.zeros((0, *inputs.shape[1:2], 0), dtype=np.float32)


def _optimizer(model: nn.Module, settings: ModelSettings) -> torch.optim.Optimizer:
    if settings.optimizer == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    return torch.optim.Adam(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)


def fit(model: nn.Module, data: ModelData, settings: ModelSettings, *, seed: int, device: torch.device,
        on_epoch: Callable[[EpochRecord], None] | None = None) -> FitResult:
    """Train `model` on the train split, stop on the validation loss, return the best weights.

    The model ends with the best weights loaded. `on_epoch` is called after every epoch.
    """
    seed_everything(seed)
    model.to(device)
    train = _Tensors(data, "train", device)
    val = _Tensors(data, "val", device)
    optimizer = _optimizer(model, settings)
    steps_per_epoch = math.ceil(len(train) / settings.batch_size)
    total_steps = steps_per_epoch * settings.max_epochs
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(
        step, warmup_steps=settings.warmup_epochs * steps_per_epoch, total_steps=total_steps,
        min_share=settings.min_lr_share))
    shuffler = torch.Generator().manual_seed(seed)
    best_loss, best_epoch, best_state = math.inf, 0, copy.deepcopy(model.state_dict())
    history: list[EpochRecord] = []
    since_best = 0
    seen = 0
    started = time.perf_counter()
    for epoch in range(1, settings.max_epochs + 1):
        model.train()
        order = torch.randperm(len(train), generator=shuffler).to(device)
        running, batches = 0.0, 0
        for start in range(0, len(train), settings.batch_size):
            inputs, targets, masks = train.batch(order[start:start + settings.batch_size])
            loss = total_loss(loss_parts(model(inputs), targets, masks, data.heads))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), settings.grad_clip)
            optimizer.step()
            schedule.step()
            running += float(loss.detach())
            batches += 1
            seen += int(inputs.shape[0])
        val_loss = split_loss(model, val, data.heads)
        record = EpochRecord(epoch, running / max(batches, 1), val_loss, float(optimizer.param_groups[0]["lr"]))
        history.append(record)
        if on_epoch is not None:
            on_epoch(record)
        if not math.isfinite(record.train_loss) or not math.isfinite(val_loss):
            raise FloatingPointError(f"training diverged at epoch {epoch}: train loss {record.train_loss}, "
                                     f"val loss {val_loss}")
        if val_loss < best_loss - settings.min_delta:
            best_loss, best_epoch, since_best = val_loss, epoch, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            since_best += 1
            if since_best >= settings.patience:
                break
    elapsed = time.perf_counter() - started
    model.load_state_dict(best_state)
    cpu_state = {k: v.detach().cpu().clone() for k, v in best_state.items()}
    return FitResult(cpu_state, best_epoch, best_loss, len(history), len(history) < settings.max_epochs,
                     tuple(history), elapsed, seen / elapsed if elapsed > 0 else 0.0)
