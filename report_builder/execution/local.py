"""The local executor, and what every executor shares: its interface and the document of a task that
died without writing its own.

Executors run repeat tasks and hand each finished task's document back to the driver:
- local (here): one after another in this process (progress bars; CUDA start-up and data load paid once);
- local-gpus (local_gpus.py): one worker process per GPU, pinned with CUDA_VISIBLE_DEVICES, fed from one queue;
- slurm (slurm.py): one job per task through submitit, as a job array, re-attached after a driver restart.
"""

from __future__ import annotations

from typing import Callable, Protocol

from report_builder.execution.execute import execute_task
from report_builder.execution.tasks import RepeatTask, Task
from report_builder.progress import Progress

OnDone = Callable[[RepeatTask, dict], None]
OnStart = Callable[[Task], None]


def no_start(task: Task) -> None:
    """The on_start of a caller that shows nothing when a task starts."""


class Executor(Protocol):
    def run(self, tasks: list[Task], on_done: OnDone, on_start: OnStart = no_start) -> None:
        """Run every task; call on_start(task) as it starts and on_done(member, document) for each member
        repeat as it finishes."""


def failed_doc(task: RepeatTask, error: str, log: str | None = None) -> dict:
    """The document of a task that died without writing its own (crashed worker, failed job)."""
    from report_builder.execution import provenance

    now = provenance.now()
    return {"experiment": task.experiment.name, "repeat": task.repeat, "status": "failed", "run": None,
            "error": error, "log": log, "identity": None,
            "provenance": {"started_at": now, "finished_at": now, "wall_seconds": 0.0}}


class LocalExecutor:
    """Tasks in this process, in order, with a live progress bar each."""

    def __init__(self, progress: Progress):
        self.progress = progress

    def run(self, tasks: list[Task], on_done: OnDone, on_start: OnStart = no_start) -> None:
        for task in tasks:
            on_start(task)
            for member, doc in zip(task.members, execute_task(task, self.progress)):
                on_done(member, doc)
