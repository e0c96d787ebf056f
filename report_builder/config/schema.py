"""The configuration's shape: frozen dataclasses whose fields are the single list of configuration keys,
with their types, defaults, allowed values and documentation (parse.py validates a file against them)."""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from report_builder.config.reference import Reference
from report_builder.errors import ConfigError

OPTIMIZERS = ("adam", "sgd")
DEVICES = ("auto", "cpu", "cuda")
PIPELINES = ("tensor", "dataloader")
ENGINES = ("explicit", "autograd")
# The per-epoch measurements of the ReLU layer (the writeup's Problem 2, approaches 1 and 2) and what each means.
PROBES = {
    "relu_active": "Number of positive ReLU inputs over the epoch's training batches: where the ReLU's "
                   "derivative is 1 (approach 1 of the writeup: counting, since 1² = 1).",
    "relu_grad_sq": "Sum of squares of the loss gradient with respect to the ReLU's input, as a backward "
                    "hook on the ReLU module receives it, over the epoch's training batches (approach 2).",
}

STACK_CHOICES = ("auto", True, False)


def _key(default: Any, doc: str, *, choices: tuple | None = None, minimum: float | None = None,
         exclusive_minimum: float | None = None, maximum: float | None = None) -> Any:
    """A config key: default, one-line doc and the constraints validated at load time."""
    meta = {"doc": doc, "choices": choices, "minimum": minimum,
            "exclusive_minimum": exclusive_minimum, "maximum": maximum}
    if isinstance(default, (list, tuple)):
        return field(default_factory=lambda: tuple(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class TrainConfig:
    """One experiment's resolved training settings ([defaults] merged with its own table)."""

    hidden: int = _key(128, "Width of the hidden layer of Linear(784, hidden) → ReLU → Linear(hidden, 10).", minimum=1)
    epochs: int = _key(5, "Passes over the training set.", minimum=1)
    batch_size: int = _key(32, "Training examples per optimizer step.", minimum=1)
    optimizer: str = _key("adam", "Optimizer: \"adam\" or \"sgd\".", choices=OPTIMIZERS)
    lr: float = _key(0.001, "Learning rate.", exclusive_minimum=0.0)
    momentum: float = _key(0.0, "Momentum for SGD (ignored by Adam).", minimum=0.0, maximum=0.999999)
    seed: int = _key(0, "Seed of the first repeat; repeat i uses seed + i (initialisation and shuffling).", minimum=0)
    repeats: int = _key(1, "Independent runs with seeds seed, seed+1, …; tables then show mean ± std.", minimum=1)
    zero_grad: bool = _key(True, "Clear gradients before each step; false accumulates them across steps.")
    probes: tuple[str, ...] = _key((), "Per-epoch measurements of the ReLU layer: " + ", ".join(f'"{p}"' for p in PROBES) + ".",
                                   choices=tuple(PROBES))
    device: str = _key("auto", "\"cuda\", \"cpu\", or \"auto\" (the GPU when there is one).", choices=DEVICES)
    data_dir: str | None = _key(None, "Directory holding Fashion-MNIST; unset: $REPORT_BUILDER_DATA_DIR, else ./data (downloaded).")
    max_train: int | None = _key(None, "Use only the first N training examples (quick trial runs).", minimum=1)
    max_test: int | None = _key(None, "Use only the first N test examples (quick trial runs).", minimum=1)
    pipeline: str = _key("tensor", "\"tensor\": the dataset held on the device, batches gathered by index; "
                         "\"dataloader\": the assignment's per-image PIL transforms and DataLoader workers "
                         "(slow; kept to show where the time goes).", choices=PIPELINES)
    loader_workers: int = _key(4, "DataLoader worker processes of the \"dataloader\" pipeline.", minimum=0)
    cuda_graphs: bool = _key(True, "On a GPU, capture the train step as CUDA graphs and replay them.")
    engine: str = _key("explicit", "\"explicit\": forward and backward written out, K models per pass; "
                       "\"autograd\": the plain nn.Module reference (the \"dataloader\" pipeline always uses it).",
                       choices=ENGINES)
    stack: bool | str = _key("auto", "Train together with compatible runs (same batch size, epochs, hidden size, "
                             "data) as one stack of models: \"auto\" on a GPU only, true always, false never.",
                             choices=STACK_CHOICES)

    @property
    def effective_engine(self) -> str:
        """The engine that trains this config: the dataloader pipeline keeps the notebook's autograd loop."""
        return "autograd" if self.pipeline == "dataloader" else self.engine

    def identity(self) -> dict[str, Any]:
        """The settings that change what training computes (not where data lives, not the device wish)."""
        data = dataclasses.asdict(self)
        # Where data lives, which device was wished for and whether the run was stacked do not change
        # what it computes (stacking: up to floating-point rounding).
        for key in ("data_dir", "device", "stack"):
            data.pop(key)
        data["probes"] = list(self.probes)
        data["engine"] = self.effective_engine
        return data


EXECUTORS = ("local", "local-gpus", "slurm")


@dataclass(frozen=True)
class ExecutorConfig:
    """Where runs execute ([executor]); results and report are the same whichever runs them."""

    kind: str = _key("local", "\"local\" (this process), \"local-gpus\" (one worker per GPU) or \"slurm\".",
                     choices=EXECUTORS)
    gpus: tuple[int, ...] | None = _key(None, "local-gpus: the GPU indices to use, as torch and nvidia-smi number the "
                                              "GPUs this process sees; unset: every visible GPU.", minimum=0)
    partition: str | None = _key(None, "slurm: partition (queue) to submit to; unset: the cluster's default.")
    account: str | None = _key(None, "slurm: account to charge.")
    time_limit_min: int = _key(60, "slurm: time limit of each job, in minutes.", minimum=1)
    gpus_per_job: int = _key(0, "slurm: GPUs per job (0: CPU jobs).", minimum=0)
    cpus_per_job: int = _key(1, "slurm: CPUs per job.", minimum=1)
    mem_gb: float = _key(4.0, "slurm: memory per job, in GB.", exclusive_minimum=0.0)
    array_parallelism: int = _key(64, "slurm: at most this many jobs of one array run at once.", minimum=1)
    tasks_per_job: int | str = _key("auto", "slurm: tasks (a repeat, or a stack of runs) one job trains, one after "
                                    "another, paying start-up once: \"auto\" packs them into as many jobs as the "
                                    "partition has free room for now; 1: a job per task.", minimum=1,
                                    choices=("auto",))
    sbatch: dict | None = _key(None, "slurm: extra sbatch options, e.g. { qos = \"short\", constraint = \"a100\" }.")
    cancel_on_interrupt: bool = _key(True, "slurm: cancel the submitted jobs when the driver is interrupted.")
    poll_seconds: float = _key(2.0, "slurm: how often the driver checks its jobs.", exclusive_minimum=0.0)


@dataclass(frozen=True)
class ReferenceConfig:
    """[reference]: published results to show beside ours (the shipped file: the 2021 writeup's numbers)."""

    file: str = _key("", "CSV file, relative to the experiments file: experiment, epoch, and any of train_loss, "
                     "test_loss, test_accuracy, train_seconds.")
    label: str = _key("reference", "What the numbers are, as the report names them (e.g. \"2021 writeup\").")
    hardware: str = _key("", "Where they were measured; their times are shown with it, never turned into a "
                         "speed-up against ours.")
    tolerance_points: float = _key(1.0, "With one seed of ours (no spread known): how many points of final test "
                                   "accuracy count as reproduced.", minimum=0.0)


@dataclass(frozen=True)
class Experiment:
    name: str
    title: str
    description: str
    config: TrainConfig


@dataclass(frozen=True)
class Group:
    """Experiments compared side by side in one report section."""

    name: str
    title: str
    description: str
    experiments: tuple[str, ...]
    baseline: str | None
    """The experiment that speed-ups and accuracy deltas are measured against."""
    timing: bool = False
    """A comparison of speed: its experiments always train alone, never stacked, so their times compare."""


def suggest(word: str, valid) -> str:
    """" (did you mean 'x'?)" for the closest valid name, or nothing."""
    close = difflib.get_close_matches(word, list(valid), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


@dataclass(frozen=True)
class Suite:
    path: Path
    title: str
    author: str
    experiments: dict[str, Experiment]
    groups: dict[str, Group]
    executor: ExecutorConfig = ExecutorConfig()
    reference: Reference | None = None

    def select(self, names: list[str]) -> list[Experiment]:
        """The named experiments (all when none are named); unknown names are a ConfigError."""
        if not names:
            return list(self.experiments.values())
        unknown = [n for n in names if n not in self.experiments]
        if unknown:
            raise ConfigError(
                f"unknown experiment {', '.join(repr(n) for n in unknown)}{suggest(unknown[0], self.experiments)}; "
                f"{self.path.name} declares: {', '.join(self.experiments)}")
        return [self.experiments[n] for n in names]
