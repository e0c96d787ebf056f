"""Train runs with the engine their config names; printing is not this layer's job.

`engine = "explicit"` (engine.py) trains a stack of K ≥ 1 models with forward and backward written out;
`engine = "autograd"` (autograd.py) trains one nn.Module at a time, and so does every run of the
"dataloader" pipeline, which keeps the 2021 notebook's loop exactly.
"""

from __future__ import annotations

import torch

from report_builder.config import TrainConfig
from report_builder.training.data import Dataset
from report_builder.training.records import ProgressFn, RunRecord


def train(configs: list[TrainConfig], repeats: list[int], data: Dataset, device: torch.device,
          progress: ProgressFn | None = None) -> list[RunRecord]:
    """One record per (config, repeat), in order. Several configs train as one stack (explicit engine)."""
    engines = {c.effective_engine for c in configs}
    if engines == {"explicit"}:
        from report_builder.training.engine import train_stack

        return train_stack(configs, repeats, data, device, progress)
    if len(configs) != 1:
        raise ValueError("only the explicit engine trains a stack; autograd runs train alone")
    from report_builder.training.autograd import train_run

    return [train_run(configs[0], data, repeats[0], device, progress)]
