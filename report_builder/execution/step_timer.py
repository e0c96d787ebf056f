"""One timed sample of an experiment's training step, driven through training's public `train`.

A sample trains a fresh model for one epoch on the first (WARMUP_STEPS + steps) × batch size images of the
experiment's training set (cycled where it holds fewer: a step costs the same whichever images it takes),
exactly as the experiment trains (engine, pipeline, probes, CUDA graphs): the first
WARMUP_STEPS steps warm up (caches, DataLoader workers starting, the allocator), and the clock runs over the
`steps` that follow. The clocks are read in the progress callback that `run_batches` calls every
PROGRESS_EVERY steps, so setup, evaluation and the reading of results stay outside the sample. Beside the
wall seconds it records this process tree's CPU seconds (DataLoader workers included) and how much of the
CPUs other processes used meanwhile (contention.measure).
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from typing import Any

import torch

from report_builder.config import TrainConfig
from report_builder.training import contention
from report_builder.training.data import Dataset
from report_builder.training.records import PROGRESS_EVERY, synchronize
from report_builder.training.train import train

WARMUP_STEPS = PROGRESS_EVERY
"""Steps before the clock starts in every sample: the first progress callback marks their end."""
EVAL_EXAMPLES = 100
"""Test images evaluated after a sample's epoch (outside its clock): as few as keep evaluation meaningful."""
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


class StepTimer:
    """Times `config`'s training step on `data` (the experiment's full prepared dataset) on `device`."""

    def __init__(self, config: TrainConfig, data: Dataset, device: torch.device):
        self.config = dataclasses.replace(config, epochs=1, repeats=1)
        self.data, self.device = data, device
        self.images = data.train_x.shape[0]

    @property
    def steps_per_epoch(self) -> int:
        """Steps of one epoch of the experiment itself (its whole training set)."""
        return math.ceil(self.images / self.config.batch_size)

    @property
    def max_steps(self) -> int:
        """The most steps a sample times: as many as one epoch has (at least one callback's worth), so that a
        sample never holds more images than a run does."""
        return max(PROGRESS_EVERY, self.steps_per_epoch // PROGRESS_EVERY * PROGRESS_EVERY)

    def steps_for(self, seconds: float, per_step: float) -> int:
        """The steps (whole callbacks, at most max_steps) that take at least `seconds` at `per_step` seconds each."""
        wanted = math.ceil(seconds / max(per_step, 1e-9) / PROGRESS_EVERY) * PROGRESS_EVERY
        return max(PROGRESS_EVERY, min(wanted, self.max_steps))

    def _subset(self, steps: int) -> Dataset:
        n = (WARMUP_STEPS + steps) * self.config.batch_size

        def take(t: torch.Tensor) -> torch.Tensor:
            t = t[:self.images]  # the raw images may hold a validation split after the training images
            return t[:n] if n <= t.shape[0] else t.repeat(math.ceil(n / t.shape[0]), *[1] * (t.dim() - 1))[:n]

        raw = self.data.raw
        # The dataloader pipeline reads the raw images (as many as train_x holds), the tensor pipeline train_x.
        raw = dataclasses.replace(raw, train_images=take(raw.train_images), train_labels=take(raw.train_labels))
        return dataclasses.replace(self.data, train_x=take(self.data.train_x), train_y=take(self.data.train_y),
                                   test_x=self.data.test_x[:EVAL_EXAMPLES], test_y=self.data.test_y[:EVAL_EXAMPLES],
                                   val_x=None, val_y=None, raw=raw)

    def sample(self, steps: int) -> dict[str, Any]:
        """Train WARMUP_STEPS + `steps` steps (a multiple of PROGRESS_EVERY) and time the last `steps`."""
        if steps % PROGRESS_EVERY or steps <= 0:
            raise ValueError(f"steps must be a positive multiple of {PROGRESS_EVERY}, got {steps}")
        total = WARMUP_STEPS + steps
        marks: list[tuple[float, contention.CpuSample]] = []
        done = 0

        def heard(advanced: int) -> None:
            nonlocal done
            done += advanced
            if done == WARMUP_STEPS and not marks:
                synchronize(self.device)
                counters = contention.read_cpu()  # read before the clock starts: reading takes time too
                marks.append((time.perf_counter(), counters))
            elif done == total and len(marks) == 1:
                synchronize(self.device)
                ended = time.perf_counter()
                marks.append((ended, contention.read_cpu()))

        train([self.config], [0], self._subset(steps), self.device, heard)
        if len(marks) != 2:
            raise RuntimeError(f"the sample heard {done} of {total} steps (training stopped early?)")
        (t0, cpu0), (t1, cpu1) = marks
        window = contention.measure(cpu0, cpu1)
        return {"wall_seconds": t1 - t0, "cpu_seconds": (cpu1.own - cpu0.own) / _CLOCK_TICKS, "steps": steps,
                "threads": torch.get_num_threads(),
                "others_share": None if window is None or window.others_share is None else round(window.others_share, 4)}
