"""Train one run (one experiment, one seed) and return its per-epoch records; printing is not its job."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn

from report_builder.config import TrainConfig
from report_builder.data import Dataset
from report_builder.model import build_model
from report_builder.probes import ProbeRecorder

EVAL_CHUNK = 10_000
# How many steps pass between progress callbacks: often enough for a live ETA, rarely enough to cost nothing.
PROGRESS_EVERY = 100


@dataclass
class EpochRecord:
    epoch: int
    train_loss: float | None
    test_loss: float | None
    test_accuracy: float | None
    """None when the epoch diverged (its predictions mean nothing)."""
    train_seconds: float
    eval_seconds: float
    probes: dict[str, float] = field(default_factory=dict)


@dataclass
class RunRecord:
    repeat: int
    seed: int
    epochs: list[EpochRecord]
    diverged_at: int | None = None
    """1-based epoch whose loss was NaN or infinite; training stopped there."""


ProgressFn = Callable[[int], None]


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work so that a clock read measures it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def make_optimizer(cfg: TrainConfig, model: nn.Module) -> torch.optim.Optimizer:
    if cfg.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=cfg.lr)
    return torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum)


def make_train_step(model: nn.Module, optimizer: torch.optim.Optimizer, zero_grad: bool,
                    loss_sum: torch.Tensor) -> Callable[[torch.Tensor, torch.Tensor], None]:
    """One optimizer step on a batch; the loss is added to a device tensor (no per-step sync)."""
    loss_fn = nn.CrossEntropyLoss()

    def step(x: torch.Tensor, y: torch.Tensor) -> None:
        if zero_grad:
            optimizer.zero_grad(set_to_none=False)
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        loss_sum.add_(loss.detach())

    return step


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """(mean test loss per example, accuracy) over the whole test set."""
    model.eval()
    loss_total = torch.zeros((), dtype=torch.float64, device=x.device)
    correct = torch.zeros((), dtype=torch.int64, device=x.device)
    for start in range(0, x.shape[0], EVAL_CHUNK):
        logits = model(x[start:start + EVAL_CHUNK])
        target = y[start:start + EVAL_CHUNK]
        loss_total += nn.functional.cross_entropy(logits, target, reduction="sum").double()
        correct += (logits.argmax(dim=1) == target).sum()
    model.train()
    count = max(x.shape[0], 1)
    return loss_total.item() / count, correct.item() / count


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def train_run(cfg: TrainConfig, data: Dataset, repeat: int, device: torch.device,
              progress: ProgressFn | None = None) -> RunRecord:
    """Train cfg's model with seed cfg.seed + repeat; evaluate on the test set after every epoch."""
    seed = cfg.seed + repeat
    model = build_model(cfg.hidden, seed, device)
    optimizer = make_optimizer(cfg, model)
    probes = ProbeRecorder(model.relu, cfg.probes, device)
    loss_sum = torch.zeros((), device=device)
    step = make_train_step(model, optimizer, cfg.zero_grad, loss_sum)
    # Shuffling draws from its own CPU generator, so the order is the same on every device.
    shuffle = torch.Generator().manual_seed(seed)
    n_train = data.train_x.shape[0]
    n_batches = math.ceil(n_train / cfg.batch_size)

    run = RunRecord(repeat=repeat, seed=seed, epochs=[])
    for epoch in range(1, cfg.epochs + 1):
        order = torch.randperm(n_train, generator=shuffle).to(device)
        loss_sum.zero_()
        probes.reset()
        probes.recording = True
        synchronize(device)
        started = time.perf_counter()
        for batch in range(n_batches):
            index = order[batch * cfg.batch_size:(batch + 1) * cfg.batch_size]
            step(data.train_x[index], data.train_y[index])
            if progress is not None and (batch + 1) % PROGRESS_EVERY == 0:
                progress(PROGRESS_EVERY)
        synchronize(device)
        train_seconds = time.perf_counter() - started
        probes.recording = False
        if progress is not None:
            progress(n_batches % PROGRESS_EVERY)

        started = time.perf_counter()
        test_loss, test_accuracy = evaluate(model, data.test_x, data.test_y)
        synchronize(device)
        eval_seconds = time.perf_counter() - started

        train_loss = loss_sum.item() / n_batches
        diverged = not (math.isfinite(train_loss) and math.isfinite(test_loss))
        run.epochs.append(EpochRecord(
            epoch=epoch, train_loss=_finite(train_loss), test_loss=_finite(test_loss),
            # The accuracy of a model with non-finite weights is noise, not a result.
            test_accuracy=None if diverged else test_accuracy,
            train_seconds=train_seconds, eval_seconds=eval_seconds,
            probes={name: _finite(v) for name, v in probes.read().items()},
        ))
        if diverged:
            run.diverged_at = epoch
            if progress is not None:
                progress(n_batches * (cfg.epochs - epoch))
            break
    probes.remove()
    return run
