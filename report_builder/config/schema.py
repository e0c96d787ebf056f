"""The configuration's shape: frozen dataclasses whose fields are the single list of configuration keys,
with their types, defaults, allowed values and documentation (declared and checked by keys.py)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from report_builder.config.keys import Bound, key, suggest
from report_builder.config.reference import Reference
from report_builder.errors import ConfigError

OPTIMIZERS = ("adam", "sgd")
DEVICES = ("auto", "cpu", "cuda")
PIPELINES = ("tensor", "dataloader")
ENGINES = ("explicit", "autograd")
ACTIVATIONS = ("relu", "leaky_relu", "tanh", "sigmoid", "gelu")
DATASETS = ("fashion-mnist", "mnist", "kmnist")
# The per-epoch measurements of each activation layer (the writeup's Problem 2, approaches 1 and 2) and what
# each means. The relu_ names are the assignment's, for a ReLU network; the others name the same two
# approaches for any activation (under a ReLU, derivative_sq is the active count and grad_sq is relu_grad_sq).
PROBES = {
    "relu_active": "Number of positive ReLU inputs over the epoch's training batches: where the ReLU's "
                   "derivative is 1 (approach 1 of the writeup: counting, since 1² = 1).",
    "relu_grad_sq": "Sum of squares of the loss gradient with respect to the ReLU's input, over the epoch's "
                    "training batches (approach 2).",
    "derivative_sq": "Sum of squares of the activation's derivative f′(x) over its inputs x in the epoch's "
                     "training batches (approach 1, for any activation; for a ReLU the active count).",
    "grad_sq": "Sum of squares of the loss gradient with respect to the activation's input, over the epoch's "
               "training batches (approach 2, for any activation).",
}
APPROACH = {"relu_active": 1, "derivative_sq": 1, "relu_grad_sq": 2, "grad_sq": 2}
"""Which of the writeup's two approaches each probe measures."""


def probe_key(name: str, layer: int) -> str:
    """Where a probe of activation layer `layer` (1-based) is stored in an epoch's probes: the first layer
    under the probe's own name (so one-layer results read as they always have), deeper ones as NAME@LAYER
    (not a dot: templates read a dotted name as an attribute path)."""
    return name if layer == 1 else f"{name}@{layer}"


def split_probe_key(stored: str) -> tuple[str, int]:
    """probe_key's inverse: (probe name, 1-based layer)."""
    name, _, layer = stored.partition("@")
    return name, int(layer) if layer else 1


STACK_CHOICES = ("auto", True, False)
FAMILIES = ("question", "report")


@dataclass(frozen=True)
class TrainConfig:
    """One experiment's resolved training settings ([defaults] merged with its own table)."""

    hidden: int | tuple[int, ...] = key(128, "Width of the hidden layer of Linear(784, hidden) → activation → "
                                        "Linear(hidden, 10); a list gives one hidden layer per width, in order.",
                                        minimum=1, min_items=1, distinct=False)
    activation: str = key("relu", "The hidden layers' activation: " + ", ".join(f'"{a}"' for a in ACTIVATIONS)
                          + " (leaky_relu: slope 0.01; gelu: the exact erf form).", choices=ACTIVATIONS)
    dropout: float = key(0.0, "Probability of zeroing each activation output in training (inverted dropout "
                         "after every activation layer); 0: none.", minimum=0.0, maximum=Bound(1.0, exclusive=True))
    weight_decay: float = key(0.0, "The optimizer's own weight decay (L2 added to the gradient, as torch's Adam "
                              "and SGD apply it).", minimum=0.0)
    dataset: str = key("fashion-mnist", "The images: " + ", ".join(f'"{d}"' for d in DATASETS) + " (the same "
                       "IDX format).", choices=DATASETS)
    epochs: int = key(5, "Passes over the training set.", minimum=1)
    batch_size: int = key(32, "Training examples per optimizer step.", minimum=1)
    optimizer: str = key("adam", "Optimizer: \"adam\" or \"sgd\".", choices=OPTIMIZERS)
    lr: float = key(0.001, "Learning rate.", minimum=Bound(0.0, exclusive=True))
    momentum: float = key(0.0, "Momentum for SGD (ignored by Adam).", minimum=0.0,
                          maximum=Bound(1.0, exclusive=True))
    seed: int = key(0, "Seed of the first repeat; repeat i uses seed + i (initialisation and shuffling).", minimum=0)
    repeats: int = key(1, "Independent runs with seeds seed, seed+1, …; tables then show mean ± std.", minimum=1)
    zero_grad: bool = key(True, "Clear gradients before each step; false accumulates them across steps.")
    probes: tuple[str, ...] = key((), "Per-epoch measurements of each activation layer: " + ", ".join(f'"{p}"' for p in PROBES) + ".",
                                  choices=tuple(PROBES))
    device: str = key("auto", "\"cuda\", \"cpu\", or \"auto\" (the GPU when there is one).", choices=DEVICES)
    data_dir: str | None = key(None, "Directory holding Fashion-MNIST; unset: $REPORT_BUILDER_DATA_DIR, else ./data (downloaded).")
    max_train: int | None = key(None, "Use only the first N training examples (quick trial runs).", minimum=1)
    max_test: int | None = key(None, "Use only the first N test examples (quick trial runs).", minimum=1)
    validation: int = key(0, "Training images held out (the last N of the training set) to pick the best epoch "
                          "on; 0: none, every training image trains, as in the 2021 writeup.", minimum=0)
    pipeline: str = key("tensor", "\"tensor\": the dataset held on the device, batches gathered by index; "
                        "\"dataloader\": the assignment's per-image PIL transforms and DataLoader workers "
                        "(slow; kept to show where the time goes).", choices=PIPELINES)
    loader_workers: int = key(4, "DataLoader worker processes of the \"dataloader\" pipeline.", minimum=0)
    cuda_graphs: bool = key(True, "On a GPU, capture the train step as CUDA graphs and replay them.")
    engine: str = key("explicit", "\"explicit\": forward and backward written out, K models per pass; "
                      "\"autograd\": the plain nn.Module reference (the \"dataloader\" pipeline always uses it).",
                      choices=ENGINES)
    stack: bool | str = key("auto", "Train together with compatible runs (same batch size, epochs, hidden size, "
                            "data) as one stack of models: \"auto\" on a GPU only, true always, false never.",
                            choices=STACK_CHOICES)

    @property
    def layers(self) -> tuple[int, ...]:
        """The hidden layers' widths, first to last (`hidden = 128` is one layer)."""
        return self.hidden if isinstance(self.hidden, tuple) else (self.hidden,)

    @property
    def effective_engine(self) -> str:
        """The engine that trains this config: the dataloader pipeline keeps the notebook's autograd loop."""
        return "autograd" if self.pipeline == "dataloader" else self.engine

    def identity(self) -> dict[str, Any]:
        """The settings that change what training computes (not where data lives, not the device wish)."""
        data = dataclasses.asdict(self)
        # Where data lives, which device was wished for and whether the run was stacked do not change
        # what it computes (stacking: up to floating-point rounding).
        for name in ("data_dir", "device", "stack"):
            data.pop(name)
        data["probes"] = list(self.probes)
        # One layer is one width however it is written, so `hidden = [128]` is `hidden = 128`.
        data["hidden"] = self.layers[0] if len(self.layers) == 1 else list(self.layers)
        data["engine"] = self.effective_engine
        return data


EXECUTORS = ("local", "local-gpus", "slurm")


@dataclass(frozen=True)
class ExecutorConfig:
    """Where runs execute ([executor]); results and report are the same whichever runs them."""

    kind: str = key("local", "\"local\" (this process), \"local-gpus\" (one worker per GPU) or \"slurm\".",
                    choices=EXECUTORS)
    threads: int | str = key("auto", "torch's CPU threads per run: \"auto\" fits them to the cores other work leaves "
                             "free, decided when a run starts and again after every epoch; N pins them at N. Never "
                             "more than the process's CPU affinity, Slurm grant or OMP_NUM_THREADS allow.", minimum=1,
                             choices=("auto",))
    gpus: tuple[int, ...] | None = key(None, "local-gpus: the GPU indices to use, as torch and nvidia-smi number the "
                                             "GPUs this process sees; unset: every visible GPU.", minimum=0)
    partition: str | None = key(None, "slurm: partition (queue) to submit to; unset: the cluster's default.")
    account: str | None = key(None, "slurm: account to charge.")
    time_limit_min: int = key(60, "slurm: time limit of each job, in minutes.", minimum=1)
    gpus_per_job: int = key(0, "slurm: GPUs per job (0: CPU jobs).", minimum=0)
    cpus_per_job: int = key(1, "slurm: CPUs per job.", minimum=1)
    mem_gb: float = key(4.0, "slurm: memory per job, in GB.", minimum=Bound(0.0, exclusive=True))
    array_parallelism: int = key(64, "slurm: at most this many jobs of one array run at once.", minimum=1)
    tasks_per_job: int | str = key("auto", "slurm: tasks (a repeat, or a stack of runs) one job trains, one after "
                                   "another, paying start-up once: \"auto\" packs them into as many jobs as the "
                                   "partition has free room for now; 1: a job per task.", minimum=1,
                                   choices=("auto",))
    sbatch: dict | None = key(None, "slurm: extra sbatch options, e.g. { qos = \"short\", constraint = \"a100\" }.")
    cancel_on_interrupt: bool = key(True, "slurm: cancel the submitted jobs when the driver is interrupted.")
    poll_seconds: float = key(2.0, "slurm: how often the driver checks its jobs.", minimum=Bound(0.0, exclusive=True))


@dataclass(frozen=True)
class TimingConfig:
    """[timing]: the timing phase, which times the training step of every experiment of a `timing = true` group
    in interleaved rounds; every speed-up the report states comes from it."""

    rounds: int = key(5, "Rounds; each times every timed experiment once, in a random order of its own.", minimum=5)
    wait_seconds: float = key(60.0, "The most the phase waits, in all, for the machine to be quiet before its "
                                    "rounds; then it times anyway and the report withholds its speed claims if "
                                    "the machine stayed busy.", minimum=0.0)
    sample_seconds: float = key(0.5, "The shortest sample: the steps timed per sample are chosen so that one "
                                     "lasts at least this long.", minimum=Bound(0.0, exclusive=True))
    order_seed: int = key(0, "Seed of the rounds' random orders.", minimum=0)


@dataclass(frozen=True)
class ReferenceConfig:
    """[reference]: published results to show beside ours (the shipped file: the 2021 writeup's numbers)."""

    file: str = key("", "CSV file, relative to the experiments file: experiment, epoch, and any of train_loss, "
                    "test_loss, test_accuracy, train_seconds.")
    label: str = key("reference", "What the numbers are, as the report names them (e.g. \"2021 writeup\").")
    hardware: str = key("", "Where they were measured; their times are shown with it, never turned into a "
                        "speed-up against ours.")
    tolerance_points: float = key(1.0, "The equivalence margin: the reference's final test accuracy counts as "
                                  "reproduced when shown within ± this many points of our recipe (two one-sided "
                                  "tests).", minimum=0.0)
    question: str | None = key(None, "The question the reproduction answers, printed beside its answer at the top of the "
                                     "report (the Findings); unset: its title.")


@dataclass(frozen=True)
class ExperimentText:
    """[experiments.NAME] keys besides its training settings: what the report calls the experiment."""

    title: str | None = key(None, "Its name in headings, tables and legends; unset: the experiment's name.")
    description: str = key("", "A paragraph the report shows about it.")


@dataclass(frozen=True, kw_only=True)
class Experiment(ExperimentText):
    """A declared experiment: its name, its text (title resolved) and its resolved training settings."""

    name: str
    config: TrainConfig


@dataclass(frozen=True)
class GroupConfig:
    """[groups.NAME]: experiments compared side by side in one report section."""

    experiments: tuple[str, ...] = key((), "The experiments compared, in the order the report shows them.",
                                       required=True, refers_to="experiment")
    title: str | None = key(None, "The section's heading; unset: the group's name.")
    description: str = key("", "A paragraph the section opens with.")
    baseline: str | None = key(None, "The experiment (one of experiments) that speed-ups and accuracy "
                                     "differences are measured against; unset: none.", refers_to="experiment")
    timing: bool = key(False, "A comparison of speed: its experiments always train alone, never stacked, so "
                              "their times compare; only such groups rank settings by speed.")
    question: str | None = key(None, "The question the group answers, printed beside its answer at the top of the "
                                     "report (the Findings); unset: its title.")


@dataclass(frozen=True, kw_only=True)
class Group(GroupConfig):
    """A declared group: its name and its [groups.NAME] values (title resolved)."""

    name: str


MAX_SWEEP = 500
"""A sweep that would declare more experiments than this needs `allow_large = true`: a typo in a list
should not queue days of training."""


@dataclass(frozen=True)
class SweepConfig:
    """[sweeps.NAME]: experiments declared as variations of a base (expanded by sweeps.py)."""

    vary: dict[str, list] = key(None, "The training settings to vary and their values, e.g. { lr = [0.1, 0.01] }: "
                                      "one experiment per combination.", required=True)
    base: str | None = key(None, "The experiment whose settings are varied; unset: [defaults].",
                           refers_to="experiment")
    zip: bool = key(False, "Pair the lists of vary item by item (they must have equal lengths) instead of "
                           "taking every combination.")
    allow_large: bool = key(False, f"Allow a sweep of more than {MAX_SWEEP} experiments.")
    title: str | None = key(None, "The report section's heading; unset: the sweep's name.")
    description: str = key("", "A paragraph the section opens with.")
    question: str | None = key(None, "The question the sweep answers, printed beside its answer at the top of the "
                                     "report (the Findings); unset: its title.")


@dataclass(frozen=True)
class SweepPoint:
    """One combination of a sweep's values and the experiment that runs it."""

    values: tuple[tuple[str, Any], ...]
    """(key, value) per varied key, in the order of vary."""
    experiment: str
    """The experiment with these settings: a generated one, or a declared one with the same settings."""
    label: str
    """The values as people read them: "lr = 0.01", "lr = 0.01, batch_size = 64"."""


@dataclass(frozen=True, kw_only=True)
class Sweep:
    """A declared sweep: its name, text and the points it expanded into, in the order of vary's lists."""

    name: str
    title: str
    description: str
    base: str | None
    keys: tuple[str, ...]
    points: tuple[SweepPoint, ...]
    question: str | None = None


@dataclass(frozen=True)
class ReportConfig:
    """[report]: the writeup as a whole."""

    title: str = key("Fashion-MNIST MLP experiments", "The writeup's title.")
    author: str = key("", "Who wrote it; unset: no author line.")
    detect_points: float | None = key(None, "The difference in final test accuracy, in percentage points, that each "
                                            "comparison against a baseline should detect: `plan` says how many "
                                            "seeds that needs; unset: not asked.",
                                      minimum=Bound(0.0, exclusive=True), maximum=100.0)
    family: str = key("question", "Which comparisons Holm's correction adjusts together: \"question\" (each group's "
                                  "comparisons with its baseline, and each sweep's with its best value, are one "
                                  "family: the assignment asks separate questions) or \"report\" (all of them are "
                                  "one family). The reproduction's comparisons are always a family of their own.",
                      choices=FAMILIES)


@dataclass(frozen=True, kw_only=True)
class Suite(ReportConfig):
    """A validated experiments file: the [report] values and everything it declares."""

    path: Path
    experiments: dict[str, Experiment]
    groups: dict[str, Group]
    executor: ExecutorConfig = ExecutorConfig()
    reference: Reference | None = None
    sweeps: dict[str, Sweep] = dataclasses.field(default_factory=dict)
    timing: TimingConfig = TimingConfig()

    def declared_in(self, name: str) -> str:
        """Where the file declares an experiment: "[experiments.NAME]", or for one a sweep generated
        "[sweeps.SWEEP] (NAME)", which is the table to edit."""
        for sweep in self.sweeps.values():
            if name.startswith(f"{sweep.name}-") and any(p.experiment == name for p in sweep.points):
                return f"[sweeps.{sweep.name}] ({name})"
        return f"[experiments.{name}]"

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
