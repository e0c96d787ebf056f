"""The statistical rules the report states, one pure function each; the distributions come from scipy.stats.

- difference: a − b over seeds. Runs with the same seed share initial weights and batch order, so where
  both experiments trained with at least two common seeds the test is the paired t-test on the per-seed
  differences; Welch's unequal-variance t-test only where they share fewer. Two-sided, with a 95% CI.
- holm: Holm's step-down adjustment of a family of p-values (family-wise error at most LEVEL).
- prediction_interval: where one more run of a recipe lands with 95% probability,
  mean ± t(0.975, n − 1) · SD · √(1 + 1/n).
- equivalence: two one-sided tests (TOST) that one new run's expected value is within ± margin of ours.
- one_sample: a mean over runs against a fixed value (chance accuracy), two-sided t with its 95% CI.
- binomial_se: the standard error that sampling a test set of n images puts on one run's accuracy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy import stats

LEVEL = 0.05
"""The significance level of every test the report states (two-sided), and 1 − the confidence of its CIs."""

PAIRED, WELCH = "paired t-test", "Welch's t-test"
"""Test names as the report prints them."""

_DECIMALS = 12
"""Per-seed differences are rounded to this many decimals before testing: accuracies are multiples of
1/10,000, and float noise in a constant difference must not read as a (tiny) spread."""


@dataclass(frozen=True)
class Difference:
    """a − b over seeds: the estimate, its 95% CI, the test and its p (all in the values' own unit)."""

    delta: float
    """Mean of a minus mean of b (over the shared seeds for the paired test; over all runs for Welch's)."""
    seeds: tuple[int, ...]
    """The seeds compared: those both trained with (paired), or every seed of either (Welch's)."""
    p_value: float | None
    """Two-sided p of `test`; None with too few runs for any test."""
    low: float | None = None
    """Lower end of the 95% confidence interval of delta; None where p_value is."""
    high: float | None = None
    test: str | None = None
    """PAIRED, WELCH, or None (no test)."""
    sd: float | None = None
    """Sample SD of the per-seed differences (paired only): what power.detectable_difference needs."""
    wins: int | None = None
    """Seeds on which a was above b (paired only): "ahead on wins of n seeds"."""

    @property
    def n(self) -> int:
        return len(self.seeds)

    @property
    def beyond_noise(self) -> bool | None:
        """Unadjusted: p < LEVEL; None: cannot tell. Claims in a family use their Holm-adjusted p instead."""
        return None if self.p_value is None else self.p_value < LEVEL


def paired_difference(seeds: Sequence[int], xs: Sequence[float], ys: Sequence[float]) -> Difference:
    """x − y as the paired t-test on per-seed differences (scipy.stats.ttest_rel); no test below two pairs."""
    diffs = np.round(np.asarray(xs, float) - np.asarray(ys, float), _DECIMALS)
    delta = float(diffs.mean())
    wins = int((diffs > 0).sum())
    if len(diffs) < 2:
        return Difference(delta=delta, seeds=tuple(seeds), p_value=None, wins=wins)
    sd = float(diffs.std(ddof=1))
    if sd == 0.0:
        # Every seed moved by exactly the same amount: no spread for t to scale by.
        return Difference(delta=delta, seeds=tuple(seeds), p_value=0.0 if delta else 1.0, low=delta, high=delta,
                          test=PAIRED, sd=0.0, wins=wins)
    result = stats.ttest_rel(xs, ys)
    ci = result.confidence_interval(1 - LEVEL)
    return Difference(delta=delta, seeds=tuple(seeds), p_value=float(result.pvalue), low=float(ci.low),
                      high=float(ci.high), test=PAIRED, sd=sd, wins=wins)


def welch_difference(seeds: Sequence[int], xs: Sequence[float], ys: Sequence[float]) -> Difference:
    """x − y by Welch's t-test (scipy.stats.ttest_ind, equal_var=False); no test with fewer than two of either."""
    delta = float(np.mean(xs) - np.mean(ys))
    if len(xs) < 2 or len(ys) < 2:
        return Difference(delta=delta, seeds=tuple(seeds), p_value=None)
    if np.std(xs) == 0.0 and np.std(ys) == 0.0:
        return Difference(delta=delta, seeds=tuple(seeds), p_value=0.0 if delta else 1.0, low=delta, high=delta,
                          test=WELCH)
    result = stats.ttest_ind(xs, ys, equal_var=False)
    ci = result.confidence_interval(1 - LEVEL)
    return Difference(delta=delta, seeds=tuple(seeds), p_value=float(result.pvalue), low=float(ci.low),
                      high=float(ci.high), test=WELCH)


def difference(a: dict[int, float | None], b: dict[int, float | None]) -> Difference | None:
    """a − b from per-seed values ({seed: value}): paired over the seeds both have a finite value for when they
    share at least two, else Welch's over every finite value; None when either side has none."""
    a = {s: v for s, v in a.items() if _finite(v)}
    b = {s: v for s, v in b.items() if _finite(v)}
    if not a or not b:
        return None
    shared = sorted(s for s in a if s in b)
    if len(shared) >= 2 or (shared and (len(a) < 2 or len(b) < 2)):
        return paired_difference(shared, [a[s] for s in shared], [b[s] for s in shared])
    if len(a) < 2 or len(b) < 2:
        return None
    return welch_difference(sorted(set(a) | set(b)), [a[s] for s in sorted(a)], [b[s] for s in sorted(b)])


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the order given: the i-th smallest p is multiplied by (m − i + 1),
    each kept at least as large as the one before it, at most 1. Rejecting adjusted p < LEVEL keeps the chance
    of any false "beyond noise" in the family at most LEVEL."""
    m = len(p_values)
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(sorted(range(m), key=lambda i: p_values[i])):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


@dataclass(frozen=True)
class Interval:
    """A mean over n runs with an interval around it (prediction interval or CI)."""

    mean: float
    low: float
    high: float
    n: int


def prediction_interval(values: Sequence[float]) -> Interval | None:
    """Where one more run lands with probability 1 − LEVEL: mean ± t(1 − LEVEL/2, n − 1) · SD · √(1 + 1/n).
    None with fewer than two values (no SD)."""
    n = len(values)
    if n < 2:
        return None
    mean, sd = float(np.mean(values)), float(np.std(values, ddof=1))
    half = float(stats.t.ppf(1 - LEVEL / 2, n - 1)) * sd * math.sqrt(1 + 1 / n)
    return Interval(mean=mean, low=mean - half, high=mean + half, n=n)


def equivalence(values: Sequence[float], reference: float, margin: float) -> float | None:
    """TOST p that one more run's expected value lies within reference ± margin of our mean — i.e. that the
    reference, itself one run, is equivalent to our recipe. The larger of two one-sided t-tests, each with
    standard error SD · √(1 + 1/n) (our mean's uncertainty plus one run's) and n − 1 degrees of freedom.
    Equivalent when p < LEVEL. None with fewer than two values."""
    n = len(values)
    if n < 2:
        return None
    gap = float(np.mean(values)) - reference
    se = float(np.std(values, ddof=1)) * math.sqrt(1 + 1 / n)
    if se == 0.0:
        return 0.0 if abs(gap) < margin else 1.0
    above_low = stats.t.sf((gap + margin) / se, n - 1)   # H0: gap ≤ −margin
    below_high = stats.t.cdf((gap - margin) / se, n - 1)  # H0: gap ≥ +margin
    return float(max(above_low, below_high))


def equivalence_normal(gap: float, se: float, margin: float) -> float:
    """TOST p for a gap with a known standard error (normal, not t): for one run against one run, whose only
    known uncertainty is test-set sampling (binomial_se)."""
    if se == 0.0:
        return 0.0 if abs(gap) < margin else 1.0
    return float(max(stats.norm.sf((gap + margin) / se), stats.norm.cdf((gap - margin) / se)))


@dataclass(frozen=True)
class OneSample:
    """A mean over runs against a fixed value: two-sided one-sample t-test and the mean's 95% CI."""

    mean: float
    low: float
    high: float
    p_value: float
    n: int

    @property
    def distinguishable(self) -> bool:
        return self.p_value < LEVEL


def one_sample(values: Sequence[float], value: float) -> OneSample | None:
    """scipy.stats.ttest_1samp of values against `value`; None with fewer than two values or no spread."""
    if len(values) < 2 or np.std(values) == 0.0:
        return None
    result = stats.ttest_1samp(values, value)
    ci = result.confidence_interval(1 - LEVEL)
    return OneSample(mean=float(np.mean(values)), low=float(ci.low), high=float(ci.high),
                     p_value=float(result.pvalue), n=len(values))


def binomial_se(accuracy: float, test_examples: int) -> float:
    """Standard error of one run's accuracy from sampling `test_examples` test images: √(p(1 − p)/n)."""
    return math.sqrt(accuracy * (1 - accuracy) / test_examples)


def normal_quantile() -> float:
    """z(1 − LEVEL/2): the multiplier of a 95% interval with a known standard error."""
    return float(stats.norm.ppf(1 - LEVEL / 2))


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)
