"""Tasks: the units of work any executor runs (in this process, in a worker pinned to one GPU, or in a
Slurm job on another machine), and how the repeats still to run are grouped into them.

A task is one repeat of one experiment, or several repeats stacked to train together as one stack of
models (see training/engine.py). execute.py runs a task; repeats.py holds what it writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from report_builder.config import Experiment, Suite, TrainConfig
from report_builder.results.identity import timed_experiments
from report_builder.training.engine import STACK_KEYS

if TYPE_CHECKING:
    from report_builder.execution.plan import Plan


@dataclass(frozen=True)
class RepeatTask:
    experiment: Experiment
    repeat: int
    results_dir: str
    repo_dir: str
    timed: bool = False
    """A member of a timing group: trains alone, with no other task of this driver in flight."""
    threads: int | str = "auto"
    """[executor] threads: "auto" (fit the free cores, training/threads.py) or a pinned count."""

    @property
    def label(self) -> str:
        return f"{self.experiment.name}[{self.repeat}]"

    @property
    def members(self) -> tuple["RepeatTask", ...]:
        return (self,)


@dataclass(frozen=True)
class StackTask:
    """Several repeat tasks trained together as one stack of models (see engine.py)."""

    members: tuple[RepeatTask, ...]

    @property
    def label(self) -> str:
        return f"stack of {len(self.members)} ({', '.join(m.label for m in self.members)})"


Task = RepeatTask | StackTask

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
    """One task per pending repeat, except that compatible repeats are stacked into one task; in
    round-robin order (round_robin).

    Members of timing groups always train alone, so that the times they are compared by are honest.
    """
    device_kinds = device_kinds or {}
    timed = timed_experiments(suite)
    alone: list[Task] = []
    stacks: dict[tuple, list[RepeatTask]] = {}
    for plan in plans:
        cfg = plan.experiment.config
        for repeat in plan.pending:
            task = RepeatTask(plan.experiment, repeat, str(results_dir), str(repo_dir),
                              timed=plan.experiment.name in timed, threads=suite.executor.threads)
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
    return round_robin(tasks, plans)


def round_robin(tasks: list[Task], plans: list[Plan]) -> list[Task]:
    """Tasks in rounds: the first repeat still to run of every experiment, then the second, and so on, each
    round in the order the plans list the experiments, timing-group runs first.

    A run stopped halfway then leaves results for every experiment rather than all seeds of some and none
    of others, and in a timing group the settings alternate, so that a machine that drifts (warms up,
    throttles, gains a neighbour) slows all of them alike instead of whichever ran last. A stack stays one
    task (splitting it would defeat stacking) and runs in the round of its earliest member. Within a round
    the timing-group runs come together: an executor that runs them with nothing else in flight
    (local-gpus) then drains its other work once per round, not once per run.
    """
    pending = {plan.experiment.name: plan.pending for plan in plans}
    index = {plan.experiment.name: i for i, plan in enumerate(plans)}

    def key(task: Task) -> tuple[int, bool, int]:
        return min((pending[m.experiment.name].index(m.repeat), not m.timed, index[m.experiment.name])
                   for m in task.members)

    return sorted(tasks, key=key)
