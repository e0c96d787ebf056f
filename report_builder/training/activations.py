"""The hidden layers' activations and dropout, each a forward and a backward side by side, shared by both
engines: autograd.py wraps them in modules (autograd derives the backward), engine.py calls the backward
written here. The tests check each written backward against autograd's.

Shapes: every function takes and returns tensors of one shape, [K, B, H] in the explicit engine (K
models, B examples, H units) and [B, H] in the autograd engine.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

LEAKY_SLOPE = 0.01
"""leaky_relu's slope for negative inputs (torch's default)."""

DROPOUT_STREAM = 0x5EED
"""Added to a run's seed to seed its dropout generator: the masks then do not replay the uniform numbers that
drew the initial weights from the same seed."""


def forward(name: str, pre: torch.Tensor) -> torch.Tensor:
    """The activation of `pre` (the layer's input)."""
    if name == "relu":
        return pre.clamp_min(0)
    if name == "leaky_relu":
        return F.leaky_relu(pre, LEAKY_SLOPE)
    if name == "tanh":
        return torch.tanh(pre)
    if name == "sigmoid":
        return torch.sigmoid(pre)
    if name == "gelu":
        return F.gelu(pre)
    raise ValueError(f"unknown activation {name!r}")


def backward(name: str, grad_out: torch.Tensor, pre: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """d loss / d pre, given d loss / d out. In the forward pass this was out = f(pre); so now
    grad_pre = grad_out * f′(pre), through the same aten kernels autograd's backward uses."""
    if name == "relu":
        return torch.ops.aten.threshold_backward(grad_out, pre, 0)
    if name == "leaky_relu":
        return torch.ops.aten.leaky_relu_backward(grad_out, pre, LEAKY_SLOPE, False)
    if name == "tanh":
        return torch.ops.aten.tanh_backward(grad_out, out)          # f′ = 1 − tanh²
    if name == "sigmoid":
        return torch.ops.aten.sigmoid_backward(grad_out, out)       # f′ = σ(1 − σ)
    if name == "gelu":
        return torch.ops.aten.gelu_backward(grad_out, pre)          # f′ = Φ(x) + x φ(x)
    raise ValueError(f"unknown activation {name!r}")


def derivative_sq_sum(name: str, pre: torch.Tensor, out: torch.Tensor, dims: tuple[int, ...]) -> torch.Tensor:
    """Σ f′(x)² over `dims` of the layer's inputs (approach 1), in float64. For a ReLU this is the count of
    positive inputs (f′ is 1 there, 0 elsewhere): counted exactly, not summed as floats."""
    if name == "relu":
        return (pre > 0).sum(dim=dims).double()
    derivative = backward(name, torch.ones_like(pre), pre, out)
    return derivative.double().square().sum(dim=dims)


class Activation(nn.Module):
    """One activation layer of the autograd engine's MLP; autograd derives its backward."""

    def __init__(self, name: str):
        super().__init__()
        self.name = name

    def forward(self, pre: torch.Tensor) -> torch.Tensor:
        return forward(self.name, pre)


def activation_module(name: str) -> nn.Module:
    """torch's own module where there is one with the same arithmetic (the assignment's nn.ReLU), else ours."""
    return nn.ReLU() if name == "relu" else Activation(name)


def dropout_generator(seed: int, device: torch.device) -> torch.Generator:
    """A run's own source of dropout masks: the same masks for a run alone and in a stack, in both engines."""
    return torch.Generator(device=device).manual_seed(seed + DROPOUT_STREAM)


def dropout_scale(shape: tuple[int, ...], p: float, generator: torch.Generator, device: torch.device,
                  dtype: torch.dtype) -> torch.Tensor:
    """Inverted dropout's multiplier for one model's layer output of `shape`: 0 where an output is dropped
    (probability p), 1 / (1 − p) where it is kept, so that the expected output is unchanged."""
    keep = torch.rand(shape, generator=generator, device=device, dtype=dtype) >= p
    return keep.to(dtype).mul_(1 / (1 - p))


class Dropout(nn.Module):
    """Inverted dropout drawing its masks from a run's own generator (see dropout_scale); none in eval mode."""

    def __init__(self, p: float, generator: torch.Generator):
        super().__init__()
        self.p, self.generator = p, generator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        return x * dropout_scale(tuple(x.shape), self.p, self.generator, x.device, x.dtype)
