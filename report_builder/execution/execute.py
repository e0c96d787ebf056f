"""Running one task (a repeat, or a stack of repeats trained together) in whatever process holds it: the
driver, a local-gpus worker or a Slurm job. It trains, then writes one repeat file per member."""

from __future__ import annotations

import dataclasses
import math
import os
import time
import traceback
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

from report_builder.config import Experiment
from report_builder.errors import ReportBuilderError
from report_builder.execution.repeats import write_repeat
from report_builder.execution.tasks import Task
from report_builder.progress import Progress
from report_builder.results.identity import identity_of
from report_builder.training import threads
from report_builder.training.data import shared_cache
from report_builder.training.threads import ThreadChoice

# The "dataloader" pipeline asks for the assignment's 4 workers on purpose, whatever the core count.
warnings.filterwarnings("ignore", message="This DataLoader will create", category=UserWarning)


def _run_provenance(device, repo_dir: Path, data, started_at: str, seconds: float, **extra) -> dict[str, Any]:
    from report_builder.execution import provenance

    return {
        **provenance.collect(device, repo_dir),
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
        "data_source": data.raw.source,
        "train_examples": int(data.train_x.shape[0]),
        "test_examples": int(data.test_x.shape[0]),
        "started_at": started_at,
        "finished_at": provenance.now(),
        "wall_seconds": seconds,
        **extra,
    }


def _error_text(e: BaseException) -> str:
    return "".join(traceback.format_exception_only(e)).strip()


@contextmanager
def _bar(progress: Progress | None, label: str, cfg, data) -> Iterator[Callable[[int], None] | None]:
    """A progress bar over every training step of a run, or nothing (workers and jobs show none)."""
    if progress is None:
        yield None
        return
    per_epoch = math.ceil(data.train_x.shape[0] / cfg.batch_size)
    with progress.bar(label, total=per_epoch * cfg.epochs, steps_per_epoch=per_epoch) as advance:
        yield advance


def _label(exp: Experiment, repeat: int) -> str:
    return exp.name if exp.config.repeats == 1 else f"{exp.name} [{repeat + 1}/{exp.config.repeats}]"


def execute_task(task: Task, progress: Progress | None = None) -> list[dict[str, Any]]:
    """Run a task (one repeat, or a stack trained together) and write one repeat file per member; a
    training error is recorded in them, not raised, so that other tasks go on."""
    # Decided before the data load (whose tensor work already runs on torch's threads); re-decided
    # between epochs (threads.between_epochs) until the task ends.
    with threads.governing(task.members[0].threads) as choice:
        return _execute(task, progress, choice)


def _threads_provenance(choice: ThreadChoice) -> dict[str, Any]:
    """The count a run started with, and why (each epoch's own count is in its record)."""
    return {"cpu_threads": choice.threads, "threads_reason": choice.reason, "threads_setting": choice.setting,
            "threads_granted": choice.granted, "machine_at_start": choice.reading}


def _execute(task: Task, progress: Progress | None, choice: ThreadChoice) -> list[dict[str, Any]]:
    from report_builder.execution import provenance
    from report_builder.training.device import resolve_device
    from report_builder.training.train import train

    members = task.members
    first = members[0].experiment
    device = resolve_device(first.config.device, f"[experiments.{first.name}]")
    started_at, started = provenance.now(), time.perf_counter()
    data = shared_cache(Path(members[0].repo_dir)).get(first.config, device)
    data_seconds = time.perf_counter() - started
    label = _label(first, members[0].repeat) if len(members) == 1 else f"stack of {len(members)}"
    try:
        with _bar(progress, label, first.config, data) as advance:
            runs = train([m.experiment.config for m in members], [m.repeat for m in members], data, device, advance)
        outcomes = [("done", dataclasses.asdict(run), None) for run in runs]
    except (KeyboardInterrupt, MemoryError, ReportBuilderError):
        raise
    except Exception as e:
        outcomes = [("failed", None, _error_text(e))] * len(members)
    seconds = time.perf_counter() - started
    # A stack's wall time is shared out: each member's part of the work.
    stacked = {} if len(members) == 1 else {"stacked_with": len(members),
                                            "stacked_experiments": sorted({m.experiment.name for m in members})}
    docs = []
    for member, (status, run, error) in zip(members, outcomes):
        doc = {"experiment": member.experiment.name, "repeat": member.repeat,
               "identity": identity_of(member.experiment.config, data.raw.fingerprint, device.type),
               "status": status, "run": run, "error": error,
               "provenance": _run_provenance(device, Path(member.repo_dir), data, started_at, seconds / len(members),
                                             data_seconds=data_seconds / len(members), **stacked,
                                             **_threads_provenance(choice))}
        docs.append(write_repeat(Path(member.results_dir), doc))
    return docs
