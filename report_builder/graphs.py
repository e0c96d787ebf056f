"""CUDA graphs for the train step: capture once per batch size, then replay one graph per batch.

The MLP is bound by per-step launch overhead, not arithmetic: a replay launches the ~20 kernels of a
step (gather, forward, loss, backward, optimizer, loss and probe accumulation) with one call.
The captured work is exactly the eager step (`train.make_train_step`), fed through index buffers.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

# Warm-up steps run on a side stream before capture, so that lazy allocations (optimizer state, cuBLAS
# workspaces, autograd buffers) happen outside the graph. Their effect is undone before training.
WARMUP_STEPS = 3


def _snapshot(model: nn.Module) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(live parameter, saved copy) for every parameter, taken before warm-up."""
    return [(p, p.detach().clone()) for p in model.parameters()]


def _restore(pairs: list[tuple[torch.Tensor, torch.Tensor]], model: nn.Module,
             optimizer: torch.optim.Optimizer, loss_sum: torch.Tensor, probe_sums: list[torch.Tensor]) -> None:
    """Put the model back where warm-up found it, in place (the graph holds these very tensors).

    Zeroed optimizer state is the state of an optimizer that has not stepped yet: Adam's moments and
    step count start at 0, and SGD's momentum buffer at 0 gives its first update as the plain gradient.
    Zeroed gradients are what a first backward with or without zero_grad() starts from.
    """
    with torch.no_grad():
        for live, saved in pairs:
            live.copy_(saved)
        for p in model.parameters():
            if p.grad is not None:
                p.grad.zero_()
        for state in optimizer.state.values():
            for value in state.values():
                if torch.is_tensor(value):
                    value.zero_()
        loss_sum.zero_()
        for total in probe_sums:
            total.zero_()


class GraphedSteps:
    """One captured step per batch size; `run(indices)` trains on the examples at `indices`."""

    def __init__(self, step_on: Callable[[torch.Tensor], None], batch_sizes: list[int], model: nn.Module,
                 optimizer: torch.optim.Optimizer, loss_sum: torch.Tensor, probe_sums: list[torch.Tensor],
                 device: torch.device):
        self.buffers = {b: torch.zeros(b, dtype=torch.long, device=device) for b in batch_sizes}
        self.graphs: dict[int, torch.cuda.CUDAGraph] = {}
        saved = _snapshot(model)
        try:
            stream = torch.cuda.Stream(device)
            stream.wait_stream(torch.cuda.current_stream(device))
            with torch.cuda.stream(stream):
                for buffer in self.buffers.values():
                    for _ in range(WARMUP_STEPS):
                        step_on(buffer)
            torch.cuda.current_stream(device).wait_stream(stream)
            pool = None
            for size, buffer in self.buffers.items():
                graph = torch.cuda.CUDAGraph()
                with torch.cuda.graph(graph, pool=pool, stream=stream):
                    step_on(buffer)
                pool = graph.pool()
                self.graphs[size] = graph
            torch.cuda.synchronize(device)
        finally:
            # Also after a failed capture: the eager fallback must start from the untouched model.
            _restore(saved, model, optimizer, loss_sum, probe_sums)

    def run(self, indices: torch.Tensor) -> None:
        size = indices.shape[0]
        self.buffers[size].copy_(indices, non_blocking=True)
        self.graphs[size].replay()
