"""experiments.toml → validated, frozen dataclasses.

The dataclass fields below are the single list of configuration keys: their types, defaults,
allowed values and documentation. Every problem in the file is collected and reported at once.
"""

from __future__ import annotations

import dataclasses
import difflib
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
    sbatch: dict | None = _key(None, "slurm: extra sbatch options, e.g. { qos = \"short\", constraint = \"a100\" }.")
    cancel_on_interrupt: bool = _key(True, "slurm: cancel the submitted jobs when the driver is interrupted.")
    poll_seconds: float = _key(2.0, "slurm: how often the driver checks its jobs.", exclusive_minimum=0.0)


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


@dataclass(frozen=True)
class Suite:
    path: Path
    title: str
    author: str
    experiments: dict[str, Experiment]
    groups: dict[str, Group]
    executor: ExecutorConfig = ExecutorConfig()

    def select(self, names: list[str]) -> list[Experiment]:
        """The named experiments (all when none are named); unknown names are a ConfigError."""
        if not names:
            return list(self.experiments.values())
        unknown = [n for n in names if n not in self.experiments]
        if unknown:
            raise ConfigError(
                f"unknown experiment {', '.join(repr(n) for n in unknown)}{_suggest(unknown[0], self.experiments)}; "
                f"{self.path.name} declares: {', '.join(self.experiments)}")
        return [self.experiments[n] for n in names]


EXPERIMENT_ONLY_KEYS = ("title", "description")
GROUP_KEYS = ("title", "description", "experiments", "baseline", "timing")
REPORT_KEYS = ("title", "author")
TOP_LEVEL = ("report", "defaults", "experiments", "groups", "executor")


def _suggest(word: str, valid) -> str:
    close = difflib.get_close_matches(word, list(valid), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _plain(value: Any) -> str:
    """A choice as a user reads it: booleans as TOML writes them."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _type_name(tp: Any) -> str:
    names = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}
    if typing.get_origin(tp) in (types.UnionType, typing.Union):
        return " or ".join(names.get(a, "unset") for a in typing.get_args(tp) if a is not type(None))
    if typing.get_origin(tp) is tuple:
        return f"a list of {'integers' if typing.get_args(tp)[0] is int else 'strings'}"
    if tp is dict:
        return "a table"
    return names[tp]


def _coerce(value: Any, tp: Any) -> tuple[bool, Any]:
    """(ok, value converted to the field's type); TOML already parsed the literal."""
    if typing.get_origin(tp) in (types.UnionType, typing.Union):
        for inner in (a for a in typing.get_args(tp) if a is not type(None)):
            ok, converted = _coerce(value, inner)
            if ok:
                return ok, converted
        return False, value
    if typing.get_origin(tp) is tuple:
        item = typing.get_args(tp)[0]
        ok = isinstance(value, list) and all(_coerce(v, item)[0] for v in value)
        return ok, tuple(value) if ok else value
    if tp is dict:
        ok = isinstance(value, dict) and all(isinstance(v, (str, int, float, bool)) for v in value.values())
        return ok, value
    if tp is bool:
        return isinstance(value, bool), value
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool), value
    if tp is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return ok, float(value) if ok else value
    return isinstance(value, tp), value


def _check_value(cls: type, name: str, value: Any, where: str, problems: list[str]) -> Any:
    spec = {f.name: f for f in dataclasses.fields(cls)}[name]
    hints = typing.get_type_hints(cls)
    ok, value = _coerce(value, hints[name])
    if not ok:
        problems.append(f"{where} {name}: must be {_type_name(hints[name])}, got {value!r}")
        return None
    meta = spec.metadata
    items = value if isinstance(value, tuple) else (value,)
    if meta["choices"]:
        for item in items:
            if item not in meta["choices"]:
                valid = [_plain(c) for c in meta["choices"]]
                shown = repr(item) if isinstance(item, str) else _plain(item)
                problems.append(f"{where} {name}: unknown value {shown}{_suggest(_plain(item), valid)}; "
                                f"valid: {', '.join(valid)}")
                return None
    if isinstance(value, tuple) and len(set(value)) != len(value):
        problems.append(f"{where} {name}: lists a value twice: {list(value)!r}")
        return None
    for number in items:
        if not isinstance(number, (int, float)) or isinstance(number, bool):
            continue
        if meta["minimum"] is not None and number < meta["minimum"]:
            problems.append(f"{where} {name}: must be ≥ {meta['minimum']:g}, got {number!r}")
            return None
        if meta["exclusive_minimum"] is not None and number <= meta["exclusive_minimum"]:
            problems.append(f"{where} {name}: must be > {meta['exclusive_minimum']:g}, got {number!r}")
            return None
        if meta["maximum"] is not None and number > meta["maximum"]:
            problems.append(f"{where} {name}: must be < 1, got {number!r}")
            return None
    return value


def _settings(cls: type, table: dict, where: str, extra_keys: tuple[str, ...], problems: list[str]) -> dict[str, Any]:
    """The valid keys of one table for dataclass `cls`, as checked values; problems collected on the way."""
    fields = [f.name for f in dataclasses.fields(cls)]
    settings = {}
    for key, value in table.items():
        if key in extra_keys:
            continue
        if key not in fields:
            problems.append(f"{where} unknown key '{key}'{_suggest(key, fields + list(extra_keys))}")
            continue
        checked = _check_value(cls, key, value, where, problems)
        if checked is not None:
            settings[key] = checked
    return settings


def _string(table: dict, key: str, where: str, default: str, problems: list[str]) -> str:
    value = table.get(key, default)
    if not isinstance(value, str):
        problems.append(f"{where} {key}: must be a string, got {value!r}")
        return default
    return value


def _table(doc: dict, key: str, where: str, problems: list[str]) -> dict:
    value = doc.get(key, {})
    if not isinstance(value, dict):
        problems.append(f"{where}: must be a table, got {value!r}")
        return {}
    return value


def parse_suite(text: str, path: Path) -> Suite:
    """Validate the text of an experiments file; raise ConfigError listing every problem."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: malformed TOML: {e}") from e
    problems: list[str] = []
    for key in doc:
        if key not in TOP_LEVEL:
            problems.append(f"[{key}]: unknown table{_suggest(key, TOP_LEVEL)}; valid: {', '.join(TOP_LEVEL)}")

    report = _table(doc, "report", "[report]", problems)
    for key in report:
        if key not in REPORT_KEYS:
            problems.append(f"[report] unknown key '{key}'{_suggest(key, REPORT_KEYS)}")
    title = _string(report, "title", "[report]", "Fashion-MNIST MLP experiments", problems)
    author = _string(report, "author", "[report]", "", problems)

    defaults = _settings(TrainConfig, _table(doc, "defaults", "[defaults]", problems), "[defaults]", (), problems)
    executor = ExecutorConfig(**_settings(ExecutorConfig, _table(doc, "executor", "[executor]", problems),
                                          "[executor]", (), problems))

    experiments: dict[str, Experiment] = {}
    for name, table in _table(doc, "experiments", "[experiments]", problems).items():
        where = f"[experiments.{name}]"
        if not isinstance(table, dict):
            problems.append(f"{where}: must be a table, got {table!r}")
            continue
        own = _settings(TrainConfig, table, where, EXPERIMENT_ONLY_KEYS, problems)
        experiments[name] = Experiment(
            name=name,
            title=_string(table, "title", where, name, problems),
            description=_string(table, "description", where, "", problems),
            config=TrainConfig(**{**defaults, **own}),
        )
    if not experiments and not problems:
        problems.append("[experiments]: declares no experiment; add e.g. [experiments.baseline]")

    groups: dict[str, Group] = {}
    for name, table in _table(doc, "groups", "[groups]", problems).items():
        where = f"[groups.{name}]"
        if not isinstance(table, dict):
            problems.append(f"{where}: must be a table, got {table!r}")
            continue
        for key in table:
            if key not in GROUP_KEYS:
                problems.append(f"{where} unknown key '{key}'{_suggest(key, GROUP_KEYS)}")
        members = table.get("experiments", [])
        if not isinstance(members, list) or not all(isinstance(m, str) for m in members) or not members:
            problems.append(f"{where} experiments: must be a non-empty list of experiment names, got {members!r}")
            continue
        for member in members:
            if member not in experiments:
                problems.append(f"{where} experiments: no experiment named '{member}'{_suggest(member, experiments)}")
        dupes = sorted({m for m in members if members.count(m) > 1})
        if dupes:
            problems.append(f"{where} experiments: lists {', '.join(repr(d) for d in dupes)} more than once")
        timing = table.get("timing", False)
        if not isinstance(timing, bool):
            problems.append(f"{where} timing: must be true or false, got {timing!r}")
        baseline = table.get("baseline")
        if baseline is not None and baseline not in members:
            problems.append(f"{where} baseline: {baseline!r} is not one of this group's experiments {members!r}")
        groups[name] = Group(
            name=name,
            title=_string(table, "title", where, name, problems),
            description=_string(table, "description", where, "", problems),
            experiments=tuple(members),
            baseline=baseline if isinstance(baseline, str) else None,
            timing=timing is True,
        )

    if problems:
        count = f"{len(problems)} problem" + ("s" if len(problems) > 1 else "")
        raise ConfigError(f"{path}: {count}", [f"{path.name}: {p}" for p in problems])
    return Suite(path=path, title=title, author=author, experiments=experiments, groups=groups, executor=executor)


def load_suite(path: Path | str) -> Suite:
    """Read and validate an experiments file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise ConfigError(f"{path}: no such experiments file (pass --config PATH)") from e
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read: {e}") from e
    return parse_suite(text, path)
