"""Executors run repeat tasks and hand each finished task's document back to the driver.

- local: one after another in this process (progress bars, CUDA start-up and data load paid once);
- local-gpus: one worker process per GPU, pinned with CUDA_VISIBLE_DEVICES, fed from one queue;
- slurm: one job per task through submitit, as a job array, re-attached after a driver restart.
"""

from __future__ import annotations

import base64
import json
import os
import pickle
import queue
import subprocess
import sys
import threading
from collections import deque
from pathlib import Path
from typing import Callable, Protocol

from report_builder.config import ExecutorConfig
from report_builder.errors import ConfigError
from report_builder.progress import Progress
from report_builder.tasks import RepeatTask, Task, execute_task

OnDone = Callable[[RepeatTask, dict], None]


class Executor(Protocol):
    def run(self, tasks: list[Task], on_done: OnDone) -> None:
        """Run every task; call on_done(member, document) for each member repeat as it finishes."""


def failed_doc(task: RepeatTask, error: str, log: str | None = None) -> dict:
    """The document of a task that died without writing its own (crashed worker, failed job)."""
    from report_builder import provenance

    now = provenance.now()
    return {"experiment": task.experiment.name, "repeat": task.repeat, "status": "failed", "run": None,
            "error": error, "log": log, "identity": None,
            "provenance": {"started_at": now, "finished_at": now, "wall_seconds": 0.0}}


class LocalExecutor:
    """Tasks in this process, in order, with a live progress bar each."""

    def __init__(self, progress: Progress):
        self.progress = progress

    def run(self, tasks: list[Task], on_done: OnDone) -> None:
        for task in tasks:
            for member, doc in zip(task.members, execute_task(task, self.progress)):
                on_done(member, doc)


# ---- local-gpus ---------------------------------------------------------------------------------

class Worker(Protocol):
    device: str

    def send(self, task: Task) -> None: ...

    def stop(self) -> None: ...


def run_queue(tasks: list[Task], workers: list[Worker], results: "queue.Queue[tuple[Worker, list | None]]",
              on_done: OnDone) -> None:
    """Hand tasks to idle workers until all are done; each worker holds at most one task at a time."""
    pending = deque(tasks)
    busy: dict[int, Task] = {}

    def give(worker: Worker) -> None:
        if pending:
            busy[id(worker)] = pending.popleft()
            worker.send(busy[id(worker)])

    for worker in workers:
        give(worker)
    while busy:
        worker, docs = results.get()
        task = busy.pop(id(worker))
        if docs is None:
            docs = [failed_doc(m, f"worker on GPU {worker.device} exited before finishing {m.label}")
                    for m in task.members]
        for member, doc in zip(task.members, docs):
            on_done(member, doc)
        give(worker)


class ProcessWorker:
    """A `python -m report_builder.worker` process that sees one GPU and runs one task at a time."""

    def __init__(self, device: str, results: "queue.Queue[tuple[ProcessWorker, dict | None]]"):
        self.device = device
        env = {**os.environ, "CUDA_VISIBLE_DEVICES": device}
        self.process = subprocess.Popen([sys.executable, "-m", "report_builder.worker"], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True, env=env)
        self._results = results
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self._results.put((self, json.loads(line)))
        self._results.put((self, None))  # the process ended: whatever it held is lost

    def send(self, task: Task) -> None:
        self.process.stdin.write(base64.b64encode(pickle.dumps(task)).decode() + "\n")
        self.process.stdin.flush()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.close()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()


def visible_gpus() -> list[str]:
    import torch

    return [str(i) for i in range(torch.cuda.device_count())]


class LocalGpusExecutor:
    """One worker per GPU; with one device or none it is the local executor."""

    def __init__(self, config: ExecutorConfig, progress: Progress):
        self.devices = [str(g) for g in config.gpus] if config.gpus is not None else visible_gpus()
        self.progress = progress

    def run(self, tasks: list[Task], on_done: OnDone) -> None:
        if len(self.devices) <= 1:
            self.progress.say(f"local-gpus: {len(self.devices)} GPU(s) visible; running in this process")
            LocalExecutor(self.progress).run(tasks, on_done)
            return
        self.progress.say(f"local-gpus: {len(self.devices)} workers on GPUs {', '.join(self.devices)}")
        results: queue.Queue = queue.Queue()
        workers = [ProcessWorker(device, results) for device in self.devices[:len(tasks)]]
        try:
            run_queue(tasks, workers, results, on_done)
        finally:
            for worker in workers:
                worker.stop()


def make_executor(config: ExecutorConfig, progress: Progress, results_dir: Path) -> Executor:
    if config.kind == "local":
        return LocalExecutor(progress)
    if config.kind == "local-gpus":
        return LocalGpusExecutor(config, progress)
    from report_builder.slurm import SlurmExecutor

    return SlurmExecutor(config, progress, results_dir)


def with_kind(config: ExecutorConfig, kind: str | None) -> ExecutorConfig:
    """The executor settings with `kind` from the command line, if given."""
    import dataclasses

    from report_builder.config import EXECUTORS

    if kind is None:
        return config
    if kind not in EXECUTORS:
        raise ConfigError(f"--executor {kind}: unknown executor; valid: {', '.join(EXECUTORS)}")
    return dataclasses.replace(config, kind=kind)
