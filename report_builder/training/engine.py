"""The training engine: K ≥ 1 MLPs trained at once, their forward and backward written out.

Linear(784, H₁) → activation → [dropout] → … → Linear(H_last, 10) → cross-entropy (the assignment's: one ReLU
layer), for K models whose weights are stacked on a leading axis ([K, H, 784], …), each on its own batch, in
one pass of batched matrix products. K = 1 is
a run alone. The step is written out as llm.c writes its layers: every forward and backward operation
explicit, checked against autograd by the tests. This removes autograd's and torch.optim's per-step
overhead, which, not arithmetic, decides this MLP's speed; on a GPU the same step is what one CUDA graph
captures, with fewer kernels than autograd's.

Every model keeps its own seed (initialisation and shuffle order), learning rate, optimizer (Adam, or
SGD with momentum), weight decay, zero_grad choice, dropout rate and masks, and probes, so each computes
what it would compute alone, up to
floating-point rounding. Optimizer steps are torch's fused kernels, one call per group of models that
share optimizer settings; `engine = "autograd"` (autograd.py) is the plain nn.Module reference.
"""

from __future__ import annotations

import math
import time
from itertools import groupby

import torch
from torch.nn import functional as F

from report_builder.config import APPROACH, TrainConfig, probe_key
from report_builder.training import activations, fused, subnormals
from report_builder.training.data import Dataset
from report_builder.training.graphs import graph_limit, prepare_step
from report_builder.training.model import build_model
from report_builder.training.records import (
    EVAL_CHUNK,
    EpochScores,
    ProgressFn,
    RunRecord,
    prediction_bytes,
    run_batches,
    timed_epochs,
)

ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8
STACK_KEYS = ("batch_size", "epochs", "layers", "activation", "pipeline", "max_train", "max_test", "validation",
              "dataset", "data_dir", "device")
"""Runs can share a stack only when all of these agree; everything else may differ per model."""


class StackedMLP:
    """K MLPs as stacked parameter tensors in nn.Linear's layout, initialised exactly as K separate
    `model.build_model` MLPs are (same seeds, same numbers). `weights[l]` is [K, out, in], `biases[l]`
    [K, 1, out], for the Linear layers l = 0 (input) … L (output); `params` lists w, b per layer."""

    def __init__(self, layers: int | tuple[int, ...], seeds: list[int], device: torch.device,
                 activation: str = "relu"):
        models = [build_model(layers, seed, torch.device("cpu")) for seed in seeds]
        self.activation = activation
        self.weights = [torch.stack([m.linears[i].weight.detach() for m in models]).to(device)
                        for i in range(len(models[0].linears))]
        self.biases = [torch.stack([m.linears[i].bias.detach().view(1, -1) for m in models]).to(device)
                       for i in range(len(models[0].linears))]
        self.params = [t for pair in zip(self.weights, self.biases) for t in pair]
        self.w1 = self.weights[0]

    @property
    def k(self) -> int:
        return self.w1.shape[0]

    @property
    def depth(self) -> int:
        """How many hidden (activation) layers."""
        return len(self.weights) - 1

    def pre_activation(self, x: torch.Tensor) -> torch.Tensor:
        """x: [K, B, 784] (each model its own batch) or [B, 784] (one batch for all) → first activation's
        input [K, B, H₁]."""
        if x.dim() == 2:
            return torch.matmul(x, self.w1.transpose(1, 2)) + self.biases[0]
        return baddbmm(self.biases[0], x, self.w1.transpose(1, 2))

    def linear(self, layer: int, h: torch.Tensor) -> torch.Tensor:
        """Linear layer `layer` (1 … L) of h [K, B, in] → [K, B, out]."""
        return baddbmm(self.biases[layer], h, self.weights[layer].transpose(1, 2))

    def logits(self, h: torch.Tensor) -> torch.Tensor:
        """The rest of the network after the first activation, without dropout (evaluation): → [K, B, 10]."""
        for layer in range(1, self.depth):
            h = activations.forward(self.activation, self.linear(layer, h))
        return self.linear(self.depth, h)


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
            return ("adam", c.lr, 0.0, c.weight_decay) if c.optimizer == "adam" else ("sgd", c.lr, c.momentum,
                                                                                     c.weight_decay)

        by_settings = groupby(sorted(range(model.k), key=settings), key=settings)
        moments = {"adam": [[torch.zeros_like(p) for p in model.params] for _ in range(2)], "sgd": None}
        if any(c.optimizer == "sgd" and c.momentum > 0 for c in configs):
            moments["sgd"] = [[torch.zeros_like(p) for p in model.params]]
        for name in ("adam", "sgd"):
            if moments[name] is not None and any(c.optimizer == name for c in configs):
                self.state += [t for tensors in moments[name] for t in tensors]

        def views(tensors: list[torch.Tensor], members: list[int]) -> list[torch.Tensor]:
            return [t[i] for i in members for t in tensors]

        for (name, lr, momentum, weight_decay), members in ((s, list(m)) for s, m in by_settings):
            group = {"name": name, "lr": lr, "momentum": momentum, "weight_decay": weight_decay,
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
                                   beta1=ADAM_BETAS[0], beta2=ADAM_BETAS[1], weight_decay=g["weight_decay"], eps=ADAM_EPS,
                                   maximize=False)
            else:
                # A zero momentum buffer gives the first step's update as the plain gradient, as torch's
                # first step does by copying it, so every step is the same kernel (capturable).
                torch._fused_sgd_(g["params"], g["grads"], g["buffers"], weight_decay=g["weight_decay"],
                                  momentum=g["momentum"], lr=g["lr"], dampening=0.0, nesterov=False,
                                  maximize=False, is_first_step=False)


class Probes:
    """Per-model, per-layer sums over an epoch's training batches, taken from the pass itself: `derivative_sq`
    [L, K] (approach 1: Σ f′(x)², for a ReLU the count of positive inputs) and `grad_sq` [L, K] (approach 2:
    Σ (∂loss/∂x)², x the activation's input, what a backward hook on the activation module receives)."""

    def __init__(self, k: int, wanted: bool, device: torch.device, activation: str = "relu", depth: int = 1):
        self.wanted, self.activation = wanted, activation
        self.derivative_sq = torch.zeros(depth, k, dtype=torch.float64, device=device)
        self.grad_sq = torch.zeros(depth, k, dtype=torch.float64, device=device)
        self.state = [self.derivative_sq, self.grad_sq]

    @property
    def active(self) -> torch.Tensor:
        """A ReLU network's first layer's count of positive inputs, per model."""
        return self.derivative_sq[0]

    def record(self, layer: int, pre: torch.Tensor, out: torch.Tensor, grad_pre: torch.Tensor) -> None:
        """Add one batch of activation layer `layer` (0-based): its input pre, output out, and ∂loss/∂pre."""
        if self.wanted:
            self.derivative_sq[layer].add_(activations.derivative_sq_sum(self.activation, pre, out, dims=(1, 2)))
            self.grad_sq[layer].add_(grad_pre.double().square().sum(dim=(1, 2)))

    def reset(self) -> None:
        self.derivative_sq.zero_()
        self.grad_sq.zero_()

    def read(self, names: list[tuple[str, ...]]) -> list[dict[str, float]]:
        """Each model's sums of the probes it asked for (names[i] for model i), one per layer under
        config.probe_key, as Python numbers (a device sync)."""
        sums = {1: self.derivative_sq.tolist(), 2: self.grad_sq.tolist()}
        return [{probe_key(name, layer + 1): sums[APPROACH[name]][layer][i]
                 for layer in range(self.derivative_sq.shape[0]) for name in wanted}
                for i, wanted in enumerate(names)]


class DropoutMasks:
    """Each model's inverted-dropout multipliers, drawn per layer and step from the model's own generator
    (activations.dropout_scale: the autograd engine draws the very same ones for the run alone)."""

    def __init__(self, rates: list[float], seeds: list[int], device: torch.device):
        self.rates, self.seeds, self.device = rates, seeds, device
        self.wanted = any(p > 0 for p in rates)
        self.generators = [activations.dropout_generator(seed, device) for seed in seeds]

    def restart(self) -> None:
        """Back to each model's first mask (warm-up steps before training drew some)."""
        for generator, seed in zip(self.generators, self.seeds):
            generator.manual_seed(seed + activations.DROPOUT_STREAM)

    def draw(self, shape: tuple[int, int], like: torch.Tensor) -> torch.Tensor:
        """[K, B, H] multipliers, 1 everywhere for a model without dropout (whose generator is not used)."""
        ones = torch.ones(shape, dtype=like.dtype, device=self.device)
        return torch.stack([activations.dropout_scale(shape, p, g, self.device, like.dtype) if p > 0 else ones
                            for p, g in zip(self.rates, self.generators)])


_MINUS_ONES: dict[tuple, torch.Tensor] = {}


def minus_one(like: torch.Tensor) -> torch.Tensor:
    """A tensor of -1 shaped like `like`, made once per shape (one kernel less per step)."""
    key = (tuple(like.shape), like.dtype, like.device)
    if key not in _MINUS_ONES:
        _MINUS_ONES[key] = torch.full_like(like, -1.0)
    return _MINUS_ONES[key]


def forward_backward(model: StackedMLP, x: torch.Tensor, y: torch.Tensor, grads: list[torch.Tensor],
                     loss_sum: torch.Tensor, probes: Probes, masks: DropoutMasks | None = None) -> None:
    """One batch per model (x [K, B, 784], y [K, B]): adds each model's mean loss to loss_sum [K] and
    writes d(mean loss)/d(parameter) into grads (w, b per Linear layer, input to output, as model.params)."""
    batch, act = x.shape[1], model.activation
    dropping = masks is not None and masks.wanted
    # Forward, keeping what the backward needs per hidden layer l: its input pre[l] [K, B, H_l], the
    # activation's output out[l], the dropout multiplier scale[l] and the layer's output h[l + 1].
    h, pres, outs, scales = [x], [], [], []
    for layer in range(model.depth):
        pre = model.pre_activation(x) if layer == 0 else model.linear(layer, h[-1])
        out = activations.forward(act, pre)
        pres.append(pre)
        outs.append(out)
        if dropping:
            scales.append(masks.draw(tuple(out.shape[1:]), out))
            out = out * scales[-1]
        h.append(out)
    log_probs = model.linear(model.depth, h[-1]).log_softmax(dim=2)  # [K, B, 10]
    picked = log_probs.gather(2, y.unsqueeze(2))                     # log p(true class)
    loss_sum.sub_(picked.sum(dim=(1, 2)), alpha=1 / batch)
    # d(mean cross-entropy)/d(logits) = (softmax − one-hot) / B
    grad_out = log_probs.exp_()
    grad_out.scatter_add_(2, y.unsqueeze(2), minus_one(picked))
    grad_out.mul_(1 / batch)
    # Backward, output layer first. In the forward pass each Linear was out = h @ wᵀ + b; so now
    # dw = doutᵀ @ h, db = Σ_batch dout and dh = dout @ w.
    for layer in range(model.depth, -1, -1):
        bmm(grad_out.transpose(1, 2), h[layer], out=grads[2 * layer])
        torch.sum(grad_out, dim=1, keepdim=True, out=grads[2 * layer + 1])
        if layer == 0:
            break
        grad_h = bmm(grad_out, model.weights[layer])                 # [K, B, H_layer]
        if dropping:
            grad_h = grad_h * scales[layer - 1]                      # forward was h = out * scale
        grad_out = activations.backward(act, grad_h, pres[layer - 1], outs[layer - 1])
        probes.record(layer - 1, pres[layer - 1], outs[layer - 1], grad_out)


@torch.no_grad()
def evaluate(model: StackedMLP, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-model (mean loss per example, accuracy) over all of x (the test set, or the validation split),
    as [K] tensors, and each image's records.prediction_bytes, [K, N]."""
    loss = torch.zeros(model.k, dtype=torch.float64, device=x.device)
    correct = torch.zeros(model.k, dtype=torch.int64, device=x.device)
    marks = []
    for start in range(0, x.shape[0], EVAL_CHUNK):
        xs, ys = x[start:start + EVAL_CHUNK], y[start:start + EVAL_CHUNK]
        logits = model.logits(activations.forward(model.activation, model.pre_activation(xs)))
        target = ys.expand(model.k, -1)
        loss += F.cross_entropy(logits.transpose(1, 2), target, reduction="none").sum(dim=1).double()
        predicted = logits.argmax(dim=2)
        correct += (predicted == target).sum(dim=1)
        marks.append(prediction_bytes(predicted, target))
    count = max(x.shape[0], 1)
    return loss / count, correct.double() / count, torch.cat(marks, dim=1) if marks else torch.zeros(model.k, 0, dtype=torch.uint8)


def check_stackable(configs: list[TrainConfig]) -> None:
    first = configs[0]
    if any(getattr(c, key) != getattr(first, key) for c in configs for key in STACK_KEYS):
        raise ValueError(f"runs in one stack must agree on {', '.join(STACK_KEYS)}")


def train_stack(configs: list[TrainConfig], repeats: list[int], data: Dataset, device: torch.device,
                progress: ProgressFn | None = None) -> list[RunRecord]:
    """Train one model per (config, repeat) together; their records in the same order. One config and
    one repeat is a run alone."""
    check_stackable(configs)
    subnormals.flush()
    first = configs[0]
    setup_started = time.perf_counter()
    k = len(configs)
    seeds = [c.seed + r for c, r in zip(configs, repeats)]
    model = StackedMLP(first.layers, seeds, device, first.activation)
    grads = Gradients(model, [not c.zero_grad for c in configs])
    optimizer = Optimizers(model, grads, configs)
    probes = Probes(k, any(c.probes for c in configs), device, first.activation, model.depth)
    masks = DropoutMasks([c.dropout for c in configs], seeds, device)
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
        forward_backward(model, x, y, grads.targets(), loss_sum, probes, masks)
        grads.accumulate()
        optimizer.step()

    capture = all(c.cuda_graphs for c in configs)
    not_captured = next(filter(None, map(graph_limit, configs)), None) if capture and device.type == "cuda" else None
    # The fused Triton step (fused.py) replaces `step` where it computes the same step (one ReLU layer, whose
    # probes are layer 0's sums); the choice is kept.
    choice = fused.choose(configs, device)
    fused_step = fused.FusedStep(model.params, configs, data.train_x, data.train_y, batch_size, loss_sum,
                                 probes.derivative_sq[0], probes.grad_sq[0], probes.wanted) if choice.use else None
    prepared = prepare_step(fused_step or step, n_train, batch_size, lambda size: (k, size), device,
                            capture=capture and not_captured is None, params=model.params,
                            zero=[*grads.buffers, *grads.fresh, *optimizer.state, loss_sum, *probes.state,
                                  *(fused_step.state if fused_step else [])])
    masks.restart()

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
        (test_loss, test_accuracy, marks), held_out = evaluated
        return EpochScores((loss_sum / n_batches).tolist(), test_loss.tolist(), test_accuracy.tolist(),
                           probes.read([c.probes for c in configs]),
                           *((None, None) if held_out is None else (held_out[0].tolist(), held_out[1].tolist())),
                           test_predictions=[m.numpy().tobytes() for m in marks.cpu()])

    runs = [RunRecord(repeat=r, seed=s, epochs=[], stacked_with=k, cuda_graphs=prepared.graphed,
                      cuda_graph_error=prepared.error or not_captured, fused=choice.use, fused_note=choice.note)
            for r, s in zip(repeats, seeds)]
    timed_epochs(runs, setup_started, first.epochs, n_batches, device, progress, start=start_epoch,
                 train=train_epoch, evaluate=evaluate_epoch, read=read_epoch)
    return runs
