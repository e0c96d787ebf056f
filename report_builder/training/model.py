"""The assignment's network: Linear(784, hidden) → ReLU → Linear(hidden, 10)."""

from __future__ import annotations

import torch
from torch import nn

INPUTS = 28 * 28
CLASSES = 10


class MLP(nn.Module):
    def __init__(self, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(INPUTS, hidden)
        self.relu = nn.ReLU()
        self.fc2 = nn.Linear(hidden, CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.relu(self.fc1(x)))


def build_model(hidden: int, seed: int, device: torch.device) -> MLP:
    """Initialise on the CPU from `seed` alone, so CPU and GPU runs start from the same weights."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = MLP(hidden)
    return model.to(device)
