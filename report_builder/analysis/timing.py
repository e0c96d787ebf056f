"""Which timed epochs and runs a speed comparison may use, and how sure a speed-up is.

The rules the report states about seconds, each once:
- an epoch timed while other work loaded the machine (`timing_disturbed`) is left out of every mean and
  total of time (clean_epoch_seconds, clean_run_seconds);
- a run whose median clean epoch took more than SLOWDOWN_LIMIT times its experiment's median run is an
  "unexplained slowdown" (nothing the detector saw accounts for it) and is left out of speed
  comparisons (slowed_runs);
- a speed-up is the ratio of the two experiments' geometric mean seconds per epoch over runs, with a 95%
  interval from Welch's t interval on the difference of mean log times (speedup_interval): times are
  positive and their spread grows with them, so they are compared as ratios, on a log scale. Runs are
  not paired by seed: a seed decides what a run computes, not how long it takes.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any, Iterable

from scipy import stats

SLOWDOWN_LIMIT = 1.25
"""A run whose median epoch exceeds this multiple of its experiment's median run is an unexplained slowdown."""
SPEEDUP_CONFIDENCE = 0.95
"""The coverage of a speed-up's interval."""


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


@dataclass(frozen=True)
class SpeedUp:
    """How many times fewer seconds per epoch one experiment took than another, with its interval."""

    estimate: float
    """Ratio of geometric means over runs: the other's ÷ this one's (> 1: this one is faster)."""
    low: float | None
    """Lower end of the SPEEDUP_CONFIDENCE interval; None with fewer than two runs on either side."""
    high: float | None
    n: tuple[int, int]
    """Runs behind each side: (this one's, the other's)."""

    @property
    def confidence(self) -> float:
        return SPEEDUP_CONFIDENCE


def speedup_interval(fast: list[float], slow: list[float]) -> SpeedUp | None:
    """How many times faster `fast` is than `slow`, from each run's mean seconds per epoch: exp of the
    difference of mean log times, with Welch's t interval on that difference; None when a side is empty."""
    if not fast or not slow or min(fast + slow) <= 0:
        return None
    a, b = [math.log(x) for x in fast], [math.log(x) for x in slow]
    delta = statistics.fmean(b) - statistics.fmean(a)
    if len(a) < 2 or len(b) < 2:
        return SpeedUp(math.exp(delta), None, None, (len(a), len(b)))
    va, vb = statistics.variance(a) / len(a), statistics.variance(b) / len(b)
    if va + vb == 0.0:
        return SpeedUp(math.exp(delta), math.exp(delta), math.exp(delta), (len(a), len(b)))
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    half = stats.t.ppf(0.5 + SPEEDUP_CONFIDENCE / 2, df) * math.sqrt(va + vb)
    return SpeedUp(math.exp(delta), math.exp(delta - half), math.exp(delta + half), (len(a), len(b)))
