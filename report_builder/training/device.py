"""Which device a run trains on."""

from __future__ import annotations

import torch

from report_builder.errors import ConfigError


def resolve_device(wish: str, where: str) -> torch.device:
    """The device an experiment trains on; asking for CUDA where there is none is a config error."""
    if wish == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"{where} device = \"cuda\", but torch sees no CUDA GPU on this machine "
                          f"(torch {torch.__version__}); use device = \"auto\" or \"cpu\"")
    if wish == "auto":
        wish = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(wish)
