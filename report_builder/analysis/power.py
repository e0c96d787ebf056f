"""What a design of n seeds can detect, and how many seeds a margin needs.

A comparison of two experiments over the seeds they share is a paired t-test, two-sided. Its power against a
true difference δ follows the noncentral t distribution with n − 1 degrees of freedom and noncentrality
δ·√n / σ, where σ is the standard deviation of the per-seed differences. "Detectable" means detected with
probability POWER, at the level the comparison faces (Holm's strictest, LEVEL ÷ the family's size).

σ is planned, not taken from each pair's own few seeds (whose SD is itself uncertain by a factor of several):
planning_sd pools every experiment of a family over its seeds, so that comparisons of one design state one
detectable difference, and `plan` and the report state the same one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
from scipy import optimize, stats

from report_builder.analysis.statistics import LEVEL, MIN_SEEDS

POWER = 0.8
"""The power at which a difference counts as detectable, as the report states it."""

MAX_SEEDS = 100
"""Beyond this many seeds the answer is "more than we would ever train": seeds_needed returns None, and the
report says "more than 100"."""


@dataclass(frozen=True)
class PlanningSD:
    """The seed-to-seed SD a family's comparisons are planned with."""

    pooled: float
    """The pooled SD of a final accuracy over seeds, within each experiment: √(Σ (nᵢ − 1) sᵢ² / Σ (nᵢ − 1))."""
    df: int
    """Its degrees of freedom, Σ (nᵢ − 1) over the experiments pooled."""
    experiments: int

    @property
    def difference(self) -> float:
        """The SD of a per-seed difference of two experiments: √2 × pooled, as if the two runs of a seed varied
        independently (pairing by seed can only make it smaller: the plan errs cautious)."""
        return math.sqrt(2) * self.pooled


def planning_sd(samples: Iterable[Sequence[float]]) -> PlanningSD | None:
    """The pooled within-experiment SD over `samples` (each one experiment's values over its seeds); experiments
    with one value add nothing. None without a degree of freedom."""
    usable = [np.asarray(s, float) for s in samples if len(s) >= 2]
    df = sum(len(s) - 1 for s in usable)
    if df == 0:
        return None
    pooled = math.sqrt(sum(float(np.var(s, ddof=1)) * (len(s) - 1) for s in usable) / df)
    return PlanningSD(pooled=pooled, df=df, experiments=len(usable))


def power(delta: float, sd: float, n: int, alpha: float = LEVEL) -> float:
    """Probability that a paired two-sided t-test over n seeds rejects at alpha when the true difference is delta."""
    if n < 2:
        return 0.0
    if sd == 0.0:
        return 1.0 if delta != 0.0 else alpha
    df = n - 1
    critical = stats.t.ppf(1.0 - alpha / 2.0, df)
    noncentrality = abs(delta) * math.sqrt(n) / sd
    # The lower tail P(T < −c) is taken as P(T > c) at noncentrality −δ (the same number, T(−δ) = −T(δ)):
    # scipy's nct.cdf far in that tail returns NaN for some δ (df 1, δ√n/σ = 80), nct.sf does not.
    return float(stats.nct.sf(critical, df, noncentrality) + stats.nct.sf(critical, df, -noncentrality))


def detectable_difference(sd: float, n: int, alpha: float = LEVEL, target: float = POWER) -> float | None:
    """The smallest true difference a paired test over n seeds detects with probability `target`.

    None below statistics.MIN_SEEDS seeds (no test is made); 0 when the differences have no spread.
    """
    if n < MIN_SEEDS or not math.isfinite(sd):
        return None
    if sd == 0.0:
        return 0.0
    # power() rises with delta from alpha (at 0) towards 1; bracket the root, then solve.
    high = sd
    while power(high, sd, n, alpha) < target:
        high *= 2.0
    return float(optimize.brentq(lambda d: power(d, sd, n, alpha) - target, 0.0, high, xtol=sd * 1e-9))


def seeds_needed(sd: float, margin: float, alpha: float = LEVEL, target: float = POWER) -> int | None:
    """The fewest seeds (at least statistics.MIN_SEEDS) with which a paired test detects a true difference of
    `margin` with probability `target`. None when no number up to MAX_SEEDS does."""
    if margin <= 0.0 or not math.isfinite(sd):
        return None
    if sd == 0.0:
        return MIN_SEEDS
    n = MIN_SEEDS
    while power(margin, sd, n, alpha) < target:
        n += 1
        if n > MAX_SEEDS:
            return None
    return n
