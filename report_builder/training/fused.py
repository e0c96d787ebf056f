"""The explicit engine's train step as two Triton kernels (fused_kernels.py), for CUDA.

On a GPU this MLP's step costs launches, not arithmetic: the written-out step (engine.py) is ~30 tiny
kernels. Here one kernel does the forward, the loss gradient and the gradient at the hidden layer for every
model of the stack, and a second computes the weight gradients tile by tile and steps each tile (Adam or
SGD, per model) and its moments in place; the loss and probe sums ride along. Same contract as the
written-out step: `step(index)` with index [K, B] trains every model on its batch, adds each model's mean
loss to `loss_sum`, the probes to their sums, and keeps the gradient of zero_grad = false models.
CUDA graphs capture it as they capture the written-out step.

Whether a run uses it is decided once per stack (`choose`), and the reason when not is kept in its
results: CUDA only, Triton installed, one ReLU hidden layer of at most MAX_HIDDEN units with the ReLU
probes and no dropout or weight decay (anything else trains with the written-out step), and switched on
by REPORT_BUILDER_FUSED=1 — off by default until the GPU measurements of issue 27 say it is faster
there. On a CPU the kernels run only under Triton's interpreter (TRITON_INTERPRET=1), which the tests
use to check them against the written-out step and autograd.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import torch

from report_builder.config import TrainConfig
from report_builder.errors import ConfigError

ENV = "REPORT_BUILDER_FUSED"
ON_BY_DEFAULT = False
"""Unmeasured on a GPU so far: the written-out step stays the default until the fused one is shown faster."""
MAX_HIDDEN = 256
"""Both kernels hold a row block's whole hidden layer in registers: at 512 they spill (ptxas, sm_90), and wider
layers outgrow shared memory. Wider ones train with the written-out step."""
PROBES = ("relu_active", "relu_grad_sq")
ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8
"""engine.py's, restated (importing them would make a cycle); tests/test_fused.py checks that they agree."""


@dataclass(frozen=True)
class FusedChoice:
    """Whether a stack trains with the fused step, and why not when it does not."""

    use: bool
    note: str | None = None


def unsupported(cfg: TrainConfig) -> list[str]:
    """What in cfg the fused kernels do not compute (empty: they compute all of it)."""
    # getattr: these keys arrive with the variations of issue 26; a config without them is a ReLU MLP.
    layers = cfg.hidden if isinstance(cfg.hidden, tuple) else (cfg.hidden,)
    reasons = []
    if len(layers) != 1:
        reasons.append(f"{len(layers)} hidden layers")
    elif layers[0] > MAX_HIDDEN:
        reasons.append(f"hidden = {layers[0]} (above {MAX_HIDDEN})")
    if getattr(cfg, "activation", "relu") != "relu":
        reasons.append(f"activation = {cfg.activation}")
    if getattr(cfg, "dropout", 0.0) > 0:
        reasons.append(f"dropout = {cfg.dropout}")
    if getattr(cfg, "weight_decay", 0.0) > 0:
        reasons.append(f"weight_decay = {cfg.weight_decay}")
    reasons += [f"probe {name}" for name in cfg.probes if name not in PROBES]
    return reasons


def setting() -> str:
    """REPORT_BUILDER_FUSED as set: "0", "1" or "" (unset); anything else is a ConfigError, which the runner
    raises before any work, not at the first epoch."""
    wish = os.environ.get(ENV, "")
    if wish not in ("", "0", "1"):
        raise ConfigError(f"{ENV}={wish!r}: must be 0 (the written-out step) or 1 (the fused Triton step)")
    return wish


def choose(configs: list[TrainConfig], device: torch.device) -> FusedChoice:
    """Whether this stack trains with the fused step; the note says why not, in the words the results keep."""
    wish = setting()
    if device.type != "cuda":
        return FusedChoice(False, "fused Triton step: CUDA only")
    if wish == "0" or (wish == "" and not ON_BY_DEFAULT):
        return FusedChoice(False, f"fused Triton step off ({ENV}=1 turns it on)" if wish == "" else
                           f"fused Triton step turned off by {ENV}=0")
    reasons = sorted({reason for cfg in configs for reason in unsupported(cfg)})
    if reasons:
        return FusedChoice(False, "fused Triton step: written-out step instead, for " + ", ".join(reasons))
    try:
        import triton  # noqa: F401
    except ImportError:
        return FusedChoice(False, "fused Triton step: Triton is not installed")
    return FusedChoice(True)


@dataclass(frozen=True)
class Tiles:
    """Block sizes of the two kernels (powers of two, at least 16 where they enter a matrix product).

    The defaults keep both kernels free of register spills on an H200 (sm_90, 8 warps, as ptxas -v reports
    them) for hidden layers up to MAX_HIDDEN; what runs fastest there is for the GPU measurements to say.
    """

    rows: int = 16
    """Batch rows per program of the first kernel."""
    inputs: int = 32
    """Inputs read per iteration of the first kernel (fewer for wide hidden layers: see `for_hidden`)."""
    w1_hidden: int = 32
    w1_inputs: int = 64
    """The tile of w1 each program of the second kernel owns."""
    batch: int = 32
    """Batch rows per iteration of the second kernel."""
    warps: int = 8

    def for_hidden(self, block_h: int) -> int:
        # (inputs × hidden) floats of w1 in registers per iteration: at most 4096 (16 per thread of 8 warps).
        return max(16, min(self.inputs, 4096 // block_h))


class FusedStep:
    """The fused train step of a stack; `step(index)` is one step, index [K, B] (B ≤ batch_size).

    params: w1 [K, H, D], b1 [K, 1, H], w2 [K, C, H], b2 [K, 1, C], contiguous, stepped in place.
    loss_sum [K] fp32, active and grad_sq [K] fp64: the epoch's sums, added to (the probes only when
    `probes`). `state` lists what a warm-up must zero to leave the optimizers unstepped.
    """

    def __init__(self, params: list[torch.Tensor], configs: list[TrainConfig], train_x: torch.Tensor,
                 train_y: torch.Tensor, batch_size: int, loss_sum: torch.Tensor, active: torch.Tensor,
                 grad_sq: torch.Tensor, probes: bool, tiles: Tiles = Tiles()):
        import triton

        from report_builder.training import fused_kernels

        self.kernels = fused_kernels
        if not all(p.is_contiguous() for p in params):
            raise ValueError("the fused step needs contiguous parameters")
        self.params, self.train_x, self.train_y = params, train_x, train_y
        self.loss_sum, self.active, self.grad_sq, self.probes = loss_sum, active, grad_sq, probes
        w1, w2 = params[0], params[2]
        self.k, self.hidden, self.inputs = w1.shape
        self.classes = w2.shape[1]
        self.tiles = tiles
        device = w1.device
        per_model = sum(p[0].numel() for p in params)
        self.grads, self.exp_avg, self.exp_avg_sq = (torch.zeros(self.k, per_model, device=device) for _ in range(3))
        self.adam = torch.zeros(3, dtype=torch.float64, device=device)
        self.settings = torch.tensor([[c.lr, c.momentum if c.optimizer == "sgd" else 0.0,
                                       float(c.optimizer == "adam"), float(not c.zero_grad)] for c in configs],
                                     dtype=torch.float32, device=device)
        self.state = [self.grads, self.exp_avg, self.exp_avg_sq, self.adam]
        self.row_blocks = math.ceil(batch_size / tiles.rows)
        self.hidden_out = torch.empty(self.k, batch_size, self.hidden, device=device)
        self.grad_pre = torch.empty_like(self.hidden_out)
        self.grad_logits = torch.empty(self.k, batch_size, self.classes, device=device)
        self.partial = torch.empty(self.k, self.row_blocks, 3, dtype=torch.float64, device=device)
        block_h = max(16, triton.next_power_of_2(self.hidden))
        block_c = max(16, triton.next_power_of_2(self.classes))
        self.w1_tiles = math.ceil(self.hidden / tiles.w1_hidden) * math.ceil(self.inputs / tiles.w1_inputs)
        # Each kernel's compile-time constants and launch options, as every launch passes them.
        self.first_constants = dict(BLOCK_M=tiles.rows, BLOCK_D=tiles.for_hidden(block_h), BLOCK_H=block_h,
                                    BLOCK_C=block_c, num_warps=tiles.warps)
        self.second_constants = dict(TILE_H=tiles.w1_hidden, TILE_D=tiles.w1_inputs, BLOCK_B=tiles.batch,
                                     BLOCK_H=block_h, BLOCK_C=block_c,
                                     BLOCK_ROW_BLOCKS=max(16, triton.next_power_of_2(self.row_blocks)),
                                     PROBES=probes, num_warps=tiles.warps)

    def gradients(self) -> list[torch.Tensor]:
        """The gradient buffers as views shaped like the parameters (w1, b1, w2, b2 order)."""
        views, start = [], 0
        for p in self.params:
            size = p[0].numel()
            views.append(self.grads[:, start:start + size].view(p.shape))
            start += size
        return views

    def __call__(self, index: torch.Tensor) -> None:
        index = index.contiguous()
        batch = index.shape[1]
        row_blocks = math.ceil(batch / self.tiles.rows)
        w1, b1, w2, b2 = self.params
        shape = dict(B=batch, D=self.inputs, H=self.hidden, C=self.classes)
        self.kernels.forward_backward_kernel[(self.k, row_blocks)](
            self.train_x, self.train_y, index, w1, b1, w2, b2, self.hidden_out, self.grad_pre, self.grad_logits,
            self.partial, self.adam, **shape, log_beta1=math.log(ADAM_BETAS[0]), log_beta2=math.log(ADAM_BETAS[1]),
            **self.first_constants)
        self.kernels.update_kernel[(self.k, self.w1_tiles + 1)](
            self.train_x, index, self.hidden_out, self.grad_pre, self.grad_logits, self.partial,
            w1, b1, w2, b2, self.grads, self.exp_avg, self.exp_avg_sq, self.settings, self.adam,
            self.loss_sum, self.active, self.grad_sq, **shape, row_blocks=row_blocks,
            beta1=ADAM_BETAS[0], beta2=ADAM_BETAS[1], eps=ADAM_EPS, **self.second_constants)
