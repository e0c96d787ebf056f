"""The statistical rules the report states, one pure function each; the distributions come from scipy.stats.

- difference: a − b over seeds. Runs with the same seed share initial weights and batch order, so where
  both experiments trained with at least MIN_SEEDS common seeds the test is the paired t-test on the per-seed
  differences; Welch's unequal-variance t-test where each has MIN_SEEDS runs but they share fewer seeds;
  below that the estimate alone (no test: "untestable"). Two-sided, with a 95% CI.
- holm: Holm's step-down adjustment of a family of p-values (family-wise error at most LEVEL).
- prediction_interval: where one more run of a recipe lands with 95% probability,
  mean ± t(0.975, n − 1) · SD · √(1 + 1/n); prediction_p: the matching two-sided p of one given value.
- equivalence: two one-sided tests (TOST) that one new run's expected value is within ± margin of ours.
- one_sample: a mean over runs against a fixed value (chance accuracy), two-sided t with its 95% CI.
- seeds_and_images_interval: a − b's 95% interval when the test images are a sample too (the seeds' t interval
  widened by the images' own error); mcnemar: one run against one run on the same images (exact binomial).
- binomial_se: the standard error that sampling a test set of n images puts on one run's accuracy.
Accuracies' intervals are cut to [0, 1] (ACCURACY_BOUNDS): an interval's coverage is kept when the values it
cannot hold are removed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy import stats

LEVEL = 0.05
"""The significance level of every test the report states (two-sided), and 1 − the confidence of its CIs."""

MIN_SEEDS = 3
"""The fewest runs a side (shared seeds, for the paired test) with which a difference is tested. With two, the
t distribution has one degree of freedom: a 95% interval spans ±12.7 standard errors, the design detects only
differences of many points (some beyond 100) and an accuracy's interval leaves 0–100%."""

ACCURACY_BOUNDS = (0.0, 1.0)
"""Where an accuracy lies: its intervals are cut to this range."""

PAIRED, WELCH = "paired t-test", "Welch's t-test"
"""Test names as the report prints them."""

BEYOND, NOT_AFTER_CORRECTION, WITHIN, UNTESTABLE = (
    "beyond_noise", "not_significant_after_correction", "within_noise", "untestable")
VERDICTS = (BEYOND, NOT_AFTER_CORRECTION, WITHIN, UNTESTABLE)
"""The verdicts on a difference, as claims.json writes them (templates/claims/verdict.txt.j2 words them)."""

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
    se: float | None = None
    """The standard error of delta the test used (None without a test): what the precision of delta follows."""

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
    if sd < 10 ** -_DECIMALS:
        # Every seed moved by exactly the same amount (up to float noise): no spread for t to scale by.
        return Difference(delta=delta, seeds=tuple(seeds), p_value=0.0 if delta else 1.0, low=delta, high=delta,
                          test=PAIRED, sd=0.0, wins=wins, se=0.0)
    result = stats.ttest_rel(xs, ys)
    ci = result.confidence_interval(1 - LEVEL)
    return Difference(delta=delta, seeds=tuple(seeds), p_value=float(result.pvalue), low=float(ci.low),
                      high=float(ci.high), test=PAIRED, sd=sd, wins=wins, se=sd / math.sqrt(len(diffs)))


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
                      high=float(ci.high), test=WELCH,
                      se=math.sqrt(np.var(xs, ddof=1) / len(xs) + np.var(ys, ddof=1) / len(ys)))


def difference(a: dict[int, float | None], b: dict[int, float | None]) -> Difference | None:
    """a − b from per-seed values ({seed: value}): the paired t-test over the seeds both have a finite value for
    when they share at least MIN_SEEDS; else Welch's where each has MIN_SEEDS; else the estimate alone, without
    a test (over the shared seeds where there are any). None when either side has no value."""
    a = {s: v for s, v in a.items() if _finite(v)}
    b = {s: v for s, v in b.items() if _finite(v)}
    if not a or not b:
        return None
    shared = sorted(s for s in a if s in b)
    if len(shared) >= MIN_SEEDS:
        return paired_difference(shared, [a[s] for s in shared], [b[s] for s in shared])
    if len(a) >= MIN_SEEDS and len(b) >= MIN_SEEDS:
        return welch_difference(sorted(set(a) | set(b)), [a[s] for s in sorted(a)], [b[s] for s in sorted(b)])
    if shared:
        d = paired_difference(shared, [a[s] for s in shared], [b[s] for s in shared])
        return Difference(delta=d.delta, seeds=d.seeds, p_value=None, sd=d.sd, wins=d.wins)
    return Difference(delta=float(np.mean(list(a.values())) - np.mean(list(b.values()))),
                      seeds=tuple(sorted(set(a) | set(b))), p_value=None)


def verdict(p_value: float | None, adjusted_p: float | None) -> str:
    """A difference's verdict from its test's p and that p Holm-adjusted over its family:
    UNTESTABLE: no test (fewer than MIN_SEEDS seeds);
    BEYOND: adjusted p < LEVEL — larger than seed noise, with the family's error bounded at LEVEL;
    NOT_AFTER_CORRECTION: p < LEVEL (its 95% CI excludes 0) but adjusted p ≥ LEVEL;
    WITHIN: p ≥ LEVEL (its 95% CI holds 0)."""
    if p_value is None or adjusted_p is None:
        return UNTESTABLE
    if adjusted_p < LEVEL:
        return BEYOND
    return NOT_AFTER_CORRECTION if p_value < LEVEL else WITHIN


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the order given: the i-th smallest p is multiplied by (m − i + 1),
    each kept at least as large as the one before it, at most 1. Rejecting adjusted p < LEVEL keeps the chance
    of any false "beyond noise" in the family at most LEVEL. (scipy.stats has no Holm; its
    false_discovery_control, which bounds a different error, is compared with it in the tests.)"""
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


def bounded(low: float, high: float, bounds: tuple[float, float] | None) -> tuple[float, float]:
    """An interval cut to the values the quantity can take (None: no bounds)."""
    if bounds is None:
        return low, high
    return max(low, bounds[0]), min(high, bounds[1])


def prediction_interval(values: Sequence[float], bounds: tuple[float, float] | None = None) -> Interval | None:
    """Where one more run lands with probability 1 − LEVEL: mean ± t(1 − LEVEL/2, n − 1) · SD · √(1 + 1/n), cut to
    `bounds`. None below MIN_SEEDS values."""
    n = len(values)
    if n < MIN_SEEDS:
        return None
    mean, sd = float(np.mean(values)), float(np.std(values, ddof=1))
    half = float(stats.t.ppf(1 - LEVEL / 2, n - 1)) * sd * math.sqrt(1 + 1 / n)
    low, high = bounded(mean - half, mean + half, bounds)
    return Interval(mean=mean, low=low, high=high, n=n)


def prediction_p(values: Sequence[float], value: float) -> float | None:
    """The two-sided p of `value` as one more run of the recipe behind `values` (the t statistic of the
    prediction interval, n − 1 df): below LEVEL exactly when `value` lies outside the 95% prediction interval.
    None below MIN_SEEDS values."""
    n = len(values)
    if n < MIN_SEEDS:
        return None
    gap = value - float(np.mean(values))
    se = float(np.std(values, ddof=1)) * math.sqrt(1 + 1 / n)
    if se == 0.0:
        return 0.0 if gap else 1.0
    return float(2 * stats.t.sf(abs(gap) / se, n - 1))


def equivalence(values: Sequence[float], reference: float, margin: float) -> float | None:
    """TOST p that one more run's expected value lies within reference ± margin of our mean — i.e. that the
    reference, itself one run, is equivalent to our recipe. The larger of two one-sided t-tests, each with
    standard error SD · √(1 + 1/n) (our mean's uncertainty plus one run's) and n − 1 degrees of freedom.
    Equivalent when p < LEVEL. None below MIN_SEEDS values."""
    n = len(values)
    if n < MIN_SEEDS:
        return None
    gap = float(np.mean(values)) - reference
    se = float(np.std(values, ddof=1)) * math.sqrt(1 + 1 / n)
    if se == 0.0:
        return 0.0 if abs(gap) < margin else 1.0
    above_low = stats.t.sf((gap + margin) / se, n - 1)   # H0: gap ≤ −margin
    below_high = stats.t.cdf((gap - margin) / se, n - 1)  # H0: gap ≥ +margin
    return float(max(above_low, below_high))


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


def one_sample(values: Sequence[float], value: float,
               bounds: tuple[float, float] | None = None) -> OneSample | None:
    """scipy.stats.ttest_1samp of values against `value`, its CI cut to `bounds`; None below MIN_SEEDS values or
    with no spread."""
    if len(values) < MIN_SEEDS or np.std(values) == 0.0:
        return None
    result = stats.ttest_1samp(values, value)
    ci = result.confidence_interval(1 - LEVEL)
    low, high = bounded(float(ci.low), float(ci.high), bounds)
    return OneSample(mean=float(np.mean(values)), low=low, high=high, p_value=float(result.pvalue), n=len(values))


def binomial_se(accuracy: float, test_examples: int) -> float:
    """Standard error of one run's accuracy from sampling `test_examples` test images: √(p(1 − p)/n)."""
    return math.sqrt(accuracy * (1 - accuracy) / test_examples)


@dataclass(frozen=True)
class SeedsAndImages:
    """a − b in accuracy with a 95% interval over both sources of variation: training seeds and test images."""

    delta: float
    low: float
    high: float
    seeds: int
    images: int
    seeds_half: float
    """The half-width the seeds alone give: the paired t interval's, t(1 − LEVEL/2, n − 1) · SD / √n."""
    images_half: float
    """The half-width the test images alone give: z(1 − LEVEL/2) times the standard error of the mean over
    images of each image's difference (averaged over the seeds)."""


def seeds_and_images_interval(a_right: np.ndarray, b_right: np.ndarray) -> SeedsAndImages | None:
    """The 95% interval of a − b's accuracy (a_right, b_right: [seeds, images] booleans, row i of both the same
    seed, column j the same image) when the test images are a sample too: the paired t interval over seeds
    widened by the test images' own 95% half-width, the two half-widths added in quadrature. The images'
    part is the standard error of a mean over N images (scipy.stats.sem), which an image bootstrap estimates too
    (the tests compare it with scipy.stats.bootstrap); the seeds' part keeps Student's t, as three seeds need:
    a bootstrap over three seeds treats them as the whole population and comes out narrower than the t
    interval itself. Always at least as wide as the seeds-only interval. None below MIN_SEEDS seeds."""
    diff = a_right.astype(np.int8) - b_right.astype(np.int8)  # [seeds, images], each −1, 0 or +1
    n, images = diff.shape
    if n < MIN_SEEDS or images < 2:
        return None
    per_seed = diff.mean(axis=1)
    seeds_half = float(stats.t.ppf(1 - LEVEL / 2, n - 1) * stats.sem(per_seed))
    images_half = float(stats.norm.ppf(1 - LEVEL / 2) * stats.sem(diff.mean(axis=0)))
    delta, half = float(per_seed.mean()), math.hypot(seeds_half, images_half)
    return SeedsAndImages(delta=delta, low=delta - half, high=delta + half, seeds=n, images=images,
                          seeds_half=seeds_half, images_half=images_half)


@dataclass(frozen=True)
class McNemar:
    """One run against one run on the same test images: the images only one of them got right, and the exact
    two-sided p that each such image is as likely to favour either (McNemar's exact test)."""

    a_only: int
    """Images a got right and b wrong."""
    b_only: int
    p_value: float


def mcnemar(a_right: np.ndarray, b_right: np.ndarray) -> McNemar:
    """McNemar's exact test of two runs' correctness on the same images: scipy.stats.binomtest of a_only out of
    the discordant images at one half (p = 1 when no image is discordant)."""
    a_only = int(np.sum(a_right & ~b_right))
    b_only = int(np.sum(~a_right & b_right))
    p = 1.0 if a_only + b_only == 0 else float(stats.binomtest(a_only, a_only + b_only, 0.5).pvalue)
    return McNemar(a_only=a_only, b_only=b_only, p_value=p)


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)
