"""What a design of n seeds can detect, and how many seeds a margin needs.

A comparison of two experiments over the seeds they share is a paired t-test, two-sided, at
statistics.LEVEL. Its power against a true difference δ follows the noncentral t distribution with n − 1
degrees of freedom and noncentrality δ·√n / σ, where σ is the standard deviation of the per-seed
differences (estimated from earlier results). "Detectable" means detected with probability POWER.
"""

from __future__ import annotations

import math

from scipy import optimize, stats

from report_builder.analysis.statistics import LEVEL

POWER = 0.8
"""The power at which a difference counts as detectable, as the report states it."""

MAX_SEEDS = 10_000
"""Beyond this many seeds the answer is "more than we would ever train"; seeds_needed returns None."""


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

    None with fewer than two seeds (no test at all); 0 when the differences have no spread.
    """
    if n < 2 or not math.isfinite(sd):
        return None
    if sd == 0.0:
        return 0.0
    # power() rises with delta from alpha (at 0) towards 1; bracket the root, then solve.
    high = sd
    while power(high, sd, n, alpha) < target:
        high *= 2.0
    return float(optimize.brentq(lambda d: power(d, sd, n, alpha) - target, 0.0, high, xtol=sd * 1e-9))


def seeds_needed(sd: float, margin: float, alpha: float = LEVEL, target: float = POWER) -> int | None:
    """The fewest seeds with which a paired test detects a true difference of `margin` with probability `target`.

    None when no number of seeds up to MAX_SEEDS does.
    """
    if margin <= 0.0 or not math.isfinite(sd):
        return None
    if sd == 0.0:
        return 2
    n = 2
    while power(margin, sd, n, alpha) < target:
        n += 1 if n < 64 else n // 8
        if n > MAX_SEEDS:
            return None
    # The coarse steps above 64 may overshoot: walk back to the fewest that still suffice.
    while n > 2 and power(margin, sd, n - 1, alpha) >= target:
        n -= 1
    return n
