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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from report_builder import store
from report_builder.config import Experiment
from report_builder.errors import ReportBuilderError
from report_builder.progress import Progress

REPEATS_DIR = ".repeats"


@dataclass(frozen=True)
class RepeatTask:
    experiment: Experiment
    repeat: int
    results_dir: str
    repo_dir: str

    @property
    def label(self) -> str:
        return f"{self.experiment.name}[{self.repeat}]"


def repeat_path(results_dir: Path, name: str, repeat: int) -> Path:
    return Path(results_dir) / REPEATS_DIR / name / f"repeat-{repeat}.json"


def read_repeat(results_dir: Path, name: str, repeat: int) -> dict[str, Any] | None:
    """A finished (or failed) repeat file, or None when absent or unreadable (it is then run again)."""
    try:
        return json.loads(repeat_path(results_dir, name, repeat).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def clear_repeats(results_dir: Path, name: str) -> None:
    folder = Path(results_dir) / REPEATS_DIR / name
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


def _datasets(repo_dir: Path):
    global _DATA_CACHE
    from report_builder.runner import DataCache

    if _DATA_CACHE is None or _DATA_CACHE.base_dir != repo_dir:
        _DATA_CACHE = DataCache(repo_dir)
    return _DATA_CACHE


def identity_of(experiment: Experiment, data_fingerprint: str, device_kind: str) -> dict[str, Any]:
    return {"config": experiment.config.identity(), "code_version": store.code_version(),
            "data_fingerprint": data_fingerprint, "device_kind": device_kind}


def execute(task: RepeatTask, progress: Progress | None = None) -> dict[str, Any]:
    """Run one repeat and write its repeat file; a training error is recorded, not raised."""
    from report_builder import provenance
    from report_builder.runner import resolve_device
    from report_builder.train import train_run

    exp = task.experiment
    repo_dir = Path(task.repo_dir)
    device = resolve_device(exp.config.device, f"[experiments.{exp.name}]")
    started_at, started = provenance.now(), time.perf_counter()
    data = _datasets(repo_dir).get(exp.config, device)
    doc: dict[str, Any] = {"experiment": exp.name, "repeat": task.repeat,
                           "identity": identity_of(exp, data.raw.fingerprint, device.type)}
    try:
        if progress is None:
            run = train_run(exp.config, data, task.repeat, device)
        else:
            steps = math.ceil(data.train_x.shape[0] / exp.config.batch_size) * exp.config.epochs
            label = exp.name if exp.config.repeats == 1 else f"{exp.name} [{task.repeat + 1}/{exp.config.repeats}]"
            with progress.bar(label, total=steps) as advance:
                run = train_run(exp.config, data, task.repeat, device, advance)
    except (KeyboardInterrupt, MemoryError, ReportBuilderError):
        raise
    except Exception as e:  # recorded in the results; other tasks go on
        doc.update(status="failed", run=None, error="".join(traceback.format_exception_only(e)).strip())
    else:
        doc.update(status="done", run=dataclasses.asdict(run), error=None)
    doc["provenance"] = {
        **provenance.collect(device, repo_dir),
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
        "data_source": data.raw.source,
        "train_examples": int(data.train_x.shape[0]),
        "test_examples": int(data.test_x.shape[0]),
        "started_at": started_at,
        "finished_at": provenance.now(),
        "wall_seconds": time.perf_counter() - started,
    }
    store.write_atomic(repeat_path(Path(task.results_dir), exp.name, task.repeat),
                       json.dumps(doc, allow_nan=False) + "\n")
    return doc


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
