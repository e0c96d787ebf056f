"""`plan`: what `run` / `report` would do, judged without training: which experiments would run and why,
how their runs are grouped and in what order, about how long that takes, and what the planned seeds can
detect in each comparison against a baseline — by the rules the report states it with (one planning SD per
family, Holm's strictest level), so that `plan` and the report agree.

It imports torch only when something needs it: when some run would train (the tasks are then built by
tasks.py, the same code that builds them for `run`), or to ask whether a GPU is there when the machine
has a GPU driver (a machine without one plans `device = "auto"` on the CPU, as torch would).

The estimate: seconds per epoch (training plus evaluation) of earlier runs on this device kind with the
same batch size, pipeline, engine, hidden size and data subset — from the results files first (the median
over their undisturbed epochs, else over the disturbed ones, saying so; from runs trained alone or stacked
as the planned run will be where there are such), else from `make bench`'s benchmarks/results/*.json (training only, full dataset) — times
epochs times seeds. Start-up (the interpreter, torch, the data load) is not included.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from report_builder.config import ExecutorConfig, Experiment, Suite, TrainConfig
from report_builder.errors import ResultsError
from report_builder.results import store
from report_builder.results.identity import (
    code_version,
    declared_seeds,
    run_settings,
    seed_changes,
    seed_list,
    timed_experiments,
    trained_alone,
)
from report_builder.analysis.power import MAX_SEEDS, POWER
from report_builder.analysis.statistics import MIN_SEEDS
from report_builder.execution.detections import Detection, detections

BENCHMARKS_DIR = Path(__file__).resolve().parent.parent.parent / "benchmarks" / "results"


@dataclass(frozen=True)
class ExperimentForecast:
    name: str
    device_kind: str
    reasons: list[str]
    """Why it would run ("no results yet", "lr changed 0.01 → 0.001", …); empty: cached."""
    seeds: list[int]
    """The seeds it would train."""
    epoch_seconds: float | None = None
    source: str = ""
    """Where epoch_seconds comes from, in words."""

    @property
    def cached(self) -> bool:
        return not self.seeds

    epochs: int = 1

    @property
    def seconds(self) -> float | None:
        if self.epoch_seconds is None:
            return None
        return self.epoch_seconds * len(self.seeds) * self.epochs


@dataclass(frozen=True)
class Forecast:
    experiments: list[ExperimentForecast]
    tasks: list[str] | None
    """The tasks `run` would hand its executor, in order: "sgd[0]", "stack of 3 (…)"; None where this Python has
    no torch to build them."""
    executor: ExecutorConfig
    detections: list[Detection]
    detect_points: float | None
    missing_data: list[str] = field(default_factory=list)
    """A line per dataset that is not on disk, naming where the file asks for it and what `run` will do."""


# ---- where runs would train --------------------------------------------------------------------------

def _gpu_driver_present() -> bool:
    """Whether this machine could have a GPU torch sees: without a GPU driver (or with every GPU hidden) it
    has none, and "auto" means the CPU with no need to import torch to ask."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return False
    nvidia = Path("/proc/driver/nvidia/gpus")
    return (nvidia.is_dir() and any(nvidia.iterdir())) or Path("/dev/nvidia0").exists() or Path("/dev/kfd").exists()


def device_kind(wish: str, executor: ExecutorConfig, where: str) -> str:
    """The device kind a run will train on (as execution/plan.py settles it, asking torch only if needed)."""
    if wish == "cpu" or (wish == "auto" and executor.kind != "slurm" and not _gpu_driver_present()):
        return "cpu"
    from report_builder.execution.plan import planned_device_kind

    return planned_device_kind(wish, executor, where)


# ---- what would run ------------------------------------------------------------------------------

def _to_run(exp: Experiment, stored: dict | None, kind: str, timed: bool) -> tuple[list[str], list[int]]:
    """(why it runs, the seeds it trains), decided as execution/plan.py decides it, from the file alone: the
    dataset is taken to be the one the results were trained on (`run` reads it to know)."""
    declared = declared_seeds(exp.config.identity())
    if stored is None:
        return ["no results yet"], declared
    wanted = {"config": run_settings(exp.config.identity(), kind), "code_version": code_version(),
              "data_fingerprint": stored.get("identity", {}).get("data_fingerprint"), "device_kind": kind}
    reasons = store.rerun_reasons(stored, wanted)
    if reasons:
        return reasons, declared
    held = {run.get("seed"): run for run in stored["runs"]}
    keep = [s for s in declared if s in held and (not timed or trained_alone(held[s]))]
    if len(keep) < len([s for s in declared if s in held]):
        reasons.append("trained in a stack, a timing group needs it alone")
    return reasons + seed_changes(stored["config"], exp.config.identity()), [s for s in declared if s not in keep]


# ---- how long ------------------------------------------------------------------------------------

def _setup(settings: dict[str, Any], kind: str) -> tuple:
    """What an epoch's seconds depend on besides the machine (learning rate, optimizer… do not matter)."""
    engine = "autograd" if settings.get("pipeline") == "dataloader" else settings.get("engine", "explicit")
    hidden = settings.get("hidden", 128)
    # Depth and activation change an epoch's cost too (results files hold a list of widths as a JSON list).
    hidden = tuple(hidden) if isinstance(hidden, (list, tuple)) else hidden
    if settings.get("activation", "relu") != "relu":
        hidden = (hidden, settings["activation"])
    return (kind, settings.get("pipeline", "tensor"), engine, settings.get("batch_size"), hidden,
            settings.get("max_train"), settings.get("max_test"))


def earlier_epochs(results_dir: Path) -> dict[tuple, dict[tuple[bool, bool], list[float]]]:
    """Seconds (training + evaluation) of every epoch of the finished results, by set-up and by (whether the
    run trained alone, whether other work disturbed the epoch's timing)."""
    found: dict[tuple, dict[tuple[bool, bool], list[float]]] = {}
    for path in sorted(results_dir.glob("*.json")) if results_dir.is_dir() else []:
        try:
            result = store.read_result(path)
        except ResultsError:
            continue
        if result["status"] != "done" or store.edited(result):
            continue
        key = _setup(result["config"], result["identity"].get("device_kind", "cpu"))
        for run in result["runs"]:
            for e in run["epochs"]:
                found.setdefault(key, {}).setdefault((trained_alone(run), bool(e.get("timing_disturbed"))), []).append(
                    e["train_seconds"] + e["eval_seconds"])
    return found


def benchmark_epochs(benchmarks_dir: Path = BENCHMARKS_DIR) -> dict[tuple, tuple[float, str]]:
    """Seconds per epoch of training by set-up from `make bench`'s files (the newest file per device kind)."""
    newest: dict[str, tuple[str, dict, str]] = {}
    for path in sorted(benchmarks_dir.glob("*.json")) if benchmarks_dir.is_dir() else []:
        try:
            bench = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(bench, dict) or "pipelines" not in bench:
            continue
        kind = "cpu" if bench.get("device") == "CPU" else "cuda"
        if kind not in newest or bench.get("date", "") > newest[kind][0]:
            newest[kind] = (bench.get("date", ""), bench, path.name)
    table: dict[tuple, tuple[float, str]] = {}
    for kind, (_, bench, name) in newest.items():
        for row in bench["pipelines"]:
            for label, variant in row["variants"].items():
                # On a GPU the runs capture CUDA graphs by default; the eager variants are the fallback.
                if kind == "cuda" and not variant.get("cuda_graphs"):
                    continue
                pipeline = "dataloader" if label == "assignment loop" else "tensor"
                key = (kind, pipeline, variant["engine"], row["batch_size"], 128, None, None)
                table.setdefault(key, (variant["seconds_per_epoch"], f"benchmarks/results/{name}, training only"))
    return table


def estimate(cfg: TrainConfig, kind: str, alone: bool, earlier: dict, benchmarks: dict) -> tuple[float | None, str]:
    """(seconds per epoch, where from) for a run of cfg on this device kind; (None, why not) without data."""
    key = _setup({**cfg.identity(), "engine": cfg.effective_engine}, kind)
    by_how = earlier.get(key, {})
    # Runs trained as this one will be, else the others; undisturbed epochs, else those timed while other
    # work loaded the machine (a busy machine's estimate for a busy machine, and said so).
    for disturbed in (False, True):
        for trained_so in (alone, not alone):
            seconds = by_how.get((trained_so, disturbed))
            if seconds:
                return (statistics.median(seconds),
                        f"median of {len(seconds)} earlier epochs, trained {'alone' if trained_so else 'stacked'}"
                        + (", timed while other work loaded the machine" if disturbed else ""))
    if key in benchmarks:
        return benchmarks[key]
    _, pipeline, engine, batch_size, hidden, max_train, max_test = key
    subset = "".join(f", {name} {value}" for name, value in (("max_train", max_train), ("max_test", max_test)) if value)
    return None, (f"no estimate: no earlier run on this device kind ({kind}) with batch size {batch_size}, the "
                  f"{pipeline} pipeline, the {engine} engine and hidden {hidden}{subset}")


# ---- what the seeds can detect -------------------------------------------------------------------

# ---- the whole plan ------------------------------------------------------------------------------

def forecast(suite: Suite, names: list[str], results_dir: Path, executor: ExecutorConfig, stack: bool = True,
             benchmarks_dir: Path = BENCHMARKS_DIR, force: bool = False) -> Forecast:
    selected = suite.select(names)
    timed = timed_experiments(suite)
    earlier, benchmarks = earlier_epochs(results_dir), benchmark_epochs(benchmarks_dir)
    plans: list[ExperimentForecast] = []
    for exp in selected:
        kind = device_kind(exp.config.device, executor, f"{suite.path.name}: {suite.declared_in(exp.name)}")
        reasons, seeds = (["--force"], declared_seeds(exp.config.identity())) if force else \
            _to_run(exp, store.stored_result(results_dir, exp.name), kind, exp.name in timed)
        seconds, source = (None, "")
        if seeds:
            alone = exp.name in timed or not stack or not _may_stack(exp.config, kind)
            seconds, source = estimate(exp.config, kind, alone, earlier, benchmarks)
        plans.append(ExperimentForecast(exp.name, kind, reasons, seeds, seconds, source, epochs=exp.config.epochs))
    tasks = _tasks(suite, plans, results_dir, stack)
    chosen = {exp.name for exp in selected}
    return Forecast(plans, tasks, executor, detections(suite, results_dir, chosen), suite.detect_points,
                    missing_datasets(suite, selected))


def missing_datasets(suite: Suite, selected: list[Experiment]) -> list[str]:
    """The datasets `run` would not find on disk (it reads every selected experiment's, cached or not, to
    know whether the results are still its), found as data.py finds them, without torch."""
    from report_builder.training.datafiles import DATASETS, NO_DOWNLOAD_ENV, find_files, resolve_data_dir

    needs: dict[tuple[Path, str], list[str]] = {}
    for exp in selected:
        folder = resolve_data_dir(exp.config.data_dir, suite.path.resolve().parent)
        needs.setdefault((folder, exp.config.dataset), []).append(suite.declared_in(exp.name))
    lines = []
    for (folder, dataset), tables in needs.items():
        if find_files(folder, dataset) is not None:
            continue
        then = (f"`run` stops before training (downloads are off: ${NO_DOWNLOAD_ENV} is set)"
                if os.environ.get(NO_DOWNLOAD_ENV) else "`run` downloads it first")
        more = f" and {len(tables) - 3} more" if len(tables) > 3 else ""
        lines.append(f"dataset {DATASETS[dataset][0]} not found in {folder} (dataset = {dataset!r} of "
                     f"{', '.join(tables[:3])}{more}): {then}")
    return lines


def _may_stack(cfg: TrainConfig, kind: str) -> bool:
    """A first look only (tasks.may_stack decides): whether this run could join a stack at all."""
    return cfg.effective_engine == "explicit" and (cfg.stack is True or (cfg.stack == "auto" and kind == "cuda"))


def _tasks(suite: Suite, plans: list[ExperimentForecast], results_dir: Path, stack: bool) -> list[str] | None:
    """The labels of the tasks `run` would build, in order; None where this Python lacks torch to build them."""
    pending = [p for p in plans if p.seeds]
    if not pending:
        return []
    if importlib.util.find_spec("torch") is None:
        return None
    # The tasks `run` would build, by the code that builds them (which imports the training layer).
    from report_builder.execution.plan import Plan
    from report_builder.execution.tasks import build_tasks

    as_plans = [Plan(suite.experiments[p.name], {}, [], [s - suite.experiments[p.name].config.seed for s in p.seeds])
                for p in pending]
    tasks = build_tasks(as_plans, suite, results_dir, suite.path.resolve().parent, stack,
                        {p.name: p.device_kind for p in plans})
    return [task.label for task in tasks]


# ---- in words ------------------------------------------------------------------------------------

def _count(n: int, word: str) -> str:
    """"1 task", "3 tasks"."""
    return f"{n} {word}{'s' if n != 1 else ''}"


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def describe(plan: Forecast) -> list[str]:
    """The plan as `plan` prints it."""
    width = max((len(p.name) for p in plan.experiments), default=0)
    lines = []
    for p in plan.experiments:
        if p.cached:
            lines.append(f"{p.name:<{width}}  cached" + (f" ({', '.join(p.reasons)})" if p.reasons else ""))
            continue
        state = {("no results yet",): "missing", ("--force",): "forced"}.get(tuple(p.reasons), "stale")
        why = f" ({', '.join(p.reasons)})" if state == "stale" else ""
        if p.seconds is None:
            cost = p.source
        else:
            cost = (f"about {_duration(p.seconds)} ({_count(len(p.seeds), 'seed')} × {_count(p.epochs, 'epoch')} × "
                    f"{p.epoch_seconds:.3g} s, {p.source})")
        lines.append(f"{p.name:<{width}}  {state}{why}: trains {seed_list(p.seeds)} on {p.device_kind}; {cost}")
    lines += plan.missing_data
    pending = [p for p in plan.experiments if not p.cached]
    if not pending:
        lines.append("nothing to train: every selected experiment has current results")
    elif plan.tasks is None:
        lines.append("order: not shown: this Python lacks torch, which builds `run`'s tasks and trains them "
                     "(python -m pip install torch torchvision, or make without PYTHON= for a .venv with everything)")
    else:
        stacks = [t for t in plan.tasks if t.startswith("stack of")]
        if len(plan.tasks) == 1:
            grouping = "1 task, a stack" if stacks else "1 task, run alone"
        else:
            grouping = (f"{len(plan.tasks)} tasks, {len(stacks)} of them stack{'s' if len(stacks) != 1 else ''}"
                        if stacks else f"{len(plan.tasks)} tasks, each one run alone")
        lines.append(f"order ({grouping}): {', '.join(plan.tasks)}")
        if plan.executor.kind == "slurm":
            per = plan.executor.tasks_per_job
            lines.append(f"slurm: {_count(math.ceil(len(plan.tasks) / per), 'job')} of up to {_count(per, 'task')}"
                         if per != "auto"
                         else f"slurm: tasks packed into as many jobs as the partition has free room for when "
                              f"submitted (at most {plan.executor.array_parallelism})")
        elif plan.executor.kind == "local-gpus":
            lines.append("local-gpus: one worker per GPU, each taking the next task in this order")
        known = [p.seconds for p in pending if p.seconds is not None]
        unknown = [p.name for p in pending if p.seconds is None]
        if known:
            lines.append(f"estimate: about {_duration(sum(known))} of training (and evaluation, where earlier results "
                         f"measured it)"
                         + (f", not counting {', '.join(unknown)} (no estimate)" if unknown else "")
                         + "; start-up and data loading not included")
        else:
            lines.append("estimate: none: no earlier run on this device kind")
    if plan.detections:
        lines.append(f"what the planned seeds can detect (paired t-test, {100 * POWER:g}% power, at Holm's strictest "
                     f"level in each family, from the pooled seed-to-seed SD of earlier results):")
    for d in plan.detections:
        head = (f"  {d.group}: {d.experiment} vs {d.baseline}, {d.seeds} shared seed{'s' if d.seeds != 1 else ''}"
                f" ({d.family}, {d.family_size} comparison{'s' if d.family_size != 1 else ''}, level {d.alpha:.3g}): ")
        if d.planning is None:
            lines.append(head + (f"no test: {MIN_SEEDS} or more seeds needed" if d.seeds < MIN_SEEDS else
                                 "cannot tell: no earlier results with two seeds of one experiment in the family"))
            continue
        basis = (f"planning SD of a difference {100 * d.planning.difference:.2f} points: √2 × "
                 f"{100 * d.planning.pooled:.2f} pooled over {d.planning.experiments} experiments, "
                 f"{d.planning.df} df")
        if d.seeds < MIN_SEEDS:
            lines.append(head + f"no test: {MIN_SEEDS} or more seeds needed ({basis})")
        else:
            lines.append(head + f"a difference of {100 * d.detectable:.2f} points ({basis})")
        if plan.detect_points:
            need = f"{d.needed} seeds" if d.needed is not None else f"more than {MAX_SEEDS} seeds"
            lines.append(f"    detect_points = {plan.detect_points:g}: needs {need}")
    return lines
