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


def _restore(params: list[torch.Tensor], saved: list[torch.Tensor], state: list[torch.Tensor],
             accumulators: list[torch.Tensor]) -> None:
    """Put the model back where warm-up found it, in place (the graph holds these very tensors).

    Zeroed optimizer state is the state of an optimizer that has not stepped yet: Adam's moments and
    step count start at 0, and SGD's momentum buffer at 0 gives its first update as the plain gradient.
    Zeroed gradients are what a first backward with or without zero_grad() starts from.
    """
    with torch.no_grad():
        for live, copy in zip(params, saved):
            live.copy_(copy)
            if live.grad is not None:
                live.grad.zero_()
        for value in state + accumulators:
            value.zero_()


def optimizer_state(optimizer: torch.optim.Optimizer) -> list[torch.Tensor]:
    """Every tensor of a torch optimizer's state (it exists only after a first step)."""
    return [v for s in optimizer.state.values() for v in s.values() if torch.is_tensor(v)]


class GraphedSteps:
    """One captured step per batch size; `run(indices)` trains on the examples at `indices`.

    `step_on(index)` is the eager step; `index_shape(size)` the shape of its index for a batch of
    `size` ([size] for one model, [K, size] for a stack). `state()` lists the optimizer's tensors.
    """

    def __init__(self, step_on: Callable[[torch.Tensor], None], batch_sizes: list[int],
                 index_shape: Callable[[int], tuple[int, ...]], params: list[torch.Tensor],
                 state: Callable[[], list[torch.Tensor]], accumulators: list[torch.Tensor], device: torch.device):
        self.buffers = {b: torch.zeros(index_shape(b), dtype=torch.long, device=device) for b in batch_sizes}
        self.graphs: dict[int, torch.cuda.CUDAGraph] = {}
        saved = [p.detach().clone() for p in params]
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
            _restore(params, saved, state(), accumulators)

    def run(self, indices: torch.Tensor) -> None:
        size = indices.shape[-1]
        self.buffers[size].copy_(indices, non_blocking=True)
        self.graphs[size].replay()
