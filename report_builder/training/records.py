"""What training returns (per-epoch and per-run records), and the timed epoch loop both engines run."""

from __future__ import annotations

import base64
import math
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, TypeVar

import torch

from report_builder.training import threads
from report_builder.training.contention import EpochClock, other_gpu_processes

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
    val_loss: float | None = None
    """Mean loss per held-out training image after the epoch; None without a validation split."""
    val_accuracy: float | None = None
    """Accuracy on the held-out training images: what the best epoch is picked by (never the test set)."""
    threads: int | None = None
    """torch's CPU threads while the epoch trained (threads.py re-decides them between epochs)."""


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
    fused: bool = False
    """Whether the explicit engine's step ran as the fused Triton kernels (fused.py)."""
    fused_note: str | None = None
    """Why it did not, for an explicit-engine run (e.g. "fused Triton step: CUDA only")."""
    threads: int | None = None
    """torch's CPU threads in its first epoch (each epoch's own: EpochRecord.threads)."""
    test_predictions: str | None = None
    """After the last epoch, one byte per test image in test-set order (prediction_bytes), base64: what a
    test-set-aware interval resamples. None for a run that diverged."""


@dataclass
class EpochScores:
    """One epoch's numbers as Python floats, one entry per model in run order (one entry for a run alone)."""

    train_loss: list[float]
    """Mean loss of the epoch's training batches."""
    test_loss: list[float]
    test_accuracy: list[float]
    probes: list[dict[str, float]]
    """The probes each model asked for, summed over the epoch's training batches."""
    val_loss: list[float] | None = None
    """On the validation split, as test_loss and test_accuracy; None without one."""
    val_accuracy: list[float] | None = None
    test_predictions: list[bytes] | None = None
    """Each model's prediction_bytes over the test set."""


def prediction_bytes(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """One byte per image: the predicted class in the low seven bits, plus 128 where it is the right one, so a
    results file tells which images each run got right without holding the labels."""
    return predicted.to(torch.uint8) | ((predicted == target).to(torch.uint8) << 7)


ProgressFn = Callable[[int], None]
Batch = TypeVar("Batch")
Order = TypeVar("Order")
Evaluated = TypeVar("Evaluated")


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


def timed_epochs(runs: list[RunRecord], setup_started: float, epochs: int, steps_per_epoch: int,
                 device: torch.device, progress: ProgressFn | None, *, start: Callable[[], Order],
                 train: Callable[[Order], None], evaluate: Callable[[], Evaluated],
                 read: Callable[[Evaluated], EpochScores]) -> None:
    """Train and evaluate epoch by epoch, appending each epoch's record to every run that has not diverged.

    An epoch is `start()` (untimed: zero the sums, draw the order), `train(what start returned)` and
    `evaluate()` (the test set, and the validation split where there is one), each timed between device waits, then `read(what evaluate returned)` once the clocks
    have stopped (reading numbers off the device is not timed). A run stops at the first epoch whose loss
    is not finite; the loop stops when every run has. Seconds are per-model shares of the stack's.
    """
    # Setup's queued GPU work (warm-up, capture) belongs to setup, not to the first epoch.
    synchronize(device)
    clock = EpochClock(other_gpu_processes() if device.type == "cuda" else None)
    k = len(runs)
    setup_seconds = time.perf_counter() - setup_started
    for run in runs:
        run.setup_seconds = setup_seconds / k
    for epoch in range(1, epochs + 1):
        order = start()
        synchronize(device)
        epoch_threads = torch.get_num_threads()
        clock.start()
        started = time.perf_counter()
        train(order)
        synchronize(device)
        train_seconds = (time.perf_counter() - started) / k
        disturbed, evidence = clock.stop()

        started = time.perf_counter()
        evaluated = evaluate()
        synchronize(device)
        eval_seconds = (time.perf_counter() - started) / k

        scores = read(evaluated)
        # Other work that came or went while this epoch trained changes the next epoch's threads.
        threads.between_epochs(evidence)
        for i, run in enumerate(runs):
            if run.diverged_at is not None:
                continue
            diverged = not (math.isfinite(scores.train_loss[i]) and math.isfinite(scores.test_loss[i]))
            run.epochs.append(EpochRecord(
                epoch=epoch, train_loss=finite(scores.train_loss[i]), test_loss=finite(scores.test_loss[i]),
                # The accuracy of a model with non-finite weights is noise, not a result.
                test_accuracy=None if diverged else scores.test_accuracy[i],
                train_seconds=train_seconds, eval_seconds=eval_seconds,
                probes={name: finite(value) for name, value in scores.probes[i].items()},
                timing_disturbed=disturbed, timing_evidence=evidence,
                val_loss=None if scores.val_loss is None else finite(scores.val_loss[i]),
                val_accuracy=None if scores.val_accuracy is None or diverged else scores.val_accuracy[i],
                threads=epoch_threads,
            ))
            if run.threads is None:
                run.threads = epoch_threads
            if epoch == epochs and not diverged and scores.test_predictions is not None:
                run.test_predictions = base64.b64encode(scores.test_predictions[i]).decode("ascii")
            if diverged:
                run.diverged_at = epoch
                if progress is not None and k == 1:
                    progress(steps_per_epoch * (epochs - epoch))
        if all(run.diverged_at is not None for run in runs):
            break
