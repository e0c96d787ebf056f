"""The local-gpus executor: one worker process per GPU, pinned with CUDA_VISIBLE_DEVICES, fed from one queue."""

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
from typing import Callable, Protocol

from report_builder.config import ExecutorConfig
from report_builder.errors import ConfigError
from report_builder.execution.local import LocalExecutor, OnDone, OnStart, failed_doc, no_start
from report_builder.execution.tasks import Task
from report_builder.progress import Progress


class Worker(Protocol):
    device: str

    def send(self, task: Task) -> None:
        """Hand the worker a task; raises OSError when the worker is gone."""

    def stop(self) -> None: ...


# A worker that dies is replaced by a fresh process on the same GPU (a clean CUDA context) this many times.
MAX_RESTARTS = 2


def is_exclusive(task: Task) -> bool:
    """Members of timing groups run with no other task in flight, so that their seconds compare."""
    return any(m.timed for m in task.members)


def run_queue(tasks: list[Task], devices: list[str], spawn: Callable[[str], Worker],
              results: "queue.Queue[tuple[Worker, list | None]]", on_done: OnDone,
              say: Callable[[str], None] = lambda line: None, on_start: OnStart = no_start) -> None:
    """Hand tasks to idle workers, one per device, until all are done; each worker holds one task at a time
    (on_start(task) once a worker has it).

    A worker that dies fails only the task it held; a fresh worker takes its place on the same device
    (at most MAX_RESTARTS times per device). Timing-group tasks run alone: no other task is in flight.
    """
    pending = deque(tasks)
    busy: dict[int, tuple[Worker, Task]] = {}
    idle: list[Worker] = []
    restarts = {device: 0 for device in devices}

    def fail(task: Task, why: str) -> None:
        for member in task.members:
            on_done(member, failed_doc(member, why))

    def died(worker: Worker, task: Task | None) -> None:
        if task is not None:
            fail(task, f"worker on GPU {worker.device} exited before finishing {task.label}")
        if restarts[worker.device] < MAX_RESTARTS:
            restarts[worker.device] += 1
            say(f"local-gpus: worker on GPU {worker.device} exited; starting a new one")
            idle.append(spawn(worker.device))
        else:
            say(f"local-gpus: worker on GPU {worker.device} exited {MAX_RESTARTS + 1} times; GPU {worker.device} "
                f"is no longer used")

    def dispatch() -> None:
        while pending and idle:
            if busy and (is_exclusive(pending[0]) or any(is_exclusive(t) for _, t in busy.values())):
                return
            worker, task = idle.pop(0), pending.popleft()
            busy[id(worker)] = (worker, task)
            try:
                worker.send(task)
            except OSError:
                del busy[id(worker)]
                died(worker, task)
            else:
                on_start(task)

    for device in devices:
        idle.append(spawn(device))
    dispatch()
    while busy:
        worker, docs = results.get()
        if id(worker) not in busy:
            if worker in idle:  # died between tasks
                idle.remove(worker)
                died(worker, None)
                dispatch()
            continue
        _, task = busy.pop(id(worker))
        if docs is None:
            died(worker, task)
        else:
            for member, doc in zip(task.members, docs):
                on_done(member, doc)
            if getattr(worker, "retiring", False):  # it answered, and exits to leave a broken CUDA context
                died(worker, None)
            else:
                idle.append(worker)
        dispatch()
    for task in pending:  # every worker is gone
        fail(task, f"not run: every local-gpus worker exited (GPUs {', '.join(devices)})")
    for worker in idle:
        worker.stop()


ANSWER_PREFIX = "report_builder-answer "
"""Marks the worker's answer lines; anything else on its stdout (a library's print) is passed to stderr.
An answer is {"docs": [one document per member repeat], "last": true when the worker exits after it}."""


class ProcessWorker:
    """A `python -m report_builder.execution.worker` process that sees one GPU and runs one task at a time."""

    COMMAND = (sys.executable, "-m", "report_builder.execution.worker")

    def __init__(self, device: str, results: "queue.Queue[tuple[ProcessWorker, list | None]]",
                 command: tuple[str, ...] = COMMAND):
        self.device = device
        self.retiring = False
        env = {**os.environ, "CUDA_VISIBLE_DEVICES": device, "CUDA_DEVICE_ORDER": gpu_order()}
        self.process = subprocess.Popen(list(command), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                        env=env)
        self._results = results
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            if line.startswith(ANSWER_PREFIX):
                try:
                    answer = json.loads(line[len(ANSWER_PREFIX):])
                except ValueError:
                    answer = None
                if isinstance(answer, dict):
                    self.retiring = bool(answer.get("last"))
                    self._results.put((self, answer["docs"]))
                    continue
            sys.stderr.write(line)
        self.process.wait()
        self._results.put((self, None))  # the process ended: whatever it held is lost

    def send(self, task: Task) -> None:
        try:
            self.process.stdin.write(base64.b64encode(pickle.dumps(task)).decode() + "\n")
            self.process.stdin.flush()
        except ValueError as e:  # stdin already closed
            raise BrokenPipeError(str(e)) from e

    def stop(self) -> None:
        if self.process.poll() is None:
            try:
                self.process.stdin.close()
            except OSError:
                pass
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()


def gpu_order() -> str:
    """GPU numbering for this process and its workers: PCI bus order, as nvidia-smi numbers them (CUDA's
    default, fastest first, may differ), unless the user chose an order."""
    return os.environ.get("CUDA_DEVICE_ORDER", "PCI_BUS_ID")


def visible_gpus(count: int | None = None, env: dict[str, str] | None = None) -> list[str]:
    """The GPUs this process may use, written as a worker's CUDA_VISIBLE_DEVICES must name them.

    A worker's CUDA_VISIBLE_DEVICES is read against the machine's GPUs, not against ours: where ours
    is set (a shared server, a Slurm job), GPU i of this process is the i-th entry of it.
    """
    env = os.environ if env is None else env
    if count is None:
        import torch

        count = torch.cuda.device_count()
    ours = env.get("CUDA_VISIBLE_DEVICES")
    if ours is None:
        return [str(i) for i in range(count)]
    # CUDA ignores the entries after the first invalid one: the first `count` are the GPUs it found.
    return [entry.strip() for entry in ours.split(",") if entry.strip()][:count]


def chosen_gpus(wanted: tuple[int, ...] | None, visible: list[str]) -> list[str]:
    """`gpus = [...]` from [executor] (indices of this process's GPUs) as worker device names."""
    if wanted is None:
        return visible
    unknown = [i for i in wanted if i >= len(visible)]
    if unknown:
        seen = f"{len(visible)}: {', '.join(map(str, range(len(visible))))}" if visible else "none"
        raise ConfigError(f"[executor] gpus: {', '.join(map(str, unknown))} not a GPU this process sees "
                          f"(it sees {seen})")
    return [visible[i] for i in wanted]


class LocalGpusExecutor:
    """One worker per GPU; with every GPU of a one-GPU machine (or none) it is the local executor."""

    def __init__(self, config: ExecutorConfig, progress: Progress):
        self.config = config
        self.progress = progress

    def run(self, tasks: list[Task], on_done: OnDone, on_start: OnStart = no_start) -> None:
        devices = chosen_gpus(self.config.gpus, visible_gpus())
        if self.config.gpus is None and len(devices) <= 1:
            self.progress.say(f"local-gpus: {len(devices)} GPU(s) visible; running in this process")
            LocalExecutor(self.progress).run(tasks, on_done, on_start)
            return
        devices = devices[:len(tasks)]
        self.progress.say(f"local-gpus: {len(devices)} worker(s) on GPU(s) {', '.join(devices)}")
        results: queue.Queue = queue.Queue()
        run_queue(tasks, devices, lambda device: ProcessWorker(device, results), results, on_done,
                  self.progress.say, on_start)
