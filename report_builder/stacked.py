"""Train K independent MLPs at once: weights stacked on a leading axis, one batched step for all.

One small MLP leaves a GPU idle between its ~20 tiny kernels; K models stacked as [K, 784, H] weights
(forward by baddbmm) cost almost the same per step. Every model keeps its own seed (initialisation
and shuffle order), learning rate, optimizer (Adam or SGD with momentum, as per-model tensors),
zero_grad choice and probes, so each one computes what it would compute alone, up to floating-point
rounding. Adam and SGD are elementwise, so one stacked update equals K separate optimizer steps.
"""

from __future__ import annotations

import math
import time

import torch
from torch import nn

from report_builder.config import TrainConfig
from report_builder.data import Dataset
from report_builder.graphs import GraphedSteps
from report_builder.model import build_model
from report_builder.train import EVAL_CHUNK, EpochRecord, ProgressFn, RunRecord, _finite, run_batches, synchronize

ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8
STACK_KEYS = ("batch_size", "epochs", "hidden", "pipeline", "max_train", "max_test", "data_dir", "device")
"""Runs can share a stack only when all of these agree; everything else may differ per model."""


def _per_model(values: list[float], device: torch.device, dtype=torch.float32) -> torch.Tensor:
    return torch.tensor(values, dtype=dtype, device=device).view(-1, 1, 1)


class StackedMLP:
    """K MLPs as four stacked parameter tensors, initialised exactly as K separate MLPs would be."""

    def __init__(self, hidden: int, seeds: list[int], device: torch.device):
        models = [build_model(hidden, seed, torch.device("cpu")) for seed in seeds]
        self.w1 = torch.stack([m.fc1.weight.detach().t() for m in models]).to(device).requires_grad_()
        self.b1 = torch.stack([m.fc1.bias.detach().view(1, -1) for m in models]).to(device).requires_grad_()
        self.w2 = torch.stack([m.fc2.weight.detach().t() for m in models]).to(device).requires_grad_()
        self.b2 = torch.stack([m.fc2.bias.detach().view(1, -1) for m in models]).to(device).requires_grad_()
        self.params = [self.w1, self.b1, self.w2, self.b2]

    def pre_activation(self, x: torch.Tensor) -> torch.Tensor:
        """[K, B, 784] (or [B, 784], shared by all) → the ReLU's input, [K, B, H]."""
        if x.dim() == 2:
            return torch.matmul(x, self.w1) + self.b1
        return torch.baddbmm(self.b1, x, self.w1)

    def head(self, hidden: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.b2, hidden, self.w2)


class StackedOptimizer:
    """Adam and SGD (with momentum) for every model at once; per-model choice, lr and momentum."""

    def __init__(self, params: list[torch.Tensor], configs: list[TrainConfig], device: torch.device):
        self.params = params
        self.lr = _per_model([c.lr for c in configs], device)
        self.momentum = _per_model([c.momentum for c in configs], device)
        self.is_adam = _per_model([c.optimizer == "adam" for c in configs], device, torch.bool)
        # zero_grad = false keeps the model's gradient, so backward adds the new one to it.
        self.keep_grad = _per_model([0.0 if c.zero_grad else 1.0 for c in configs], device)
        self.all_clear = all(c.zero_grad for c in configs)
        self.lr64 = _per_model([c.lr for c in configs], device, torch.float64)
        # The step count is a tensor so that a CUDA graph can replay steps; float64, like the Python
        # numbers torch.optim.Adam computes its bias corrections with.
        self.step_count = torch.zeros((), dtype=torch.float64, device=device)
        self.exp_avg = [torch.zeros_like(p) for p in params]
        self.exp_avg_sq = [torch.zeros_like(p) for p in params]
        self.momentum_buf = [torch.zeros_like(p) for p in params]

    def prepare_grads(self) -> None:
        """Before backward: clear the gradients of models that call zero_grad(), keep the others'."""
        for p in self.params:
            if p.grad is None:
                continue
            if self.all_clear:
                p.grad.zero_()
            else:
                p.grad.mul_(self.keep_grad.view(-1, *([1] * (p.dim() - 1))))

    @torch.no_grad()
    def step(self) -> None:
        beta1, beta2 = ADAM_BETAS
        self.step_count += 1
        # The same operations, in the same order and precision, as torch.optim.Adam's single-tensor step.
        step_size = (self.lr64 / (1 - beta1 ** self.step_count)).float()
        bias2_sqrt = ((1 - beta2 ** self.step_count) ** 0.5).float()
        for p, m, v, buf in zip(self.params, self.exp_avg, self.exp_avg_sq, self.momentum_buf):
            g = p.grad
            m.lerp_(g, 1 - beta1)
            v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
            adam = step_size * m / (v.sqrt() / bias2_sqrt).add_(ADAM_EPS)
            buf.mul_(self.momentum).add_(g)  # SGD: the first step's buffer is the gradient itself
            sgd = self.lr * buf
            p.sub_(torch.where(self.is_adam, adam, sgd))


class StackedProbes:
    """Per-model probe sums: active ReLU inputs, and Σ(∂loss/∂ReLU input)² from a gradient hook."""

    def __init__(self, k: int, device: torch.device):
        self.active = torch.zeros(k, dtype=torch.float64, device=device)
        self.grad_sq = torch.zeros(k, dtype=torch.float64, device=device)

    def record(self, pre: torch.Tensor) -> None:
        self.active.add_((pre > 0).sum(dim=(1, 2)))
        if pre.requires_grad:
            pre.register_hook(self._add_grad_sq)

    def _add_grad_sq(self, grad: torch.Tensor) -> None:
        # The gradient reaching the ReLU's input is what a backward hook on the ReLU module receives.
        # Returning None leaves the gradient itself untouched.
        self.grad_sq.add_(grad.double().square().sum(dim=(1, 2)))

    def reset(self) -> None:
        self.active.zero_()
        self.grad_sq.zero_()


@torch.no_grad()
def _evaluate(model: StackedMLP, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-model (mean test loss, accuracy), as [K] tensors."""
    k = model.w1.shape[0]
    loss = torch.zeros(k, dtype=torch.float64, device=x.device)
    correct = torch.zeros(k, dtype=torch.int64, device=x.device)
    for start in range(0, x.shape[0], EVAL_CHUNK):
        xs, ys = x[start:start + EVAL_CHUNK], y[start:start + EVAL_CHUNK]
        logits = model.head(torch.relu(model.pre_activation(xs)))
        target = ys.expand(k, -1)
        loss += nn.functional.cross_entropy(logits.transpose(1, 2), target, reduction="none").sum(dim=1).double()
        correct += (logits.argmax(dim=2) == target).sum(dim=1)
    count = max(x.shape[0], 1)
    return loss / count, correct.double() / count


def train_stacked(configs: list[TrainConfig], repeats: list[int], data: Dataset, device: torch.device,
                  progress: ProgressFn | None = None) -> list[RunRecord]:
    """Train one model per (config, repeat) together; returns their records in the same order."""
    first = configs[0]
    if any(getattr(c, key) != getattr(first, key) for c in configs for key in STACK_KEYS):
        raise ValueError(f"runs in one stack must agree on {', '.join(STACK_KEYS)}")
    setup_started = time.perf_counter()
    k = len(configs)
    seeds = [c.seed + r for c, r in zip(configs, repeats)]
    model = StackedMLP(first.hidden, seeds, device)
    optimizer = StackedOptimizer(model.params, configs, device)
    probes = StackedProbes(k, device)
    loss_sum = torch.zeros(k, device=device)
    shuffles = [torch.Generator().manual_seed(seed) for seed in seeds]
    n_train, batch_size = data.train_x.shape[0], first.batch_size
    n_batches = math.ceil(n_train / batch_size)

    def step(index: torch.Tensor) -> None:
        """One step of every model on its own batch; index is [K, B]."""
        x = data.train_x.index_select(0, index.reshape(-1)).view(k, -1, data.train_x.shape[1])
        y = data.train_y.index_select(0, index.reshape(-1)).view(k, -1)
        optimizer.prepare_grads()
        pre = model.pre_activation(x)
        probes.record(pre)
        logits = model.head(torch.relu(pre))
        losses = nn.functional.cross_entropy(logits.transpose(1, 2), y, reduction="none").mean(dim=1)
        losses.sum().backward()  # each model's parameters get only their own loss's gradient
        optimizer.step()
        loss_sum.add_(losses.detach())

    graphed, graph_error = None, None
    if device.type == "cuda" and all(c.cuda_graphs for c in configs):
        sizes = sorted({min(batch_size, n_train), n_train % batch_size} - {0})
        state = [optimizer.step_count, *optimizer.exp_avg, *optimizer.exp_avg_sq, *optimizer.momentum_buf]
        try:
            graphed = GraphedSteps(step, sizes, lambda size: (k, size), model.params, lambda: state,
                                   [loss_sum, probes.active, probes.grad_sq], device)
        except Exception as e:  # capture failed (any cause): train eagerly, and say so in the results
            graph_error = f"{e.__class__.__name__}: {e}".splitlines()[0]
    synchronize(device)
    setup_seconds = time.perf_counter() - setup_started
    runs = [RunRecord(repeat=r, seed=s, epochs=[], setup_seconds=setup_seconds / k, stacked_with=k,
                      cuda_graphs=graphed is not None, cuda_graph_error=graph_error)
            for r, s in zip(repeats, seeds)]
    for epoch in range(1, first.epochs + 1):
        loss_sum.zero_()
        probes.reset()
        synchronize(device)
        started = time.perf_counter()
        order = torch.stack([torch.randperm(n_train, generator=g) for g in shuffles]).to(device)
        run_batches(order, batch_size, graphed.run if graphed is not None else step, progress)
        synchronize(device)
        train_seconds = (time.perf_counter() - started) / k
        started = time.perf_counter()
        test_loss, test_accuracy = _evaluate(model, data.test_x, data.test_y)
        synchronize(device)
        eval_seconds = (time.perf_counter() - started) / k
        train_losses = (loss_sum / n_batches).tolist()
        for i, run in enumerate(runs):
            if run.diverged_at is not None:
                continue
            diverged = not (math.isfinite(train_losses[i]) and math.isfinite(test_loss[i].item()))
            probed = configs[i].probes
            values = {"relu_active": probes.active[i].item(), "relu_grad_sq": probes.grad_sq[i].item()}
            run.epochs.append(EpochRecord(
                epoch=epoch, train_loss=_finite(train_losses[i]), test_loss=_finite(test_loss[i].item()),
                test_accuracy=None if diverged else test_accuracy[i].item(),
                train_seconds=train_seconds, eval_seconds=eval_seconds,
                probes={name: _finite(values[name]) for name in probed}))
            if diverged:
                run.diverged_at = epoch
        if all(run.diverged_at is not None for run in runs):
            break
    return runs
