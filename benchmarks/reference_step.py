"""The bare written-out train step: the yardstick the explicit engine is timed against.

One MLP, forward and backward as plain torch ops (addmm; softmax minus one-hot; masked mm) and torch's
fused Adam kernel, with none of the engine's bookkeeping (no stack axis, loss sums, probes, progress,
per-epoch evaluation). Issue #12 measured it at 0.24 ms per step on a 2-core CPU; the engine should stay
within 1.3× of it on the same machine.
"""

from __future__ import annotations

import math
import time

import torch

from report_builder.training.model import build_model


def time_reference_step(data, batch_size: int, device: torch.device, epochs: int = 1) -> float:
    """Seconds per training epoch of the bare step over `data`'s training set (mean of `epochs`)."""
    model = build_model(128, 0, device)
    params = [p.detach() for p in model.parameters()]  # w1, b1, w2, b2
    w1, b1, w2, b2 = params
    grads = [torch.zeros_like(p) for p in params]
    exp_avg, exp_avg_sq = [torch.zeros_like(p) for p in params], [torch.zeros_like(p) for p in params]
    step_count = torch.zeros((), device=device)
    x_all, y_all = data.train_x, data.train_y
    n = x_all.shape[0]

    def step(index: torch.Tensor) -> None:
        x, y = x_all.index_select(0, index), y_all.index_select(0, index)
        pre = torch.addmm(b1, x, w1.t())
        hidden = pre.clamp_min(0)
        grad_logits = torch.addmm(b2, hidden, w2.t()).softmax(dim=1)
        grad_logits[torch.arange(x.shape[0], device=device), y] -= 1
        grad_logits /= x.shape[0]
        torch.mm(grad_logits.t(), hidden, out=grads[2])
        torch.sum(grad_logits, 0, out=grads[3])
        grad_pre = torch.mm(grad_logits, w2).mul_(pre > 0)
        torch.mm(grad_pre.t(), x, out=grads[0])
        torch.sum(grad_pre, 0, out=grads[1])
        step_count.add_(1)
        torch._fused_adam_(params, grads, exp_avg, exp_avg_sq, [], [step_count] * 4, amsgrad=False, lr=1e-3,
                           beta1=0.9, beta2=0.999, weight_decay=0.0, eps=1e-8, maximize=False)

    generator = torch.Generator().manual_seed(0)
    step(torch.arange(batch_size, device=device))  # warm-up
    seconds = []
    for _ in range(epochs):
        order = torch.randperm(n, generator=generator).to(device)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        started = time.perf_counter()
        for b in range(math.ceil(n / batch_size)):
            step(order[b * batch_size:(b + 1) * batch_size])
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds.append(time.perf_counter() - started)
    return sum(seconds) / len(seconds)
