"""The autograd engine's probes: hooks on each activation module (config.PROBES says what each one means).

One sum per probe and activation layer, stored under config.probe_key(name, layer). All are accumulated
as tensors on the training device, so recording them never waits for the GPU.
"""

from __future__ import annotations

import torch
from torch import nn

from report_builder.config import APPROACH, probe_key
from report_builder.training.activations import derivative_sq_sum


class ProbeRecorder:
    """Hooks on activation modules that add each training batch's probe values to running sums."""

    def __init__(self, activations: list[nn.Module], names: tuple[str, ...], activation: str, device: torch.device):
        self.names = names
        self.activation = activation
        self.recording = False
        self.sums = {probe_key(name, layer): torch.zeros((), dtype=torch.float64, device=device)
                     for layer in range(1, len(activations) + 1) for name in names}
        self._handles = []
        for layer, module in enumerate(activations, start=1):
            first = [n for n in names if APPROACH[n] == 1]
            second = [n for n in names if APPROACH[n] == 2]
            if first:
                self._handles.append(module.register_forward_hook(self._derivative_hook(layer, first)))
            if second:
                self._handles.append(module.register_full_backward_hook(self._grad_hook(layer, second)))

    def _derivative_hook(self, layer: int, names: list[str]):
        def hook(module, inputs, output) -> None:
            if self.recording:
                value = derivative_sq_sum(self.activation, inputs[0], output, dims=tuple(range(inputs[0].dim())))
                for name in names:
                    self.sums[probe_key(name, layer)].add_(value)
        return hook

    def _grad_hook(self, layer: int, names: list[str]):
        # grad_input[0] is dLoss/d(activation input): the upstream gradient times the activation's derivative.
        def hook(module, grad_input, grad_output) -> None:
            if self.recording:
                value = grad_input[0].double().square().sum()
                for name in names:
                    self.sums[probe_key(name, layer)].add_(value)
        return hook

    def reset(self) -> None:
        for total in self.sums.values():
            total.zero_()

    def read(self) -> dict[str, float]:
        """The sums so far, as Python numbers (a device sync)."""
        return {name: float(total.item()) for name, total in self.sums.items()}

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()
