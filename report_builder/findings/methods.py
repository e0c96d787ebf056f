"""The numbers the Methods section states: level, power, the families and their sizes, the seeds behind them,
the planning SD of each family and what it can detect, what a rank test could reach, the prediction-interval
multiplier, test-set sampling error and which intervals cover the test images too."""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass

from scipy import stats

from report_builder.analysis import power
from report_builder.analysis.reproduction import TEST_EXAMPLES, Reproduction
from report_builder.analysis.statistics import LEVEL, MIN_SEEDS, binomial_se
from report_builder.analysis.views import ExperimentView
from report_builder.config.reference import Reference
from report_builder.findings.claims import MARGIN, Claim, power_level


@dataclass(frozen=True)
class FamilyPlan:
    """One family of claims: its size and what its design detects, from its planning SD."""

    name: str
    """"group:NAME" or "report"."""
    size: int
    """Its tests (Holm's m)."""
    seeds: int | None
    """The most common number of seeds its comparisons pair."""
    sd_points: float | None
    """The planning SD of a per-seed difference, in points (√2 × pooled)."""
    pooled_points: float | None
    """The pooled SD of one experiment's final accuracy over seeds, in points."""
    df: int | None
    """The pooled SD's degrees of freedom."""
    experiments: int
    """The experiments pooled."""
    detectable_points: float | None
    """What a comparison of `seeds` seeds detects with power.POWER at LEVEL ÷ size, in points."""
    seeds_for_margin: int | None
    """Seeds a comparison needs to detect Methods.margin_points; None: more than power.MAX_SEEDS."""


@dataclass(frozen=True)
class Methods:
    level: float
    power: float
    margin_points: float
    """claims.MARGIN in points: the difference for which seeds_for_margin is stated."""
    family_choice: str
    """[report] family: "question" or "report"."""
    family_size: int
    """Claims with a test, over all families."""
    families: tuple[FamilyPlan, ...]
    """Each family of claims with a test, in the report's order."""
    min_seeds: int
    """statistics.MIN_SEEDS: below it a difference is not tested."""
    max_seeds: int
    """power.MAX_SEEDS: "more than" this many seeds is said in words."""
    tests: tuple[str, ...]
    """The tests the family used (statistics.PAIRED, statistics.WELCH)."""
    seeds: int | None
    """The most common number of runs per compared experiment (None without a tested claim)."""
    rank_p_unpaired: float | None
    """The smallest two-sided p a Mann–Whitney test can give with `seeds` against `seeds` runs."""
    rank_p_paired: float | None
    """The smallest two-sided p a Wilcoxon signed-rank test can give with `seeds` pairs."""
    detectable_points: tuple[float, float] | None
    """(smallest, largest) detectable difference over the families, in points."""
    interval_multiplier: float | None
    """t(1 − LEVEL/2, seeds − 1): the prediction interval's multiplier of SD · √(1 + 1/n)."""
    test_examples: int
    accuracy: float | None
    """The median final test accuracy of the experiments, where binomial_se_points is evaluated."""
    binomial_se_points: float | None
    """One run's standard error from sampling test_examples images at that accuracy, in points."""
    tolerance_points: float | None
    """The reference's equivalence margin ([reference] tolerance_points); None without a reference."""
    with_predictions: int = 0
    """Tested claims whose both sides stored per-image predictions (they get the seeds-and-images interval)."""
    without_predictions: int = 0
    """Tested claims without them: their only interval covers seeds."""
    reproduction_size: int = 0
    """The reproduction family's size (experiments with a test against the reference)."""


def _plan(name: str, claims: list[Claim]) -> FamilyPlan:
    seeds = Counter(c.difference.n for c in claims).most_common(1)[0][0]
    planning = claims[0].planning
    if planning is None or seeds < MIN_SEEDS:
        return FamilyPlan(name, len(claims), seeds, None, None, None, 0, None, None)
    alpha, sd = power_level(len(claims)), planning.difference
    detectable = power.detectable_difference(sd, seeds, alpha)
    return FamilyPlan(name, len(claims), seeds, 100 * sd, 100 * planning.pooled, planning.df, planning.experiments,
                      None if detectable is None else 100 * detectable, power.seeds_needed(sd, MARGIN, alpha=alpha))


def methods(claims: list[Claim], views: list[ExperimentView], reference: Reference | None,
            family_choice: str = "question", found: list[Reproduction] = ()) -> Methods:
    tested = [c for c in claims if c.p_adjusted is not None]
    seeds = Counter(c.difference.n for c in tested).most_common(1)[0][0] if tested else None
    rank_unpaired = rank_paired = multiplier = None
    if seeds is not None and seeds >= MIN_SEEDS:
        # The most extreme outcomes possible: every run of one side above every run of the other, every pair
        # the same way round. No data can give a smaller p with these rank tests.
        rank_unpaired = float(stats.mannwhitneyu(range(seeds, 2 * seeds), range(seeds), method="exact").pvalue)
        rank_paired = float(stats.wilcoxon(range(1, seeds + 1), method="exact").pvalue)
        multiplier = float(stats.t.ppf(1 - LEVEL / 2, seeds - 1))
    by_family: dict[str, list[Claim]] = {}
    for c in tested:
        by_family.setdefault(c.family, []).append(c)
    plans = tuple(_plan(name, members) for name, members in by_family.items())
    detectable = [p.detectable_points for p in plans if p.detectable_points is not None]
    finals = [v.final.test_accuracy.mean for v in views if v.final and v.final.test_accuracy]
    accuracy = statistics.median(finals) if finals else None
    n_test = next((v.provenance["test_examples"] for v in views if v.provenance.get("test_examples")), TEST_EXAMPLES)
    with_predictions = sum(1 for c in tested if c.test_set is not None and c.test_set.interval is not None)
    return Methods(level=LEVEL, power=power.POWER, margin_points=100 * MARGIN, family_choice=family_choice,
                   family_size=len(tested), families=plans, min_seeds=MIN_SEEDS, max_seeds=power.MAX_SEEDS,
                   tests=tuple(sorted({c.difference.test for c in tested})), seeds=seeds,
                   rank_p_unpaired=rank_unpaired, rank_p_paired=rank_paired,
                   detectable_points=(min(detectable), max(detectable)) if detectable else None,
                   interval_multiplier=multiplier, test_examples=n_test, accuracy=accuracy,
                   binomial_se_points=None if accuracy is None else 100 * binomial_se(accuracy, n_test),
                   tolerance_points=None if reference is None else reference.tolerance_points,
                   with_predictions=with_predictions, without_predictions=len(tested) - with_predictions,
                   reproduction_size=max((r.family_size for r in found), default=0))
