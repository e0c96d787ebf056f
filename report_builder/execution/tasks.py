"""One repeat of one experiment as a unit of work that any executor can run: in this process, in a
worker pinned to one GPU, or in a Slurm job on another machine.

A task writes only its own repeat file, atomically: results/.repeats/NAME/repeat-K.json. The driver,
holding the results lock, is the only writer of results/NAME.json; it merges repeat files into it.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
import traceback
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from report_builder import paths
from report_builder.config import Experiment
from report_builder.errors import ReportBuilderError
from report_builder.progress import Progress
from report_builder.results import store
from report_builder.training.data import DataCache

# The "dataloader" pipeline asks for the assignment's 4 workers on purpose, whatever the core count.
warnings.filterwarnings("ignore", message="This DataLoader will create", category=UserWarning)


@dataclass(frozen=True)
class RepeatTask:
    experiment: Experiment
    repeat: int
    results_dir: str
    repo_dir: str
    timed: bool = False
    """A member of a timing group: trains alone, with no other task of this driver in flight."""

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


def repeat_path(results_dir: Path, name: str, repeat: int) -> Path:
    return paths.repeat_file(results_dir, name, repeat)


def read_repeat(results_dir: Path, name: str, repeat: int) -> dict[str, Any] | None:
    """A finished (or failed) repeat file, or None when absent or unreadable (it is then run again)."""
    try:
        return json.loads(repeat_path(results_dir, name, repeat).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def clear_repeats(results_dir: Path, name: str) -> None:
    folder = paths.repeats_dir(results_dir, name)
    if folder.is_dir():
        for path in folder.iterdir():
            path.unlink(missing_ok=True)
        folder.rmdir()
    try:
        folder.parent.rmdir()  # only when no other experiment has repeats in flight
    except OSError:
        pass


# Data and devices are kept per process, so a worker that runs many tasks loads the dataset once.
_DATA_CACHE = None


def datasets(repo_dir: Path):
    """This process's data cache: the driver's fingerprints and the local executor share one load."""
    global _DATA_CACHE
    if _DATA_CACHE is None or _DATA_CACHE.base_dir != repo_dir:
        _DATA_CACHE = DataCache(repo_dir)
    return _DATA_CACHE


def identity_of(experiment: Experiment, data_fingerprint: str, device_kind: str) -> dict[str, Any]:
    return {"config": experiment.config.identity(), "code_version": store.code_version(),
            "data_fingerprint": data_fingerprint, "device_kind": device_kind}


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


def _write(task: RepeatTask, doc: dict[str, Any]) -> dict[str, Any]:
    store.write_atomic(repeat_path(Path(task.results_dir), task.experiment.name, task.repeat),
                       json.dumps(doc, allow_nan=False) + "\n")
    return doc


def _error_text(e: BaseException) -> str:
    return "".join(traceback.format_exception_only(e)).strip()


def fit_threads() -> int:
    """Use as many torch threads as CPUs this process may run on: its CPU affinity, and in a Slurm job the
    CPUs it asked for. torch's default counts the machine's; two 1-CPU Slurm jobs with two threads each on
    a 2-core node trained 30× slower than one thread each."""
    import torch

    try:
        allowed = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        allowed = torch.get_num_threads()
    # A Slurm job may be handed fewer CPUs than its affinity shows (no core binding): it asked for these.
    granted = os.environ.get("SLURM_CPUS_PER_TASK", "")
    if granted.isdigit():
        allowed = min(allowed, int(granted))
    if 0 < allowed < torch.get_num_threads():
        torch.set_num_threads(allowed)
    return torch.get_num_threads()


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
    from report_builder.execution import provenance
    from report_builder.training.device import resolve_device
    from report_builder.training.train import train

    fit_threads()
    members = task.members
    first = members[0].experiment
    device = resolve_device(first.config.device, f"[experiments.{first.name}]")
    started_at, started = provenance.now(), time.perf_counter()
    data = datasets(Path(members[0].repo_dir)).get(first.config, device)
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
               "identity": identity_of(member.experiment, data.raw.fingerprint, device.type),
               "status": status, "run": run, "error": error,
               "provenance": _run_provenance(device, Path(member.repo_dir), data, started_at, seconds / len(members),
                                             data_seconds=data_seconds / len(members), **stacked)}
        docs.append(_write(member, doc))
    return docs


def merge(header: dict[str, Any], repeats: list[dict[str, Any]], wanted: int) -> dict[str, Any]:
    """An experiment's results document from its repeat documents (status partial until all are in)."""
    repeats = sorted(repeats, key=lambda d: d["repeat"])
    failed = [d for d in repeats if d["status"] == "failed"]
    provs = [d["provenance"] for d in repeats]
    body = {
        "runs": [d["run"] for d in repeats if d["status"] == "done"],
        "status": "failed" if failed else ("done" if len(repeats) == wanted else "partial"),
        "error": failed[0]["error"] if failed else None,
        "provenance": {
            **provs[0],
            "started_at": min(p["started_at"] for p in provs),
            "finished_at": max(p["finished_at"] for p in provs),
            "wall_seconds": sum(p["wall_seconds"] for p in provs),
            "repeat_provenance": [{k: p.get(k) for k in ("device_name", "hostname", "cuda_visible_devices",
                                                         "slurm_job_id", "wall_seconds")} for p in provs],
        },
    }
    if failed and failed[0].get("log"):
        body["log"] = failed[0]["log"]
    # A repeat that ran on another kind of device than planned makes that the experiment's identity.
    identity = next((d["identity"] for d in repeats if d.get("identity")), header["identity"])
    return {**header, "identity": identity, **body}
