"""What training returns (per-epoch and per-run records) and the helpers both engines share."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Iterable, TypeVar

import torch

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
    timing_disturbed: bool | None = None
    """Whether other work loaded the machine while train_seconds was measured (None: unknown)."""
    timing_evidence: dict = field(default_factory=dict)
    """What contention.EpochClock read: other processes' CPU share, load average, other GPU processes."""


@dataclass
class RunRecord:
    repeat: int
    seed: int
    epochs: list[EpochRecord]
    diverged_at: int | None = None
    """1-based epoch whose loss was NaN or infinite; training stopped there."""
    setup_seconds: float = 0.0
    """One-off work before the first epoch: model, optimizer, warm-up and CUDA graph capture."""
    cuda_graphs: bool = False
    """Whether the train step ran as captured CUDA graphs."""
    cuda_graph_error: str | None = None
    """Why capture failed, when it was wanted and training fell back to eager steps."""
    stacked_with: int = 1
    """How many models trained together in one stack (1: alone); seconds are then per-model shares."""
    engine: str = "explicit"
    """"explicit" (forward and backward written out, engine.py) or "autograd" (the reference, autograd.py)."""


ProgressFn = Callable[[int], None]
Batch = TypeVar("Batch")


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work so that a clock read measures it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run_batches(batches: Iterable[Batch], step: Callable[[Batch], None], progress: ProgressFn | None) -> None:
    """One epoch, one step per batch; progress hears of every PROGRESS_EVERY steps, and of the rest at the end."""
    done = 0
    for done, batch in enumerate(batches, start=1):
        step(batch)
        if progress is not None and done % PROGRESS_EVERY == 0:
            progress(PROGRESS_EVERY)
    if progress is not None:
        progress(done % PROGRESS_EVERY)


def finite(value: float) -> float | None:
    return value if math.isfinite(value) else None
