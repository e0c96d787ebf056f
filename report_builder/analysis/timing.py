"""Which timed epochs and runs a report's tables may use, and the rules that turn timing rounds into speed-ups.

The rules the report states about seconds, each once:
- an epoch timed while other work loaded the machine (`timing_disturbed`) is left out of every mean and
  total of time (clean_epoch_seconds, clean_run_seconds);
- a run whose median clean epoch took more than SLOWDOWN_LIMIT times its experiment's median run is an
  "unexplained slowdown" (nothing the detector saw accounts for it) and is left out of its mean time
  (slowed_runs);
- no standard deviation from fewer than MIN_SPREAD_VALUES values (spread);
- every speed-up comes from the timing rounds (execution/timing_rounds.py), never from the training runs'
  seconds: each round times every experiment's training step once, so a per-round ratio pairs two
  experiments under the same conditions and drift over minutes cancels. The speed-up is the geometric
  mean of the per-round ratios with a t interval over rounds (round_ratio);
- the idle gate (gate): a reading is quiet when other work's load, CPU and I/O pressure, steal and CPU
  share all stay within their limits (GATE_*);
- the exclusion rule, fixed before any round is timed (excluded_rounds): a round is left out whole when
  the gate found the machine busy just before or just after it, or when other work took more than
  GATE_OTHERS_SHARE of the CPUs during any of its samples; the all-rounds result is stated beside;
- withheld (withheld_reason): fewer than MIN_KEPT_ROUNDS rounds kept ("busy"), or the reference step timed
  at the start and at the end more than DRIFT_LIMIT apart ("drift").
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from scipy import stats

from report_builder.analysis.precision import interval_decimals

SLOWDOWN_LIMIT = 1.25
"""A run whose median epoch exceeds this multiple of its experiment's median run is an unexplained slowdown."""
SPEEDUP_CONFIDENCE = 0.95
"""The coverage of a speed-up's interval."""
MIN_SPREAD_VALUES = 3
"""A standard deviation needs at least this many values: from two it is one difference, not a spread."""

GATE_OTHERS_LOAD_PER_CPU = 0.25
"""Quiet: the 1-minute load average less this process tree's own threads, per CPU, at most this (a quarter
of each core busy with other work on average)."""
GATE_CPU_PRESSURE = 10.0
"""Quiet: PSI cpu "some" at most this percentage over the reading's window, while the phase sleeps (a task
waited for a CPU in ≤ 10% of it; machine_load says why not avg10, which holds the phase's own stalls)."""
GATE_IO_PRESSURE = 10.0
"""Quiet: PSI io "some" at most this percentage over the reading's window."""
GATE_STEAL = 0.05
"""Quiet: the hypervisor stole at most this share of the CPUs over the reading's window."""
GATE_OTHERS_SHARE = 0.10
"""Quiet: other processes used at most this share of the CPUs over the reading's window, or during a sample
(contention.py flags an epoch at the same share)."""
DRIFT_LIMIT = 0.05
"""The reference step timed at the start and at the end of the rounds may differ by at most this fraction."""
MIN_KEPT_ROUNDS = 3
"""A speed claim needs this many rounds left after the exclusion rule: a t interval over two rounds has one
degree of freedom (t = 12.7), which says nothing."""

BUSY, DRIFT = "busy", "drift"


def clean_epoch_seconds(run: dict[str, Any]) -> list[float]:
    """A run's training seconds of the epochs timed on an otherwise idle machine (or where none could tell)."""
    return [e["train_seconds"] for e in run["epochs"] if not e.get("timing_disturbed")]


def clean_run_seconds(run: dict[str, Any]) -> float | None:
    """A run's training plus evaluation seconds, when none of its epochs was disturbed; else None (a total
    from fewer epochs would not be a run's total)."""
    if not run["epochs"] or any(e.get("timing_disturbed") for e in run["epochs"]):
        return None
    return sum(e["train_seconds"] + e["eval_seconds"] for e in run["epochs"])


@dataclass(frozen=True)
class SlowRun:
    """A run flagged as an unexplained slowdown."""

    seed: int
    median_seconds: float
    """Its median clean epoch's training seconds."""
    ratio: float
    """That median ÷ the median over its experiment's runs (> SLOWDOWN_LIMIT)."""


def slowed_runs(runs: Iterable[dict[str, Any]]) -> list[SlowRun]:
    """The runs whose median clean epoch exceeds SLOWDOWN_LIMIT × the median of the runs' medians."""
    medians = {run["seed"]: statistics.median(c) for run in runs if (c := clean_epoch_seconds(run))}
    if len(medians) < 2:
        return []
    typical = statistics.median(medians.values())
    if typical <= 0:
        return []
    return [SlowRun(seed, m, m / typical) for seed, m in medians.items() if m > SLOWDOWN_LIMIT * typical]


def spread(values: Sequence[float]) -> float | None:
    """The sample standard deviation, or None from fewer than MIN_SPREAD_VALUES values."""
    return statistics.stdev(values) if len(values) >= MIN_SPREAD_VALUES else None


# ---- the idle gate -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Gate:
    """One reading of the machine (machine_load.read_machine, as the timing file stores it), judged."""

    quiet: bool
    over: tuple[str, ...]
    """The figures over their limits: "load", "cpu_pressure", "io_pressure", "steal", "others_share"."""
    figures: dict[str, float | None]
    """The judged figures (None where the machine could not tell): others' load per CPU, the two
    pressures (%), steal and others' share of the CPUs (0–1)."""


def gate_figures(reading: Mapping[str, Any]) -> dict[str, float | None]:
    """What the gate judges, from one stored reading: its load less `own_threads` (the threads the timing
    runs with, whose recent work the load average still counts) per CPU, never below 0. Load and other
    processes' cores are counted over the whole machine, so they are shared among the machine's CPUs, not
    the few this process may be pinned to (readings stored before machine_cpus existed use `cpus`)."""
    cpus = reading.get("machine_cpus") or reading.get("cpus") or 1
    load = reading.get("load")
    others_load = None if load is None else max(0.0, load - (reading.get("own_threads") or 0)) / cpus
    cores = reading.get("others_cores")
    return {"load": others_load, "cpu_pressure": reading.get("cpu_pressure"),
            "io_pressure": reading.get("io_pressure"), "steal": reading.get("steal_share"),
            "others_share": None if cores is None else cores / cpus}


GATE_LIMITS = {"load": GATE_OTHERS_LOAD_PER_CPU, "cpu_pressure": GATE_CPU_PRESSURE, "io_pressure": GATE_IO_PRESSURE,
               "steal": GATE_STEAL, "others_share": GATE_OTHERS_SHARE}
"""Each judged figure's limit; a figure the machine cannot give (None) does not count against it."""


def gate(reading: Mapping[str, Any]) -> Gate:
    """Quiet when every figure this machine can give is within its limit (GATE_LIMITS)."""
    figures = gate_figures(reading)
    over = tuple(name for name, limit in GATE_LIMITS.items() if figures[name] is not None and figures[name] > limit)
    return Gate(quiet=not over, over=over, figures=figures)


# ---- which rounds count ----------------------------------------------------------------------------------

def round_excluded(timing_round: Mapping[str, Any]) -> bool:
    """The exclusion rule, for one stored round: busy before or after it, or during any of its samples."""
    readings = [timing_round.get("before"), timing_round.get("after")]
    if any(r is not None and not gate(r).quiet for r in readings):
        return True
    shares = [s.get("others_share") for s in timing_round.get("samples", {}).values()]
    return any(share is not None and share > GATE_OTHERS_SHARE for share in shares)


def excluded_rounds(rounds: Sequence[Mapping[str, Any]]) -> list[int]:
    """The numbers of the rounds the exclusion rule leaves out, whole."""
    return [r["round"] for r in rounds if round_excluded(r)]


# ---- speed-ups over rounds ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class RoundRatio:
    """How many times more seconds per epoch one experiment took than another, paired by round."""

    estimate: float
    """The geometric mean of the per-round ratios (slow ÷ fast)."""
    low: float | None
    """Lower end of the SPEEDUP_CONFIDENCE t interval over rounds; None from one round."""
    high: float | None
    rounds: int
    """How many rounds it summarises."""

    @property
    def confidence(self) -> float:
        return SPEEDUP_CONFIDENCE

    @property
    def decimals(self) -> int:
        """Decimals it is printed with: as many as its interval tells apart (precision.interval_decimals)."""
        return interval_decimals(self.low, self.high)


def round_ratio(fast: Sequence[float | None], slow: Sequence[float | None]) -> RoundRatio | None:
    """`slow` ÷ `fast`, round by round (the i-th values were timed in the same round): exp of the mean log
    ratio, with the t interval on the mean log ratio over rounds (scipy.stats); a round missing either
    value is left out; None without any round."""
    logs = [math.log(s / f) for f, s in zip(fast, slow) if f is not None and s is not None and f > 0 and s > 0]
    if not logs:
        return None
    mean = statistics.fmean(logs)
    if len(logs) < 2:
        return RoundRatio(math.exp(mean), None, None, 1)
    if max(logs) == min(logs):  # every round gave the same ratio: scipy's interval would be nan
        return RoundRatio(math.exp(mean), math.exp(mean), math.exp(mean), len(logs))
    low, high = stats.ttest_1samp(logs, 0.0).confidence_interval(SPEEDUP_CONFIDENCE)
    return RoundRatio(math.exp(mean), math.exp(low), math.exp(high), len(logs))


def drift(start: Sequence[float], end: Sequence[float]) -> float | None:
    """How far the reference step moved from the start of the rounds to their end: |median end − median
    start| ÷ median start; None where either end was not timed."""
    if not start or not end or statistics.median(start) <= 0:
        return None
    return abs(statistics.median(end) - statistics.median(start)) / statistics.median(start)


def samples_drift(samples: dict[str, list[dict]]) -> float | None:
    """drift over the reference step's seconds per step, from a timing file's {"start": [SAMPLE, …], "end": […]}."""
    return drift([s["wall_seconds"] / s["steps"] for s in samples.get("start", [])],
                 [s["wall_seconds"] / s["steps"] for s in samples.get("end", [])])


def withheld_reason(kept_rounds: int, moved: float | None) -> str | None:
    """Why a speed claim is withheld: BUSY (fewer than MIN_KEPT_ROUNDS rounds kept), DRIFT (the reference
    step moved more than DRIFT_LIMIT), or None: it may be stated."""
    if kept_rounds < MIN_KEPT_ROUNDS:
        return BUSY
    if moved is not None and moved > DRIFT_LIMIT:
        return DRIFT
    return None


def busy_figures(readings: Sequence[Mapping[str, Any]]) -> dict[str, float | None]:
    """The median of each gate figure over the stored readings: what the report names to show a busy machine."""
    figures = [gate_figures(r) for r in readings]
    return {name: (statistics.median(values) if (values := [f[name] for f in figures if f[name] is not None]) else None)
            for name in GATE_LIMITS}
