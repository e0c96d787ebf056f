"""Config → training runs → results on disk, re-running only what is missing or out of date."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import torch

from report_builder.results import store
from report_builder.config import Experiment, ExecutorConfig, Suite
from report_builder.errors import ConfigError, ResultsError
from report_builder.execution.executors import make_executor, with_kind
from report_builder.execution.lock import results_lock
from report_builder.progress import Progress
from report_builder.training.engine import STACK_KEYS
from report_builder.execution.tasks import (RepeatTask, StackTask, Task, clear_repeats, datasets, identity_of, merge,
                                  read_repeat)


@dataclass(frozen=True)
class Outcome:
    name: str
    status: str
    """"cached", "done", "diverged" or "failed"."""
    message: str


def resolve_device(wish: str, where: str) -> torch.device:
    """The device an experiment trains on; asking for CUDA where there is none is a config error."""
    if wish == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"{where} device = \"cuda\", but torch sees no CUDA GPU on this machine "
                          f"(torch {torch.__version__}); use device = \"auto\" or \"cpu\"")
    if wish == "auto":
        wish = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(wish)


def _final_accuracy(runs: list[dict]) -> str:
    values = [r["epochs"][-1]["test_accuracy"] for r in runs if r["epochs"] and r["diverged_at"] is None]
    if not values:
        return "no finite result"
    return f"final test accuracy {sum(values) / len(values):.3f}" + (f" (mean of {len(values)})" if len(values) > 1 else "")


def _outcome(name: str, result: dict) -> Outcome:
    if result["status"] == "failed":
        return Outcome(name, "failed", f"{name}: FAILED: {result['error']}")
    runs = result["runs"]
    seconds = result["provenance"]["wall_seconds"]
    diverged = [r for r in runs if r["diverged_at"] is not None]
    if diverged:
        return Outcome(name, "diverged", f"{name}: diverged (loss not finite) at epoch "
                       f"{diverged[0]['diverged_at']} of seed {diverged[0]['seed']}, after {seconds:.1f} s")
    return Outcome(name, "done", f"{name}: done in {seconds:.1f} s, {_final_accuracy(runs)}")


def planned_device_kind(wish: str, executor: ExecutorConfig, where: str) -> str:
    """The device kind an experiment will train on, as far as the driver can tell before it runs."""
    if executor.kind == "slurm":
        return "cuda" if wish == "cuda" or (wish == "auto" and executor.gpus_per_job > 0) else "cpu"
    return resolve_device(wish, where).type


@dataclass
class Plan:
    """What one experiment still needs, and the repeat documents it has so far."""

    experiment: Experiment
    header: dict
    docs: list[dict]
    pending: list[int]


def _plan(exp: Experiment, identity: dict, results_dir: Path, force: bool, progress: Progress) -> Plan | None:
    """None when the stored results are current; else the repeats still to run."""
    try:
        stored = store.read_result(store.result_path(results_dir, exp.name))
    except FileNotFoundError:
        stored = None
    except ResultsError as e:
        stored = {"status": f"damaged ({e})"}
    reasons = ["--force"] if force else store.rerun_reasons(stored, identity)
    if not reasons:
        progress.say(f"{exp.name}: cached")
        return None
    if force:
        clear_repeats(results_dir, exp.name)
    finished = []
    for repeat in range(exp.config.repeats):
        doc = read_repeat(results_dir, exp.name, repeat)
        if doc and doc.get("status") == "done" and doc.get("identity") == identity:
            finished.append(doc)
    if finished:
        progress.say(f"{exp.name}: resuming, {len(finished)} of {exp.config.repeats} repeats already done")
    else:
        progress.say(f"{exp.name}: {'running' if stored is None else 're-run'}, {', '.join(reasons)}")
    header = {"experiment": exp.name, "title": exp.title, "description": exp.description,
              "identity": identity, "config": dataclasses.asdict(exp.config)}
    done = {d["repeat"] for d in finished}
    return Plan(exp, header, finished, [r for r in range(exp.config.repeats) if r not in done])


MAX_STACK = 64


def may_stack(cfg, device_kind: str) -> bool:
    """Whether a run may train in a stack: `stack = "auto"` stacks on a GPU, where one small MLP leaves the
    device idle and K models cost about what one does, and not on a CPU, where a stack of K costs K times
    one model and saves nothing."""
    if cfg.effective_engine != "explicit":
        return False
    return cfg.stack is True or (cfg.stack == "auto" and device_kind == "cuda")


def build_tasks(plans: list[Plan], suite: Suite, results_dir: Path, repo_dir: Path, stack: bool,
                device_kinds: dict[str, str] | None = None) -> list[Task]:
    """One task per pending repeat, except that compatible repeats are stacked into one task.

    Members of timing groups always train alone, so that the times they are compared by are honest.
    """
    device_kinds = device_kinds or {}
    timed = {n for g in suite.groups.values() if g.timing for n in g.experiments}
    alone: list[Task] = []
    stacks: dict[tuple, list[RepeatTask]] = {}
    for plan in plans:
        cfg = plan.experiment.config
        for repeat in plan.pending:
            task = RepeatTask(plan.experiment, repeat, str(results_dir), str(repo_dir),
                              timed=plan.experiment.name in timed)
            kind = device_kinds.get(plan.experiment.name, "cpu")
            if stack and may_stack(cfg, kind) and plan.experiment.name not in timed:
                stacks.setdefault(tuple(getattr(cfg, key) for key in STACK_KEYS), []).append(task)
            else:
                alone.append(task)
    tasks: list[Task] = list(alone)
    for members in stacks.values():
        for start in range(0, len(members), MAX_STACK):
            chunk = members[start:start + MAX_STACK]
            tasks.append(StackTask(tuple(chunk)) if len(chunk) > 1 else chunk[0])
    return tasks


def run_suite(suite: Suite, names: list[str], results_dir: Path, force: bool = False,
              progress: Progress | None = None, executor_kind: str | None = None,
              stack: bool = True) -> list[Outcome]:
    """Bring the results of the named experiments (all when none) up to date."""
    progress = progress or Progress()
    selected = suite.select(names)
    repo_dir = suite.path.resolve().parent
    executor_config = with_kind(suite.executor, executor_kind)
    # Settle every device before training anything, so a bad setting stops the run at once.
    kinds = {exp.name: planned_device_kind(exp.config.device, executor_config,
                                           f"{suite.path.name}: [experiments.{exp.name}]") for exp in selected}
    with results_lock(results_dir, progress.say):
        store.remove_leftovers(results_dir)
        data = datasets(repo_dir)
        outcomes: dict[str, Outcome] = {}
        plans: dict[str, Plan] = {}
        for exp in selected:
            identity = identity_of(exp, data.raw(exp.config).fingerprint, kinds[exp.name])
            plan = _plan(exp, identity, results_dir, force, progress)
            if plan is None:
                outcomes[exp.name] = Outcome(exp.name, "cached", f"{exp.name}: cached")
            elif not plan.pending:  # every repeat finished before an interruption: only the merge is left
                outcomes[exp.name] = _finish(plan, results_dir, progress)
            else:
                plans[exp.name] = plan

        def on_done(task: RepeatTask, doc: dict) -> None:
            plan = plans[task.experiment.name]
            plan.docs.append(doc)
            wanted = plan.experiment.config.repeats
            if len(plan.docs) < wanted:
                store.write_result(results_dir, merge(plan.header, plan.docs, wanted))
                progress.say(f"{task.experiment.name}: repeat {len(plan.docs)} of {wanted} {doc['status']} "
                             f"(seed {plan.experiment.config.seed + task.repeat})")
            else:
                outcomes[task.experiment.name] = _finish(plan, results_dir, progress)

        tasks = build_tasks(list(plans.values()), suite, results_dir, repo_dir, stack, kinds)
        if tasks:
            make_executor(executor_config, progress, results_dir).run(tasks, on_done)
        store.write_summary(results_dir, list(suite.experiments))
    return [outcomes[exp.name] for exp in selected if exp.name in outcomes]


def _finish(plan: Plan, results_dir: Path, progress: Progress) -> Outcome:
    """Merge an experiment's repeats into its results file; its repeat files are then no longer needed."""
    result = merge(plan.header, plan.docs, plan.experiment.config.repeats)
    store.write_result(results_dir, result)
    clear_repeats(results_dir, plan.experiment.name)
    outcome = _outcome(plan.experiment.name, result)
    progress.say(outcome.message)
    return outcome
