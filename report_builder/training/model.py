"""The network: Linear(784, H₁) → activation → [dropout] → … → Linear(H_last, 10). The assignment's is one
ReLU layer of 128 units, no dropout."""

from __future__ import annotations

import torch
from torch import nn

from report_builder.training.activations import Dropout, activation_module, dropout_generator

INPUTS = 28 * 28
CLASSES = 10


class MLP(nn.Module):
    """`linears`: every Linear layer, input to output; `activations`: one per hidden layer."""

    def __init__(self, layers: tuple[int, ...], activation: str = "relu", dropout: float = 0.0,
                 generator: torch.Generator | None = None):
        super().__init__()
        widths = (INPUTS, *layers, CLASSES)
        # Built input to output, so that a seed draws the same weights as the stacked engine's copy of it.
        self.linears = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths, widths[1:]))
        self.activations = nn.ModuleList(activation_module(activation) for _ in layers)
        self.dropouts = nn.ModuleList(Dropout(dropout, generator) for _ in layers) if dropout > 0 else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, activation in enumerate(self.activations):
            x = activation(self.linears[i](x))
            if self.dropouts is not None:
                x = self.dropouts[i](x)
        return self.linears[-1](x)


def build_model(layers: int | tuple[int, ...], seed: int, device: torch.device, activation: str = "relu",
                dropout: float = 0.0) -> MLP:
    """Initialise on the CPU from `seed` alone, so CPU and GPU runs start from the same weights. With dropout,
    the masks come from a generator of the run's own on `device`, seeded from `seed`."""
    layers = (layers,) if isinstance(layers, int) else tuple(layers)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = MLP(layers, activation, dropout, dropout_generator(seed, device) if dropout > 0 else None)
    return model.to(device)
