"""The numbers the Methods section states: level, power, the family and its size, the seeds behind it, what a
rank test could reach with them, the prediction-interval multiplier and test-set sampling error."""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass

from scipy import stats

from report_builder.config.reference import Reference
from report_builder.analysis import power
from report_builder.analysis.views import ExperimentView
from report_builder.findings.claims import MARGIN, Claim, power_level
from report_builder.analysis.reproduction import TEST_EXAMPLES
from report_builder.analysis.statistics import LEVEL, binomial_se


@dataclass(frozen=True)
class Methods:
    level: float
    power: float
    margin_points: float
    """claims.MARGIN in points: the difference for which seeds_needed is stated."""
    family_size: int
    """Claims with a test (Holm's m)."""
    tests: tuple[str, ...]
    """The tests the family used (statistics.PAIRED, statistics.WELCH)."""
    seeds: int | None
    """The most common number of runs per compared experiment (None without a tested claim)."""
    rank_p_unpaired: float | None
    """The smallest two-sided p a Mann–Whitney test can give with `seeds` against `seeds` runs."""
    rank_p_paired: float | None
    """The smallest two-sided p a Wilcoxon signed-rank test can give with `seeds` pairs."""
    detectable_points: tuple[float, float] | None
    """(smallest, largest) detectable difference over the family's paired claims, in points."""
    typical_sd_points: float | None
    """The median SD of per-seed differences over the paired claims, in points."""
    seeds_for_margin: int | None
    """Seeds a paired comparison needs to detect margin_points at typical_sd_points."""
    interval_multiplier: float | None
    """t(1 − LEVEL/2, seeds − 1): the prediction interval's multiplier of SD · √(1 + 1/n)."""
    test_examples: int
    accuracy: float | None
    """The median final test accuracy of the experiments, where binomial_se_points is evaluated."""
    binomial_se_points: float | None
    """One run's standard error from sampling test_examples images at that accuracy, in points."""
    tolerance_points: float | None
    """The reference's equivalence margin ([reference] tolerance_points); None without a reference."""


def methods(claims: list[Claim], views: list[ExperimentView], reference: Reference | None) -> Methods:
    tested = [c for c in claims if c.p_adjusted is not None]
    seeds = Counter(c.difference.n for c in tested).most_common(1)[0][0] if tested else None
    rank_unpaired = rank_paired = multiplier = None
    if seeds is not None and seeds >= 2:
        # The most extreme outcomes possible: every run of one side above every run of the other, every pair
        # the same way round. No data can give a smaller p with these rank tests.
        rank_unpaired = float(stats.mannwhitneyu(range(seeds, 2 * seeds), range(seeds), method="exact").pvalue)
        rank_paired = float(stats.wilcoxon(range(1, seeds + 1), method="exact").pvalue)
        multiplier = float(stats.t.ppf(1 - LEVEL / 2, seeds - 1))
    paired = [c for c in tested if c.detectable is not None]
    detectable = typical = needed = None
    if paired:
        detectable = (100 * min(c.detectable for c in paired), 100 * max(c.detectable for c in paired))
        sd = statistics.median(c.difference.sd for c in paired)
        typical, needed = 100 * sd, power.seeds_needed(sd, MARGIN, alpha=power_level(len(tested)))
    finals = [v.final.test_accuracy.mean for v in views if v.final and v.final.test_accuracy]
    accuracy = statistics.median(finals) if finals else None
    n_test = next((v.provenance["test_examples"] for v in views if v.provenance.get("test_examples")), TEST_EXAMPLES)
    return Methods(level=LEVEL, power=power.POWER, margin_points=100 * MARGIN, family_size=len(tested),
                   tests=tuple(sorted({c.difference.test for c in tested})), seeds=seeds,
                   rank_p_unpaired=rank_unpaired, rank_p_paired=rank_paired, detectable_points=detectable,
                   typical_sd_points=typical, seeds_for_margin=needed, interval_multiplier=multiplier,
                   test_examples=n_test, accuracy=accuracy,
                   binomial_se_points=None if accuracy is None else 100 * binomial_se(accuracy, n_test),
                   tolerance_points=None if reference is None else reference.tolerance_points)
