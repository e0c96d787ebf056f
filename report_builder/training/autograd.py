"""The reference engine: one nn.Module MLP, autograd, torch.optim and a backward hook for the probes.

`engine = "autograd"` trains with it, and the "dataloader" pipeline always does, to keep the 2021
notebook's loop exactly. The tests check the explicit engine (engine.py) against it.
"""

from __future__ import annotations

import math
import time
from typing import Callable, Iterable

import torch
from torch import nn

from report_builder.config import TrainConfig
from report_builder.training.data import Dataset
from report_builder.training import subnormals
from report_builder.training.activations import DROPOUT_STREAM
from report_builder.training.graphs import graph_limit, optimizer_state, prepare_step
from report_builder.training.model import build_model
from report_builder.training.pipelines import assignment_loaders, on_device
from report_builder.training.probes import ProbeRecorder
from report_builder.training.records import (
    EVAL_CHUNK,
    EpochScores,
    ProgressFn,
    RunRecord,
    prediction_bytes,
    run_batches,
    timed_epochs,
)


def _fused(optimizer_class, params, **settings) -> torch.optim.Optimizer:
    """The fused implementation where this torch and device have one (one kernel per step), else the default."""
    try:
        return optimizer_class(params, fused=True, **settings)
    except (RuntimeError, TypeError, ValueError):
        return optimizer_class(params, **settings)


def make_optimizer(cfg: TrainConfig, model: nn.Module, graphed: bool = False) -> torch.optim.Optimizer:
    """Adam or SGD through the fused kernels (one per step; Adam: ~25% less time per CPU epoch). A captured
    graph needs Adam's step count on the GPU (capturable), which the fused kernel also allows."""
    params = list(model.parameters())
    if cfg.optimizer == "adam":
        if graphed:
            return _fused(torch.optim.Adam, params, lr=cfg.lr, weight_decay=cfg.weight_decay, capturable=True)
        return _fused(torch.optim.Adam, params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return _fused(torch.optim.SGD, params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


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
def evaluate(model: nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
             device: torch.device) -> tuple[float, float, bytes]:
    """(mean test loss per example, accuracy, each image's records.prediction_bytes) over the test set's (x, y)
    batches, in their order."""
    model.eval()
    loss_total = torch.zeros((), dtype=torch.float64, device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    count = 0
    marks = []
    for x, y in batches:
        logits = model(x)
        loss_total += nn.functional.cross_entropy(logits, y, reduction="sum").double()
        predicted = logits.argmax(dim=1)
        correct += (predicted == y).sum()
        marks.append(prediction_bytes(predicted, y))
        count += y.shape[0]
    model.train()
    marked = torch.cat(marks).cpu().numpy().tobytes() if marks else b""
    return loss_total.item() / max(count, 1), correct.item() / max(count, 1), marked


def train_run(cfg: TrainConfig, data: Dataset, repeat: int, device: torch.device,
              progress: ProgressFn | None = None) -> RunRecord:
    """Train cfg's model with seed cfg.seed + repeat; evaluate on the test set (and the validation split)
    after every epoch."""
    subnormals.flush()
    setup_started = time.perf_counter()
    seed = cfg.seed + repeat
    use_graphs = cfg.cuda_graphs and cfg.pipeline == "tensor" and device.type == "cuda"
    not_captured = graph_limit(cfg) if use_graphs else None
    use_graphs = use_graphs and not_captured is None
    model = build_model(cfg.layers, seed, device, cfg.activation, cfg.dropout)
    optimizer = make_optimizer(cfg, model, graphed=use_graphs)
    probes = ProbeRecorder(list(model.activations), cfg.probes, cfg.activation, device)
    loss_sum = torch.zeros((), device=device)
    step = make_train_step(model, optimizer, cfg.zero_grad, loss_sum)

    def step_on(index: torch.Tensor) -> None:
        """The one train step of both paths: gather the batch by index, then step (eager or captured)."""
        step(data.train_x.index_select(0, index), data.train_y.index_select(0, index))

    # Shuffling draws from its own CPU generator, so the order is the same on every device and pipeline.
    shuffle = torch.Generator().manual_seed(seed)
    n_train = data.train_x.shape[0]
    n_batches = math.ceil(n_train / cfg.batch_size)
    probes.recording = True  # probe sums are tensor ops inside the graph; recorded at capture
    prepared = prepare_step(step_on, n_train, cfg.batch_size, lambda size: (size,), device, capture=use_graphs,
                            params=list(model.parameters()),
                            zero=lambda: [*optimizer_state(optimizer), loss_sum, *probes.sums.values()])
    probes.recording = False
    if cfg.dropout > 0:  # warm-up steps drew masks: start from the run's first ones
        model.dropouts[0].generator.manual_seed(seed + DROPOUT_STREAM)
    loaders = None
    if cfg.pipeline == "dataloader":
        loaders = assignment_loaders(data.raw, data.train_x.shape[0], data.test_x.shape[0], cfg.batch_size,
                                     cfg.loader_workers, shuffle)

    def start_epoch() -> None:
        loss_sum.zero_()
        probes.reset()
        probes.recording = True

    def train_epoch(_: None) -> None:
        if loaders is not None:
            run_batches(on_device(loaders[0], device), lambda batch: step(*batch), progress)
        else:
            order = torch.randperm(n_train, generator=shuffle).to(device)
            run_batches(order.split(cfg.batch_size), prepared.run, progress)
        probes.recording = False  # every hook ran as its step was queued; evaluation must not add to the sums

    def evaluate_epoch() -> tuple[tuple[float, float, bytes], tuple[float, float, bytes] | None]:
        # The held-out images are normalized tensors in both pipelines: the same numbers the notebook's
        # transforms make, without a second set of loader workers.
        held_out = None if data.val_x is None else evaluate(
            model, zip(data.val_x.split(EVAL_CHUNK), data.val_y.split(EVAL_CHUNK)), device)
        if loaders is not None:
            return evaluate(model, on_device(loaders[1], device), device), held_out
        return evaluate(model, zip(data.test_x.split(EVAL_CHUNK), data.test_y.split(EVAL_CHUNK)), device), held_out

    def read_epoch(evaluated: tuple[tuple[float, float, bytes], tuple[float, float, bytes] | None]) -> EpochScores:
        (test_loss, test_accuracy, marks), held_out = evaluated
        return EpochScores([loss_sum.item() / n_batches], [test_loss], [test_accuracy], [probes.read()],
                           *((None, None) if held_out is None else ([held_out[0]], [held_out[1]])),
                           test_predictions=[marks])

    run = RunRecord(repeat=repeat, seed=seed, epochs=[], cuda_graphs=prepared.graphed,
                    cuda_graph_error=prepared.error or not_captured, engine="autograd")
    timed_epochs([run], setup_started, cfg.epochs, n_batches, device, progress,
                 start=start_epoch, train=train_epoch, evaluate=evaluate_epoch, read=read_epoch)
    probes.remove()
    return run
