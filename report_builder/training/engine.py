"""The training engine: K ≥ 1 MLPs trained at once, their forward and backward written out.

Linear(784, H) → ReLU → Linear(H, 10) → cross-entropy, for K models whose weights are stacked on a
leading axis ([K, H, 784], …), each on its own batch, in one pass of batched matrix products. K = 1 is
a run alone. The step is written out as llm.c writes its layers: every forward and backward operation
explicit, checked against autograd by the tests. This removes autograd's and torch.optim's per-step
overhead, which, not arithmetic, decides this MLP's speed; on a GPU the same step is what one CUDA graph
captures, with fewer kernels than autograd's.

Every model keeps its own seed (initialisation and shuffle order), learning rate, optimizer (Adam, or
SGD with momentum), zero_grad choice and probes, so each computes what it would compute alone, up to
floating-point rounding. Optimizer steps are torch's fused kernels, one call per group of models that
share optimizer settings; `engine = "autograd"` (autograd.py) is the plain nn.Module reference.
"""

from __future__ import annotations

import math
import time
from itertools import groupby

import torch
from torch.nn import functional as F

from report_builder.config import TrainConfig
from report_builder.training import fused
from report_builder.training.data import Dataset
from report_builder.training.graphs import prepare_step
from report_builder.training.model import build_model
from report_builder.training.records import (
    EVAL_CHUNK,
    EpochScores,
    ProgressFn,
    RunRecord,
    run_batches,
    timed_epochs,
)

ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8
STACK_KEYS = ("batch_size", "epochs", "hidden", "pipeline", "max_train", "max_test", "validation", "data_dir",
              "device")
"""Runs can share a stack only when all of these agree; everything else may differ per model."""


class StackedMLP:
    """K MLPs as four stacked parameter tensors in nn.Linear's layout, initialised exactly as K separate
    `model.build_model` MLPs are (same seeds, same numbers)."""

    def __init__(self, hidden: int, seeds: list[int], device: torch.device):
        models = [build_model(hidden, seed, torch.device("cpu")) for seed in seeds]
        self.w1 = torch.stack([m.fc1.weight.detach() for m in models]).to(device)                 # [K, H, 784]
        self.b1 = torch.stack([m.fc1.bias.detach().view(1, -1) for m in models]).to(device)       # [K, 1, H]
        self.w2 = torch.stack([m.fc2.weight.detach() for m in models]).to(device)                 # [K, 10, H]
        self.b2 = torch.stack([m.fc2.bias.detach().view(1, -1) for m in models]).to(device)       # [K, 1, 10]
        self.params = [self.w1, self.b1, self.w2, self.b2]

    @property
    def k(self) -> int:
        return self.w1.shape[0]

    def pre_activation(self, x: torch.Tensor) -> torch.Tensor:
        """x: [K, B, 784] (each model its own batch) or [B, 784] (one batch for all) → ReLU input [K, B, H]."""
        if x.dim() == 2:
            return torch.matmul(x, self.w1.transpose(1, 2)) + self.b1
        return baddbmm(self.b1, x, self.w1.transpose(1, 2))

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        return baddbmm(self.b2, hidden, self.w2.transpose(1, 2))


# Batched products of a stack. A stack of one uses the plain matrix products (addmm, mm), as nn.Linear
# does: cuBLAS picks other kernels for a batch of one, measured 1.5× slower per step at batch 16 on an H200.
def baddbmm(bias: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    if a.shape[0] == 1:
        return torch.addmm(bias[0], a[0], b[0]).unsqueeze(0)
    return torch.baddbmm(bias, a, b)


def bmm(a: torch.Tensor, b: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    if a.shape[0] == 1:
        return torch.mm(a[0], b[0], out=None if out is None else out[0]).unsqueeze(0)
    return torch.bmm(a, b, out=out)


class Gradients:
    """One gradient buffer per parameter, written in place (a CUDA graph replays into the same memory).

    Models with zero_grad = false keep their gradient: the new one is added to it, as autograd's
    backward adds into `.grad` when nothing clears it.
    """

    def __init__(self, model: StackedMLP, keep: list[bool]):
        self.buffers = [torch.zeros_like(p) for p in model.params]
        self.keep_all, self.keep_none = all(keep), not any(keep)
        self.fresh = [torch.zeros_like(p) for p in model.params] if not self.keep_none else self.buffers
        self.keep = torch.tensor(keep, dtype=model.w1.dtype, device=model.w1.device).view(-1, 1, 1)

    def targets(self) -> list[torch.Tensor]:
        """Where backward writes this step's gradients."""
        return self.fresh

    def accumulate(self) -> None:
        if self.keep_none:
            return  # backward wrote straight into the buffers
        for total, new in zip(self.buffers, self.fresh):
            if not self.keep_all:
                total.mul_(self.keep)  # clears the models that call zero_grad(), keeps the others
            total.add_(new)


class Optimizers:
    """Adam and SGD (with momentum) for every model, through torch's fused kernels.

    Models that share optimizer settings form one group: one fused call updates all their parameters
    (views into the stacked tensors). Adam's step count is one device tensor, so a CUDA graph replays it.
    """

    def __init__(self, model: StackedMLP, grads: Gradients, configs: list[TrainConfig]):
        device = model.w1.device
        self.step_count = torch.zeros((), dtype=torch.float32, device=device)
        self.state = [self.step_count]
        self.groups = []

        def settings(i: int) -> tuple:
            c = configs[i]
            return ("adam", c.lr, 0.0) if c.optimizer == "adam" else ("sgd", c.lr, c.momentum)

        by_settings = groupby(sorted(range(model.k), key=settings), key=settings)
        moments = {"adam": [[torch.zeros_like(p) for p in model.params] for _ in range(2)], "sgd": None}
        if any(c.optimizer == "sgd" and c.momentum > 0 for c in configs):
            moments["sgd"] = [[torch.zeros_like(p) for p in model.params]]
        for name in ("adam", "sgd"):
            if moments[name] is not None and any(c.optimizer == name for c in configs):
                self.state += [t for tensors in moments[name] for t in tensors]

        def views(tensors: list[torch.Tensor], members: list[int]) -> list[torch.Tensor]:
            return [t[i] for i in members for t in tensors]

        for (name, lr, momentum), members in ((s, list(m)) for s, m in by_settings):
            group = {"name": name, "lr": lr, "momentum": momentum,
                     "params": views(model.params, members), "grads": views(grads.buffers, members)}
            if name == "adam":
                group["exp_avg"], group["exp_avg_sq"] = (views(t, members) for t in moments["adam"])
            else:
                group["buffers"] = views(moments["sgd"][0], members) if momentum > 0 else []
            self.groups.append(group)

    def step(self) -> None:
        self.step_count.add_(1)
        for g in self.groups:
            if g["name"] == "adam":
                # The kernel only reads the step count, so all parameters may share the one tensor.
                torch._fused_adam_(g["params"], g["grads"], g["exp_avg"], g["exp_avg_sq"], [],
                                   [self.step_count] * len(g["params"]), amsgrad=False, lr=g["lr"],
                                   beta1=ADAM_BETAS[0], beta2=ADAM_BETAS[1], weight_decay=0.0, eps=ADAM_EPS,
                                   maximize=False)
            else:
                # A zero momentum buffer gives the first step's update as the plain gradient, as torch's
                # first step does by copying it, so every step is the same kernel (capturable).
                torch._fused_sgd_(g["params"], g["grads"], g["buffers"], weight_decay=0.0,
                                  momentum=g["momentum"], lr=g["lr"], dampening=0.0, nesterov=False,
                                  maximize=False, is_first_step=False)


class Probes:
    """Per-model sums over an epoch's training batches, taken from the pass itself."""

    def __init__(self, k: int, wanted: bool, device: torch.device):
        self.wanted = wanted
        self.active = torch.zeros(k, dtype=torch.float64, device=device)
        self.grad_sq = torch.zeros(k, dtype=torch.float64, device=device)

    def record(self, pre: torch.Tensor, grad_pre: torch.Tensor) -> None:
        if self.wanted:
            # relu_active: positive ReLU inputs (where its derivative is 1). relu_grad_sq: the squared sum of
            # ∂loss/∂(ReLU input), which is what a backward hook on the ReLU module receives as grad_input.
            self.active.add_((pre > 0).sum(dim=(1, 2)))
            self.grad_sq.add_(grad_pre.double().square().sum(dim=(1, 2)))

    def reset(self) -> None:
        self.active.zero_()
        self.grad_sq.zero_()

    def read(self, names: list[tuple[str, ...]]) -> list[dict[str, float]]:
        """Each model's sums of the probes it asked for (names[i] for model i), as Python numbers (a device sync)."""
        sums = {"relu_active": self.active.tolist(), "relu_grad_sq": self.grad_sq.tolist()}
        return [{name: sums[name][i] for name in wanted} for i, wanted in enumerate(names)]


_MINUS_ONES: dict[tuple, torch.Tensor] = {}


def minus_one(like: torch.Tensor) -> torch.Tensor:
    """A tensor of -1 shaped like `like`, made once per shape (one kernel less per step)."""
    key = (tuple(like.shape), like.dtype, like.device)
    if key not in _MINUS_ONES:
        _MINUS_ONES[key] = torch.full_like(like, -1.0)
    return _MINUS_ONES[key]


def forward_backward(model: StackedMLP, x: torch.Tensor, y: torch.Tensor, grads: list[torch.Tensor],
                     loss_sum: torch.Tensor, probes: Probes) -> None:
    """One batch per model (x [K, B, 784], y [K, B]): adds each model's mean loss to loss_sum [K] and
    writes d(mean loss)/d(parameter) into grads (w1, b1, w2, b2 order)."""
    batch = x.shape[1]
    pre = model.pre_activation(x)                                    # [K, B, H]
    hidden = pre.clamp_min(0)
    log_probs = model.logits(hidden).log_softmax(dim=2)              # [K, B, 10]
    picked = log_probs.gather(2, y.unsqueeze(2))                     # log p(true class)
    loss_sum.sub_(picked.sum(dim=(1, 2)), alpha=1 / batch)
    # d(mean cross-entropy)/d(logits) = (softmax − one-hot) / B
    grad_logits = log_probs.exp_()
    grad_logits.scatter_add_(2, y.unsqueeze(2), minus_one(picked))
    grad_logits.mul_(1 / batch)
    g_w1, g_b1, g_w2, g_b2 = grads
    bmm(grad_logits.transpose(1, 2), hidden, out=g_w2)
    torch.sum(grad_logits, dim=1, keepdim=True, out=g_b2)
    grad_pre = torch.ops.aten.threshold_backward(bmm(grad_logits, model.w2), pre, 0)  # ReLU's backward
    bmm(grad_pre.transpose(1, 2), x, out=g_w1)
    torch.sum(grad_pre, dim=1, keepdim=True, out=g_b1)
    probes.record(pre, grad_pre)


@torch.no_grad()
def evaluate(model: StackedMLP, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-model (mean loss per example, accuracy) over all of x (the test set, or the validation split),
    as [K] tensors."""
    loss = torch.zeros(model.k, dtype=torch.float64, device=x.device)
    correct = torch.zeros(model.k, dtype=torch.int64, device=x.device)
    for start in range(0, x.shape[0], EVAL_CHUNK):
        xs, ys = x[start:start + EVAL_CHUNK], y[start:start + EVAL_CHUNK]
        logits = model.logits(model.pre_activation(xs).clamp_min_(0))
        target = ys.expand(model.k, -1)
        loss += F.cross_entropy(logits.transpose(1, 2), target, reduction="none").sum(dim=1).double()
        correct += (logits.argmax(dim=2) == target).sum(dim=1)
    count = max(x.shape[0], 1)
    return loss / count, correct.double() / count


def check_stackable(configs: list[TrainConfig]) -> None:
    first = configs[0]
    if any(getattr(c, key) != getattr(first, key) for c in configs for key in STACK_KEYS):
        raise ValueError(f"runs in one stack must agree on {', '.join(STACK_KEYS)}")


def train_stack(configs: list[TrainConfig], repeats: list[int], data: Dataset, device: torch.device,
                progress: ProgressFn | None = None) -> list[RunRecord]:
    """Train one model per (config, repeat) together; their records in the same order. One config and
    one repeat is a run alone."""
    check_stackable(configs)
    first = configs[0]
    setup_started = time.perf_counter()
    k = len(configs)
    seeds = [c.seed + r for c, r in zip(configs, repeats)]
    model = StackedMLP(first.hidden, seeds, device)
    grads = Gradients(model, [not c.zero_grad for c in configs])
    optimizer = Optimizers(model, grads, configs)
    probes = Probes(k, any(c.probes for c in configs), device)
    loss_sum = torch.zeros(k, device=device)
    shuffles = [torch.Generator().manual_seed(seed) for seed in seeds]
    n_train, batch_size = data.train_x.shape[0], first.batch_size
    n_batches = math.ceil(n_train / batch_size)
    features = data.train_x.shape[1]

    def step(index: torch.Tensor) -> None:
        """One optimizer step of every model on its own batch; index is [K, B]."""
        flat = index.reshape(-1)
        x = data.train_x.index_select(0, flat).view(k, -1, features)
        y = data.train_y.index_select(0, flat).view(k, -1)
        forward_backward(model, x, y, grads.targets(), loss_sum, probes)
        grads.accumulate()
        optimizer.step()

    # The fused Triton step (fused.py) replaces `step` where it computes the same step; the choice is kept.
    choice = fused.choose(configs, device)
    fused_step = fused.FusedStep(model.params, configs, data.train_x, data.train_y, batch_size, loss_sum,
                                 probes.active, probes.grad_sq, probes.wanted) if choice.use else None
    prepared = prepare_step(fused_step or step, n_train, batch_size, lambda size: (k, size), device,
                            capture=all(c.cuda_graphs for c in configs), params=model.params,
                            zero=[*grads.buffers, *grads.fresh, *optimizer.state, loss_sum, probes.active,
                                  probes.grad_sq, *(fused_step.state if fused_step else [])])

    def start_epoch() -> torch.Tensor:
        """Zero the sums and draw every model's order ([K, N]), before the clock starts."""
        loss_sum.zero_()
        probes.reset()
        return torch.stack([torch.randperm(n_train, generator=g) for g in shuffles]).to(device)

    def train_epoch(order: torch.Tensor) -> None:
        run_batches(order.split(batch_size, dim=-1), prepared.run, progress)

    def evaluate_epoch() -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor] | None]:
        held_out = None if data.val_x is None else evaluate(model, data.val_x, data.val_y)
        return evaluate(model, data.test_x, data.test_y), held_out

    def read_epoch(evaluated) -> EpochScores:
        (test_loss, test_accuracy), held_out = evaluated
        return EpochScores((loss_sum / n_batches).tolist(), test_loss.tolist(), test_accuracy.tolist(),
                           probes.read([c.probes for c in configs]),
                           *((None, None) if held_out is None else (held_out[0].tolist(), held_out[1].tolist())))

    runs = [RunRecord(repeat=r, seed=s, epochs=[], stacked_with=k, cuda_graphs=prepared.graphed,
                      cuda_graph_error=prepared.error, fused=choice.use, fused_note=choice.note)
            for r, s in zip(repeats, seeds)]
    timed_epochs(runs, setup_started, first.epochs, n_batches, device, progress, start=start_epoch,
                 train=train_epoch, evaluate=evaluate_epoch, read=read_epoch)
    return runs
