"""Per-epoch measurements of the ReLU layer (the writeup's Problem 2, approaches 1 and 2).

Both are accumulated as tensors on the training device, so recording them never waits for the GPU.
"""

from __future__ import annotations

import torch
from torch import nn

PROBES = {
    "relu_active": "Number of positive ReLU inputs over the epoch's training batches: where the ReLU's "
                   "derivative is 1 (approach 1 of the writeup: counting, since 1² = 1).",
    "relu_grad_sq": "Sum of squares of the loss gradient with respect to the ReLU's input, as a backward "
                    "hook on the ReLU module receives it, over the epoch's training batches (approach 2).",
}


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
