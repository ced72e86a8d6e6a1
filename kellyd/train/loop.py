"""The training loop: AdamW or Adam, linear warm-up then cosine decay, early stopping that keeps
the best weights, seeded so that a rerun gives the same model.

The training loss is the sum over heads of the mean cross-entropy (class heads) or the
mean squared error on standardised values (regression heads), over the positions that
have a target.

Choosing the epoch (see `kellyd.train.objective`): after every epoch each head's
validation error is divided by its baseline's, and the epoch kept is the one with the
lowest validation score, the mean of these ratios each capped at 1. Training stops when
no head has improved its own best ratio by `min_delta` for `patience` epochs, so a head
that overfits early (a classifier on a few dozen pieces) does not stop the heads that
are still learning. Only the training and validation splits are seen here.
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
from kellyd.train.objective import baseline_errors, error_ratios, head_errors, score
from kellyd.train.settings import ModelSettings

EVAL_BATCH = 512


@dataclass(frozen=True)
class EpochRecord:
    """One epoch: mean training loss, validation loss (the same objective), the validation score
    and its per-head error ratios (None: nothing scored), the learning rate at the end."""

    epoch: int
    train_loss: float
    val_loss: float
    lr: float
    val_score: float = 1.0
    val_ratios: tuple[float | None, ...] = ()


@dataclass(frozen=True)
class FitResult:
    """What training did. `state` holds the weights of `best_epoch` (CPU tensors), the epoch with the
    lowest validation score; `best_val_loss` is the validation loss of that epoch."""

    state: Mapping[str, torch.Tensor]
    best_epoch: int
    best_val_loss: float
    best_val_score: float
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
def split_outputs(model: nn.Module, tensors: _Tensors, heads: Sequence[Head]) -> tuple[float, np.ndarray]:
    """(loss, outputs (n, steps, out) as NumPy) of `model` on one split, in eval mode, in one pass."""
    model.eval()
    sums = [0.0] * len(heads)
    counts = [0.0] * len(heads)
    chunks = []
    for start in range(0, len(tensors), EVAL_BATCH):
        index = torch.arange(start, min(start + EVAL_BATCH, len(tensors)), device=tensors.inputs.device)
        inputs, targets, masks = tensors.batch(index)
        outputs = model(inputs)
        for i, (s, n) in enumerate(loss_parts(outputs, targets, masks, heads)):
            sums[i] += float(s)
            counts[i] += float(n)
        chunks.append(outputs.cpu().numpy())
    loss = float(sum(s / max(n, 1.0) for s, n in zip(sums, counts)))
    return loss, np.concatenate(chunks)


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


class _Stopper:
    """Early stopping on every head at once: each head keeps its best validation error ratio, and
    training stops once no head has improved by `min_delta` for `patience` epochs."""

    def __init__(self, n_heads: int, patience: int, min_delta: float) -> None:
        self.best = [math.inf] * n_heads
        self.since = 0
        self.patience = patience
        self.min_delta = min_delta

    def update(self, ratios: Sequence[float | None]) -> bool:
        """Record one epoch; True when training should stop."""
        improved = False
        for i, ratio in enumerate(ratios):
            if ratio is not None and ratio < self.best[i] - self.min_delta:
                self.best[i] = ratio
                improved = True
        self.since = 0 if improved else self.since + 1
        return self.since >= self.patience


def fit(model: nn.Module, data: ModelData, settings: ModelSettings, *, seed: int, device: torch.device,
        on_epoch: Callable[[EpochRecord], None] | None = None) -> FitResult:
    """Train `model` on the train split, choose the epoch on the validation split, return its weights.

    The model ends with the best weights loaded. `on_epoch` is called after every epoch.
    """
    seed_everything(seed)
    model.to(device)
    train = _Tensors(data, "train", device)
    val = _Tensors(data, "val", device)
    val_split = data.splits["val"]
    val_baseline = baseline_errors(data, "val")
    optimizer = _optimizer(model, settings)
    steps_per_epoch = math.ceil(len(train) / settings.batch_size)
    total_steps = steps_per_epoch * settings.max_epochs
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(
        step, warmup_steps=settings.warmup_epochs * steps_per_epoch, total_steps=total_steps,
        min_share=settings.min_lr_share))
    shuffler = torch.Generator().manual_seed(seed)
    best = EpochRecord(0, math.inf, math.inf, settings.lr, math.inf)
    best_state = copy.deepcopy(model.state_dict())
    stopper = _Stopper(len(data.heads), settings.patience, settings.min_delta)
    history: list[EpochRecord] = []
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
        val_loss, outputs = split_outputs(model, val, data.heads)
        ratios = error_ratios(head_errors(outputs, data.heads, val_split), val_baseline)
        record = EpochRecord(epoch, running / max(batches, 1), val_loss, float(optimizer.param_groups[0]["lr"]),
                             score(ratios), ratios)
        history.append(record)
        if on_epoch is not None:
            on_epoch(record)
        if not math.isfinite(record.train_loss) or not math.isfinite(val_loss):
            raise FloatingPointError(f"training diverged at epoch {epoch}: train loss {record.train_loss}, "
                                     f"val loss {val_loss}")
        if record.val_score < best.val_score - settings.min_delta:
            best = record
            best_state = copy.deepcopy(model.state_dict())
        if stopper.update(ratios):
            break
    elapsed = time.perf_counter() - started
    model.load_state_dict(best_state)
    cpu_state = {k: v.detach().cpu().clone() for k, v in best_state.items()}
    return FitResult(cpu_state, best.epoch, best.val_loss, best.val_score, len(history),
                     len(history) < settings.max_epochs, tuple(history), elapsed,
                     seen / elapsed if elapsed > 0 else 0.0)
