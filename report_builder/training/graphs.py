"""Warm-up and CUDA graphs for the train step: capture once per batch size, replay one graph per batch.

The MLP is bound by per-step launch overhead, not arithmetic: a replay launches all the kernels of a
step (gather, forward, loss, backward, optimizer, loss and probe accumulation) with one call.
The captured work is exactly the eager step, fed through index buffers.

Warm-up steps run before capture (and before the first timed epoch of an eager GPU run), so that
lazy work (kernel loading, cuBLAS workspaces, optimizer state) happens outside the graph and outside
the timings. Their effect is undone before training: `params` are copied back, and every tensor in
`zero` (gradients, optimizer state, loss and probe sums) is zeroed — the state of an optimizer that has
not stepped yet: Adam's moments and step count at 0, and SGD's momentum buffer at 0, which gives its
first update as the plain gradient.

Both engines get their step ready through `prepare_step`: captured, warmed up, or (on a CPU) as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

WARMUP_STEPS = 3

StepOn = Callable[[torch.Tensor], None]
IndexShape = Callable[[int], tuple[int, ...]]
Zero = list[torch.Tensor] | Callable[[], list[torch.Tensor]]


def _restore(params: list[torch.Tensor], saved: list[torch.Tensor], zero: list[torch.Tensor]) -> None:
    """Put the model back where warm-up found it, in place (a graph holds these very tensors)."""
    with torch.no_grad():
        for live, copy in zip(params, saved):
            live.copy_(copy)
            if live.grad is not None:
                live.grad.zero_()
        for value in zero:
            value.zero_()


def optimizer_state(optimizer: torch.optim.Optimizer) -> list[torch.Tensor]:
    """Every tensor of a torch optimizer's state (it exists only after a first step)."""
    return [v for s in optimizer.state.values() for v in s.values() if torch.is_tensor(v)]


class _Undo:
    """Snapshot the parameters; on exit, wait for every queued kernel, then restore.

    The wait comes first also when a warm-up step or a capture raised: kernels queued on the side stream
    may still be running, and a restore queued beside them could be overwritten by them.
    """

    def __init__(self, device: torch.device, params: list[torch.Tensor],
                 zero: Zero):
        self.device, self.params, self.zero = device, params, zero
        self.saved = [p.detach().clone() for p in params]

    def __enter__(self) -> "_Undo":
        return self

    def __exit__(self, *exc) -> None:
        torch.cuda.synchronize(self.device)
        _restore(self.params, self.saved, self.zero() if callable(self.zero) else self.zero)


def _warm(step_on: StepOn, buffers: dict[int, torch.Tensor], stream) -> None:
    with torch.cuda.stream(stream):
        for buffer in buffers.values():
            for _ in range(WARMUP_STEPS):
                step_on(buffer)


def _buffers(sizes: list[int], index_shape: IndexShape, device: torch.device) -> dict[int, torch.Tensor]:
    return {b: torch.zeros(index_shape(b), dtype=torch.long, device=device) for b in sizes}


def warm_up(step_on: StepOn, batch_sizes: list[int], index_shape: IndexShape, device: torch.device,
            params: list[torch.Tensor], zero: Zero) -> None:
    """Run a few steps of each batch size for an eager GPU run, then undo them."""
    buffers = _buffers(batch_sizes, index_shape, device)
    with _Undo(device, params, zero):
        stream = torch.cuda.Stream(device)
        stream.wait_stream(torch.cuda.current_stream(device))
        _warm(step_on, buffers, stream)


class GraphedSteps:
    """One captured step per batch size; `run(indices)` trains on the examples at `indices`.

    `step_on(index)` is the eager step; `index_shape(size)` the shape of its index for a batch of
    `size` ([size] for one model, [K, size] for a stack).
    """

    def __init__(self, step_on: StepOn, batch_sizes: list[int], index_shape: IndexShape, device: torch.device,
                 params: list[torch.Tensor], zero: Zero):
        self.buffers = _buffers(batch_sizes, index_shape, device)
        self.graphs: dict[int, torch.cuda.CUDAGraph] = {}
        # Also after a failed capture: the eager fallback must start from the untouched model.
        with _Undo(device, params, zero):
            stream = torch.cuda.Stream(device)
            stream.wait_stream(torch.cuda.current_stream(device))
            _warm(step_on, self.buffers, stream)
            torch.cuda.current_stream(device).wait_stream(stream)
            pool = None
            for size, buffer in self.buffers.items():
                graph = torch.cuda.CUDAGraph()
                with torch.cuda.graph(graph, pool=pool, stream=stream):
                    step_on(buffer)
                pool = graph.pool()
                self.graphs[size] = graph

    def run(self, indices: torch.Tensor) -> None:
        size = indices.shape[-1]
        self.buffers[size].copy_(indices, non_blocking=True)
        self.graphs[size].replay()


@dataclass(frozen=True)
class PreparedStep:
    """The step a run trains with, and how it came to be."""

    run: StepOn
    """The captured graphs' `run` where capture worked, else the eager step."""
    graphed: bool
    error: str | None
    """Why capture failed, when it was wanted and training falls back to eager steps."""


def graph_limit(cfg) -> str | None:
    """Why a config's step is not captured as a CUDA graph though capture is on, or None when it can be: the
    results say so, as they say why a capture failed."""
    if cfg.dropout > 0:
        # Masks come from each run's own generator (the same masks alone, in a stack and in both engines);
        # a graph would replay the generator offsets it captured.
        return "not captured: dropout draws its masks from each run's own generator; trained eagerly"
    return None


def prepare_step(step_on: StepOn, n_train: int, batch_size: int, index_shape: IndexShape, device: torch.device,
                 capture: bool, params: list[torch.Tensor], zero: Zero) -> PreparedStep:
    """On a GPU: the step captured as CUDA graphs when `capture` (eager where capture fails), else warmed up
    (lazy kernel loading and cuBLAS set-up happen here, not in the first timed epoch). On a CPU: as it is."""
    if device.type != "cuda":
        return PreparedStep(step_on, graphed=False, error=None)
    sizes = sorted({min(batch_size, n_train), n_train % batch_size} - {0})  # a full batch, and the last one
    error = None
    if capture:
        try:
            graphed = GraphedSteps(step_on, sizes, index_shape, device, params, zero)
            return PreparedStep(graphed.run, graphed=True, error=None)
        except Exception as e:  # capture failed (any cause): train eagerly, and say so in the results
            error = f"{e.__class__.__name__}: {e}".splitlines()[0]
    warm_up(step_on, sizes, index_shape, device, params, zero)
    return PreparedStep(step_on, graphed=False, error=error)
