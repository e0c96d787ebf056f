"""What n seeds can detect: the power of the paired t-test, checked against simulation with scipy's own test."""

import numpy as np
import pytest
from scipy import stats

from report_builder.analysis import power
from report_builder.analysis.statistics import LEVEL


def simulated_power(delta: float, sd: float, n: int, trials: int = 40_000) -> float:
    rng = np.random.default_rng(7)
    differences = rng.normal(delta, sd, size=(trials, n))
    return float(np.mean(stats.ttest_1samp(differences, 0.0, axis=1).pvalue < LEVEL))


@pytest.mark.parametrize("n", [3, 5, 10])
def test_a_detectable_difference_is_detected_four_times_in_five(n):
    delta = power.detectable_difference(0.4, n)
    assert simulated_power(delta, 0.4, n) == pytest.approx(power.POWER, abs=0.01)


def test_with_no_difference_the_test_rejects_at_its_level():
    assert power.power(0.0, 0.4, 3) == pytest.approx(LEVEL)
    assert simulated_power(0.0, 0.4, 3) == pytest.approx(LEVEL, abs=0.005)


def test_three_seeds_detect_only_differences_several_times_the_seed_spread():
    # The reading: with 3 seeds a comparison can only detect about 3σ or more.
    assert power.detectable_difference(1.0, 3) > 3.0


@pytest.mark.parametrize("margin, seeds", [(1.0, 4), (0.5, 8)])
def test_seeds_needed_for_a_margin_at_a_spread_of_four_tenths_of_a_point(margin, seeds):
    assert power.seeds_needed(0.4, margin) == seeds


@pytest.mark.parametrize("margin", [0.3, 0.05])
def test_seeds_needed_is_the_fewest_that_suffice(margin):
    n = power.seeds_needed(0.4, margin)
    assert power.power(margin, 0.4, n) >= power.POWER > power.power(margin, 0.4, n - 1)


def test_a_stricter_level_needs_more_seeds():
    assert power.seeds_needed(0.4, 0.5, alpha=0.01) > power.seeds_needed(0.4, 0.5)


def test_one_seed_has_no_test_and_a_zero_margin_no_answer():
    assert power.detectable_difference(0.4, 1) is None
    assert power.seeds_needed(0.4, 0.0) is None
    assert power.detectable_difference(0.0, 3) == 0.0


def test_two_seeds_have_a_finite_detectable_difference_where_the_far_tail_is_tiny():
    # with 2 seeds the noncentrality reaches the far lower tail where scipy's nct.cdf returns NaN
    delta = power.detectable_difference(0.01, 2)
    assert np.isfinite(delta)
    assert power.power(delta, 0.01, 2) == pytest.approx(power.POWER)
