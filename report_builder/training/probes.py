"""The autograd engine's probes: hooks on the ReLU module (config.PROBES says what each one means).

Both are accumulated as tensors on the training device, so recording them never waits for the GPU.
"""

from __future__ import annotations

import torch
from torch import nn


class ProbeRecorder:
    """Hooks on a ReLU module that add each training batch's probe values to running sums."""

    def __init__(self, relu: nn.Module, names: tuple[str, ...], device: torch.device):
        self.names = names
        self.recording = False
        self.sums = {name: torch.zeros((), dtype=torch.float64, device=device) for name in names}
        self._handles = []
        if "relu_active" in names:
            self._handles.append(relu.register_forward_hook(self._count_active))
        if "relu_grad_sq" in names:
            self._handles.append(relu.register_full_backward_hook(self._add_grad_sq))

    def _count_active(self, module, inputs, output) -> None:
        if self.recording:
            self.sums["relu_active"].add_((inputs[0] > 0).sum())

    def _add_grad_sq(self, module, grad_input, grad_output) -> None:
        # grad_input[0] is dLoss/d(ReLU input): the upstream gradient masked by the ReLU's derivative.
        if self.recording:
            self.sums["relu_grad_sq"].add_(grad_input[0].double().square().sum())

    def reset(self) -> None:
        for total in self.sums.values():
            total.zero_()

    def read(self) -> dict[str, float]:
        """The sums so far, as Python numbers (a device sync)."""
        return {name: float(total.item()) for name, total in self.sums.items()}

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()
