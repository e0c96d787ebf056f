"""Was the machine busy with other work while an epoch was timed?

A timing is honest wall clock, so another program that competes for the CPU (or the GPU) inflates it.
Around every timed epoch this reads, where Linux lets it:
- the CPU time that every other process used, as a share of the machine's capacity over the epoch:
  system-wide busy time (/proc/stat) minus this process tree's own (this process, its live children
  such as DataLoader workers, and children that ended), over system-wide busy and idle time;
- the 1-minute load average before and after;
- on a GPU, how many other processes hold a context on it (nvidia-smi), once per run, where this
  process can see itself in that list.

An epoch is flagged as disturbed when other processes used more than OTHERS_SHARE_LIMIT of the CPUs,
or another process used the GPU. The limit comes from measurements on a 2-core machine (README, "Busy
machines"; `make experiment NAME=batch16 FORCE=1`, 15 epochs each): run alone, other processes used at
most 1.5% of the CPUs during an epoch; beside a program that kept both cores busy, 50–51% (epochs 4–8×
slower), and 18% in the epoch during which that program stopped. An epoch shorter than
MIN_WINDOW_TICKS of CPU capacity is too short to judge, and is not flagged. What happens outside this
machine (a virtual machine's host, say) is not visible here.

The counters are read by a `read` function that EpochClock takes (read_cpu by default), so that tests
can feed it recorded samples.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from typing import Callable

OTHERS_SHARE_LIMIT = 0.1
MIN_WINDOW_TICKS = 50
"""The shortest window judged, in clock ticks of capacity summed over all CPUs (50 = 250 ms on 2 CPUs).

/proc/stat counts in ticks (10 ms), charging each whole tick to whatever ran when it fell, and this
process tree's time is rounded to ticks too: each end of a window is off by up to a tick per CPU and
one for this process. Over a few ticks that rounding is the whole answer — epochs of 5–9 ms on a quiet
2-core machine read as "other processes used 48–68%" (54 of 240). Over 50 ticks, the 2–3 ticks of
rounding on a 2-CPU machine stay near 5%, half of OTHERS_SHARE_LIMIT."""
GPU_CHECK_SECONDS = 30.0
"""nvidia-smi is asked at most this often (a run of many short runs would otherwise wait on it)."""
TOO_SHORT = "too short to judge"
_LINUX = os.path.isdir("/proc/self/task")
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass(frozen=True)
class CpuSample:
    """One reading of the CPU counters; CPU times in clock ticks (1/SC_CLK_TCK s, 10 ms on Linux)."""

    busy: int | None
    """Every CPU's busy time since boot, summed (/proc/stat); None off Linux."""
    total: int | None
    """Every CPU's busy and idle time since boot, summed: the capacity the busy time is a share of."""
    own: float
    """This process tree's CPU time: itself, its live descendants, and its children that ended."""
    load: float | None
    """The 1-minute load average."""


def parse_proc_stat(first_line: str) -> tuple[int, int]:
    """(busy, total) ticks from the first line of /proc/stat ("cpu  user nice system idle iowait ...")."""
    fields = [int(v) for v in first_line.split()[1:]]
    total = sum(fields[:8])  # user … steal; guest time is already counted in user time
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return total - idle, total


def _system_ticks() -> tuple[int | None, int | None]:
    try:
        with open("/proc/stat", encoding="ascii") as f:
            return parse_proc_stat(f.readline())
    except (OSError, ValueError, IndexError):
        return None, None


def _children(pid: int) -> list[int] | None:
    """Direct children of `pid` from /proc/PID/task/*/children; None where the kernel does not list them."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return None
    found = []
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", encoding="ascii") as f:
                found += [int(c) for c in f.read().split()]
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            continue
    return found


def _process_seconds(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS
    except (OSError, IndexError, ValueError):
        return 0.0


def _descendant_pids(pid: int) -> list[int]:
    """Every live descendant of `pid` (DataLoader workers, say)."""
    found, frontier = [], [pid]
    while frontier:
        children = _children(frontier.pop())
        if children is None:
            return _descendants_by_scan(pid)
        found += children
        frontier += children
    return found


def _descendants_by_scan(pid: int) -> list[int]:
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as f:
                    parents[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        children = [c for c, p in parents.items() if p == parent]
        found += children
        frontier += children
    return found


def _own_ticks() -> float:
    t = os.times()
    live = sum(_process_seconds(child) for child in _descendant_pids(os.getpid())) if _LINUX else 0.0
    return (t.user + t.system + t.children_user + t.children_system + live) * _CLOCK_TICKS


def _load() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def read_cpu() -> CpuSample:
    """The counters now: system-wide busy and total ticks, this process tree's, the load average."""
    busy, total = _system_ticks()
    return CpuSample(busy=busy, total=total, own=_own_ticks(), load=_load())


@dataclass(frozen=True)
class CpuWindow:
    """What other processes used between two samples."""

    total_ticks: int
    """Capacity over the window: busy and idle ticks of every CPU."""
    others_ticks: float
    """Busy ticks of every CPU minus this process tree's (never below 0)."""

    @property
    def others_share(self) -> float | None:
        """others_ticks as a share of the capacity; None where the window is too short to judge."""
        if self.total_ticks < MIN_WINDOW_TICKS:
            return None
        return self.others_ticks / self.total_ticks


def measure(start: CpuSample, end: CpuSample) -> CpuWindow | None:
    """Other processes' CPU time between two samples; None where the system counters could not be read."""
    if None in (start.busy, start.total, end.busy, end.total):
        return None
    others = (end.busy - start.busy) - (end.own - start.own)
    return CpuWindow(total_ticks=end.total - start.total, others_ticks=max(0.0, others))


class EpochClock:
    """start() before an epoch's clock starts, stop() after it stops: the evidence, and the verdict."""

    def __init__(self, gpu_others: int | None = None, read: Callable[[], CpuSample] = read_cpu):
        self.gpu_others = gpu_others
        self._read = read
        self._start: CpuSample | None = None

    def start(self) -> None:
        self._start = self._read()

    def stop(self) -> tuple[bool | None, dict]:
        """(disturbed — None where nothing could be judged, evidence)."""
        start, end = self._start, self._read()
        evidence: dict = {"load_before": start.load, "load_after": end.load}
        verdicts = []
        window = measure(start, end)
        if window is not None:
            evidence["cpu_window_ticks"] = window.total_ticks
            share = window.others_share
            if share is None:
                evidence["cpu_verdict"] = TOO_SHORT
            else:
                evidence["others_cpu_share"] = round(share, 3)
                verdicts.append(share > OTHERS_SHARE_LIMIT)
        if self.gpu_others is not None:
            evidence["gpu_other_processes"] = self.gpu_others
            verdicts.append(self.gpu_others > 0)
        return (any(verdicts) if verdicts else None), evidence


_gpu_cache: tuple[float, int | None] | None = None


def other_gpu_processes() -> int | None:
    """Processes other than this one with a compute context on the visible GPUs; None if unknown."""
    global _gpu_cache
    if _gpu_cache is not None and time.monotonic() - _gpu_cache[0] < GPU_CHECK_SECONDS:
        return _gpu_cache[1]
    _gpu_cache = (time.monotonic(), _ask_nvidia_smi())
    return _gpu_cache[1]


def _ask_nvidia_smi() -> int | None:
    if shutil.which("nvidia-smi") is None:
        return None
    try:
        done = subprocess.run(["nvidia-smi", "--query-compute-apps=pid", "--format=csv,noheader"],
                              capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    pids = {line.strip() for line in done.stdout.splitlines() if line.strip().isdigit()}
    ours = {str(os.getpid())} | {str(p) for p in _descendant_pids(os.getpid())}
    if not pids & ours:
        # We hold a context, yet are not listed: a container shows other process ids (or none) than
        # ours, so nothing can be said about the others.
        return None
    return len(pids - ours)
