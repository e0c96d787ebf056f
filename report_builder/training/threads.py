"""How many torch threads a run trains with: never more than the cores that other work leaves free.

Why: the baseline recipe on a 2-core machine (issue 37, median seconds per epoch) took 0.9–1.2 s with
torch's two threads and 0.9–1.0 s with one when nothing else ran; beside one other CPU-bound process
3.7–4.4 s with two threads against 0.9–1.0 s with one; beside two, 3.9–8.7 s against 1.2–1.5 s. OpenMP's
threads meet at the end of every parallel region, so one that loses its core stalls the others. A count
that fits the free cores costs nothing on a quiet machine and avoids that.

The rule (choose_threads):
- The grant is what this process may use at all (granted_threads): its CPU affinity, a Slurm job's
  SLURM_CPUS_PER_TASK, and the count torch started with (OMP_NUM_THREADS; a local-gpus worker's or Slurm
  task's own setting). The rule only ever lowers it.
- Other work is counted in cores: other processes' CPU time over a short window, steal included
  (machine_load.others_cores); where that is unknown, each runnable task other than ours is one core.
- A core counts as taken once other work exceeds a whole number of cores by more than SLACK_CORES:
  0.25 takes none, 0.26 one, 1.25 one, 1.26 two.
- free = the machine's CPUs − taken; threads = min(grant, free), at least 1.
- `threads = N` in [executor] pins the count at N (lowered to the grant, never raised), read nothing.

A run decides at its start (Governor.start) and again after every epoch (Governor.after_epoch), from the
CPU time other processes used while that epoch trained (contention.EpochClock's evidence), so a machine
that gets busy, or quiet again, changes the next epoch's count. Each epoch records the count it trained
with (records.EpochRecord.threads).

For callers that time things themselves (the timing phase): choose_threads(reading, granted) → (threads,
reason) is pure; apply_threads(n) sets it; process_grant() is this process's grant.
"""

from __future__ import annotations

import math
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator

import torch

from report_builder.training.machine_load import MachineReading, allowed_cpus, read_machine

SLACK_CORES = 0.25
"""Other work's CPU use beyond whole cores that does not yet take a core. A quiet 2-core machine's own
daemons read as at most 0.03 cores over an epoch (contention: 1.5% of 2 CPUs); one CPU-bound process beside
our two threads gets about 0.67 of a core. 0.25 sits well between the two."""
RECENT_SECONDS = 10.0
"""A reading this fresh (the last epoch of the run before, say) decides a run's start without a new one."""

_TORCH_THREADS_AT_START = torch.get_num_threads()
"""torch's count before this module lowered it: part of the grant, which a later run may climb back to."""


@dataclass(frozen=True)
class ThreadChoice:
    """A run's thread count as decided at its start, and why."""

    threads: int
    reason: str
    """As the report prints it: "1 of 2 cores free", "threads = 2 in [executor]"."""
    setting: int | str
    """The [executor] threads setting: "auto" or a pinned count."""
    granted: int
    """The most threads this process may use (granted_threads)."""
    reading: dict | None
    """The machine reading the count was decided from (MachineReading.as_dict); None when pinned."""


def granted_threads(torch_threads: int, affinity: int, slurm_cpus: str | None) -> int:
    """The most threads a process may use: torch's own count, its CPU affinity, and the CPUs a Slurm job
    asked for (a job may be handed fewer CPUs than its affinity shows when the cluster binds no cores: two
    1-CPU jobs with two threads each on a 2-core node trained 30× slower than with one thread each)."""
    granted = min(torch_threads, affinity)
    if slurm_cpus is not None and slurm_cpus.isdigit() and int(slurm_cpus) > 0:
        granted = min(granted, int(slurm_cpus))
    return max(granted, 1)


def process_grant() -> int:
    """This process's grant (granted_threads), from torch's count when it started."""
    return granted_threads(_TORCH_THREADS_AT_START, allowed_cpus(), os.environ.get("SLURM_CPUS_PER_TASK"))


def others_cores(reading: MachineReading) -> float | None:
    """Other work, in cores: measured CPU time where known, else runnable tasks other than ours."""
    if reading.others_cores is not None:
        return reading.others_cores
    if reading.runnable_others is not None:
        return float(reading.runnable_others)
    return None


def taken_cores(others: float) -> int:
    """Whole cores other work takes: a core counts once it uses more than SLACK_CORES of it."""
    return max(0, math.ceil(others - SLACK_CORES))


def choose_threads(reading: MachineReading | None, granted: int, setting: int | str = "auto") -> tuple[int, str]:
    """(threads, reason) for a run: the free cores within the grant (the module's rule), or a pinned count."""
    if setting != "auto":
        pinned = int(setting)
        if pinned > granted:
            return granted, f"threads = {pinned} in [executor], lowered to the {granted} cores granted"
        return pinned, f"threads = {pinned} in [executor]"
    others = None if reading is None else others_cores(reading)
    if others is None:
        return granted, f"{granted} cores granted; other work unknown"
    machine = reading.machine_cpus or reading.cpus
    free = min(granted, max(0, machine - taken_cores(others)))
    return max(free, 1), f"{free} of {granted} cores free"


def apply_threads(n: int) -> int:
    """Set torch's thread count (threads added later take the calling thread's float mode, flush included)."""
    if n != torch.get_num_threads():
        torch.set_num_threads(n)
    return torch.get_num_threads()


def reading_of_epoch(evidence: dict, cpus: int, machine_cpus: int) -> MachineReading | None:
    """A reading from what contention.EpochClock saw during an epoch; None where it could not judge."""
    share = evidence.get("others_cpu_share")
    if share is None:
        return None
    return MachineReading(cpus=cpus, others_cores=share * machine_cpus, steal_share=None, cpu_pressure=None,
                          io_pressure=None, load=evidence.get("load_after"), runnable_others=None,
                          machine_cpus=machine_cpus)


class Governor:
    """One run's thread count: decided at its start, re-decided after each epoch."""

    def __init__(self, setting: int | str = "auto", granted: int | None = None,
                 read: Callable[[], MachineReading] = read_machine, now: Callable[[], float] = time.monotonic,
                 machine_cpus: int | None = None):
        self.setting = setting
        self.granted = process_grant() if granted is None else granted
        self._read, self._now = read, now
        self._machine_cpus = machine_cpus or os.cpu_count() or 1

    def start(self) -> ThreadChoice:
        """Decide and apply the count the run starts with."""
        reading = None
        if self.setting == "auto":
            reading = _recent(self._now()) or self._remember(self._read())
        threads, reason = choose_threads(reading, self.granted, self.setting)
        return ThreadChoice(apply_threads(threads), reason, self.setting, self.granted,
                            None if reading is None else reading.as_dict())

    def after_epoch(self, evidence: dict) -> int:
        """Re-decide from the epoch just trained; the count the next epoch trains with."""
        if self.setting != "auto":
            return torch.get_num_threads()
        reading = reading_of_epoch(evidence, self.granted, self._machine_cpus)
        if reading is None:
            return torch.get_num_threads()
        threads, _ = choose_threads(self._remember(reading), self.granted)
        return apply_threads(threads)

    def _remember(self, reading: MachineReading) -> MachineReading:
        global _last
        _last = (self._now(), reading)
        return reading


_last: tuple[float, MachineReading] | None = None
_active: Governor | None = None


def _recent(now: float) -> MachineReading | None:
    if _last is not None and now - _last[0] <= RECENT_SECONDS:
        return _last[1]
    return None


@contextmanager
def governing(setting: int | str = "auto", governor: Governor | None = None) -> Iterator[ThreadChoice]:
    """Decide a run's threads now and re-decide them between its epochs (between_epochs) until the end,
    then give torch back the count it had."""
    global _active
    before = torch.get_num_threads()
    governor = governor or Governor(setting)
    choice = governor.start()
    _active = governor
    try:
        yield choice
    finally:
        _active = None
        apply_threads(before)


def between_epochs(evidence: dict) -> int:
    """The count the next epoch trains with: re-decided where a run is governed, else torch's as it is."""
    return _active.after_epoch(evidence) if _active is not None else torch.get_num_threads()
