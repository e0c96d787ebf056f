"""Planning: which repeats of which experiments must (re-)run, and how they group into tasks.

An experiment is re-run only when something that decides its numbers changed (store.rerun_reasons);
repeats finished before an interruption are kept. Compatible repeats are stacked into one task.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from report_builder.config import ExecutorConfig, Experiment, Suite, TrainConfig
from report_builder.errors import ResultsError
from report_builder.execution.tasks import (
    RepeatTask,
    StackTask,
    Task,
    clear_repeats,
    read_repeat,
)
from report_builder.progress import Progress
from report_builder.results import store
from report_builder.training.device import resolve_device
from report_builder.training.engine import STACK_KEYS


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


def plan_experiment(exp: Experiment, identity: dict, results_dir: Path, force: bool, progress: Progress) -> Plan | None:
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


def may_stack(cfg: TrainConfig, device_kind: str) -> bool:
    """Whether a run may train in a stack: `stack = "auto"` stacks on a GPU, where one small MLP leaves the
    device idle and K models cost about what one does, and not on a CPU, where it saves less (17% of the
    default suite on 2 cores) and its different rounding moves chaotic runs' results."""
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
