"""How busy is this machine with other work, right now? One reading that both the thread choice (how many
cores are free) and the timing phase's idle gate (is it quiet enough to time) are decided from.

A reading combines what Linux offers cheaply, each None where it cannot be read:
- the cores other processes used over a short window: system-wide busy ticks (/proc/stat, steal
  included: a virtual machine's host taking the CPU is someone else's work too) minus this process
  tree's own, as a count of cores (contention.measure);
- the share of that window the hypervisor stole (/proc/stat "steal");
- pressure stall information (/proc/pressure/cpu and io, "some": the share of time in which at least one
  runnable task waited for a CPU, or for I/O), over the window itself, from the kernel's running totals:
  this process sleeps through the window, so its own threads' stalls are not in it. ("avg10", the last
  10 s, would still hold this process's own stalls from just before: measured on a quiet 2-core machine,
  8–16% right after a DataLoader sample, 0% over the idle window. It is used only where there are no
  totals.)
- the 1-minute load average, and the runnable tasks (/proc/loadavg) other than this process's own.

Every source is read through a function the caller may replace, so that tests feed recorded readings.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Callable

from report_builder.training import contention

WINDOW_SECONDS = 0.3
"""How long the CPU counters are watched for one reading, at the least: short, since the timing phase reads
before and after each of its rounds (6 readings of 0.5 s were an eighth of its time), yet 60 ticks of capacity
on 2 CPUs, above contention.MIN_WINDOW_TICKS (default_window lengthens it where the CPUs are fewer)."""


def default_window() -> float:
    """WINDOW_SECONDS, lengthened on a machine of few CPUs to 1.2 × contention.MIN_WINDOW_TICKS of capacity, the
    least whose share of other work is judged (a 1-CPU machine: 0.6 s)."""
    cpus = os.cpu_count() or 1
    return max(WINDOW_SECONDS, 1.2 * contention.MIN_WINDOW_TICKS / (cpus * contention._CLOCK_TICKS))


@dataclass(frozen=True)
class MachineReading:
    """What other work was doing on this machine over one short window."""

    cpus: int
    """CPUs this process may run on (its affinity)."""
    others_cores: float | None
    """CPU cores' worth of time that other processes (and the hypervisor's steal) used over the window."""
    steal_share: float | None
    """The share of the window's capacity stolen by the hypervisor (0–1)."""
    cpu_pressure: float | None
    """PSI cpu "some" over the window, in percent (avg10 where the kernel gives no totals)."""
    io_pressure: float | None
    """PSI io "some" over the window, in percent (avg10 where the kernel gives no totals)."""
    load: float | None
    """1-minute load average (all processes, ours included)."""
    runnable_others: int | None
    """Runnable tasks on the machine now, less this process's own running threads."""
    machine_cpus: int | None = None
    """CPUs of the whole machine, which /proc/stat (and so others_cores) counts; None where not read."""

    def as_dict(self) -> dict:
        return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


def _some_field(text: str, key: str) -> str | None:
    """One field ("avg10", "total") of the "some" line of a /proc/pressure file's contents; None if it has none."""
    for line in text.splitlines():
        fields = line.split()
        if fields and fields[0] == "some":
            for field in fields[1:]:
                name, _, value = field.partition("=")
                if name == key:
                    return value
    return None


def parse_pressure(text: str) -> float | None:
    """The "some avg10" percentage from the contents of a /proc/pressure file; None if it has none."""
    value = _some_field(text, "avg10")
    try:
        return None if value is None else float(value)
    except ValueError:
        return None


def parse_pressure_total(text: str) -> int | None:
    """The "some" line's running total of stalled time (µs) from a /proc/pressure file; None if it has none."""
    value = _some_field(text, "total")
    return int(value) if value is not None and value.isdigit() else None


def read_pressure_total(resource: str) -> int | None:
    """PSI "some" total stall time in µs for "cpu" or "io"; None where the kernel has no PSI."""
    try:
        with open(f"/proc/pressure/{resource}", encoding="ascii") as f:
            return parse_pressure_total(f.read())
    except (OSError, ValueError):
        return None


def window_pressure(start: int | None, end: int | None, seconds: float) -> float | None:
    """The percentage of `seconds` in which some task stalled, from two running totals (µs); None if unknown."""
    if start is None or end is None or seconds <= 0 or end < start:
        return None
    return min(100.0, 100 * (end - start) / (seconds * 1e6))


def read_pressure(resource: str) -> float | None:
    """PSI "some avg10" for "cpu" or "io"; None where the kernel has no PSI (or it is switched off)."""
    try:
        with open(f"/proc/pressure/{resource}", encoding="ascii") as f:
            return parse_pressure(f.read())
    except (OSError, ValueError):
        return None


def parse_steal(first_line: str) -> tuple[int, int] | None:
    """(steal, total) ticks from the first line of /proc/stat; None where the steal field is absent."""
    fields = [int(v) for v in first_line.split()[1:]]
    if len(fields) < 8:
        return None
    return fields[7], sum(fields[:8])


def _read_steal() -> tuple[int, int] | None:
    try:
        with open("/proc/stat", encoding="ascii") as f:
            return parse_steal(f.readline())
    except (OSError, ValueError, IndexError):
        return None


def parse_runnable(loadavg: str) -> int | None:
    """Runnable tasks from /proc/loadavg ("0.52 0.58 0.59 2/117 6366": 2 runnable, this reader among them)."""
    try:
        return int(loadavg.split()[3].split("/")[0])
    except (IndexError, ValueError):
        return None


def _own_running_threads() -> int:
    """This process's threads in state R now (torch's busy threads count here, not as someone else's)."""
    running = 0
    try:
        tids = os.listdir("/proc/self/task")
    except OSError:
        return 1
    for tid in tids:
        try:
            with open(f"/proc/self/task/{tid}/stat", encoding="ascii", errors="replace") as f:
                running += f.read().rsplit(")", 1)[1].split()[0] == "R"
        except (OSError, IndexError):
            continue
    return max(running, 1)


def _read_runnable_others() -> int | None:
    try:
        with open("/proc/loadavg", encoding="ascii") as f:
            runnable = parse_runnable(f.read())
    except OSError:
        return None
    return None if runnable is None else max(0, runnable - _own_running_threads())


def allowed_cpus() -> int:
    """CPUs this process may run on: its affinity where the OS says, else the machine's count."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


@dataclass(frozen=True)
class Sources:
    """Where a reading comes from; tests replace any of them with recorded values."""

    cpu: Callable[[], contention.CpuSample] = contention.read_cpu
    steal: Callable[[], tuple[int, int] | None] = _read_steal
    pressure: Callable[[str], float | None] = read_pressure
    pressure_total: Callable[[str], int | None] = read_pressure_total
    clock: Callable[[], float] = time.monotonic
    runnable_others: Callable[[], int | None] = _read_runnable_others
    cpus: Callable[[], int] = allowed_cpus
    machine_cpus: Callable[[], int] = lambda: os.cpu_count() or 1
    sleep: Callable[[float], None] = time.sleep


def read_machine(window: float | None = None, sources: Sources = Sources()) -> MachineReading:
    """Watch the machine for `window` seconds (default_window() unless given; this process idle meanwhile) and
    say what others did."""
    window = default_window() if window is None else window
    cpu0, steal0 = sources.cpu(), sources.steal()
    stalls0, began = {r: sources.pressure_total(r) for r in ("cpu", "io")}, sources.clock()
    sources.sleep(window)
    stalls1, ended = {r: sources.pressure_total(r) for r in ("cpu", "io")}, sources.clock()
    cpu1, steal1 = sources.cpu(), sources.steal()
    pressure = {r: window_pressure(stalls0[r], stalls1[r], ended - began) for r in ("cpu", "io")}
    pressure = {r: sources.pressure(r) if value is None else value for r, value in pressure.items()}
    others_cores = None
    measured = contention.measure(cpu0, cpu1)
    if measured is not None and measured.total_ticks > 0 and measured.others_share is not None:
        # /proc/stat counts every CPU of the machine, which the affinity may not all grant us
        others_cores = measured.others_share * sources.machine_cpus()
    steal_share = None
    if steal0 is not None and steal1 is not None and steal1[1] > steal0[1]:
        steal_share = (steal1[0] - steal0[0]) / (steal1[1] - steal0[1])
    return MachineReading(cpus=sources.cpus(), others_cores=others_cores, steal_share=steal_share,
                          cpu_pressure=pressure["cpu"], io_pressure=pressure["io"],
                          load=cpu1.load, runnable_others=sources.runnable_others(),
                          machine_cpus=sources.machine_cpus())
