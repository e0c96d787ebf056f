"""Is a difference between two experiments larger than the seed-to-seed spread?

The rule the report states: Welch's t-test (unequal variances), two-sided, at the 5% level, over the
seeds the two experiments share (both trained with those seeds, so like is compared with like). With
fewer than two shared seeds there is no estimate of seed noise, and the report says so instead.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

LEVEL = 0.05
"""The test's significance level, as the report states it."""


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz; Numerical Recipes §6.4)."""
    tiny, eps = 1e-300, 1e-15
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    result = d
    for m in range(1, 300):
        m2 = 2 * m
        for numerator in (m * (b - m) * x / ((a + m2 - 1) * (a + m2)),
                          -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1))):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            result *= d * c
        if abs(d * c - 1.0) < eps:
            break
    return result


def incomplete_beta(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def t_two_sided_p(t: float, df: float) -> float:
    """P(|T| ≥ |t|) for Student's t with df degrees of freedom."""
    if math.isinf(t):
        return 0.0
    return incomplete_beta(df / 2.0, 0.5, df / (df + t * t))


@dataclass(frozen=True)
class Difference:
    """a − b over the seeds both have: the mean difference and whether it exceeds seed noise."""

    delta: float
    """Mean of a minus mean of b, over the shared seeds."""
    seeds: tuple[int, ...]
    """The seeds compared (both experiments trained with each)."""
    p_value: float | None
    """Welch's two-sided p; None with fewer than two shared seeds."""

    @property
    def n(self) -> int:
        return len(self.seeds)

    @property
    def beyond_noise(self) -> bool | None:
        """True: larger than the seed-to-seed spread (p < LEVEL); False: within it; None: cannot tell."""
        return None if self.p_value is None else self.p_value < LEVEL


def welch_p(a: list[float], b: list[float]) -> float | None:
    """Welch's t-test, two-sided; None when either side has fewer than two values."""
    if len(a) < 2 or len(b) < 2:
        return None
    va, vb = statistics.variance(a) / len(a), statistics.variance(b) / len(b)
    delta = statistics.fmean(a) - statistics.fmean(b)
    if va + vb == 0.0:
        return 1.0 if delta == 0.0 else 0.0
    t = delta / math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    return t_two_sided_p(t, df)


def difference(a: dict[int, float | None], b: dict[int, float | None]) -> Difference | None:
    """a − b from per-seed values ({seed: value}), over the seeds both have a finite value for."""
    seeds = tuple(sorted(s for s in a if s in b and _finite(a[s]) and _finite(b[s])))
    if not seeds:
        return None
    xs, ys = [a[s] for s in seeds], [b[s] for s in seeds]
    return Difference(delta=statistics.fmean(xs) - statistics.fmean(ys), seeds=seeds, p_value=welch_p(xs, ys))


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)
