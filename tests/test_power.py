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


@pytest.mark.parametrize("margin", [0.3, 0.15])
def test_seeds_needed_is_the_fewest_that_suffice(margin):
    n = power.seeds_needed(0.4, margin)
    assert power.power(margin, 0.4, n) >= power.POWER > power.power(margin, 0.4, n - 1)


def test_a_stricter_level_needs_more_seeds():
    assert power.seeds_needed(0.4, 0.5, alpha=0.01) > power.seeds_needed(0.4, 0.5)


def test_below_three_seeds_nothing_is_detectable_and_a_zero_margin_has_no_answer():
    assert power.detectable_difference(0.4, 2) is None and power.detectable_difference(0.4, 1) is None
    assert power.detectable_difference(0.4, 3) is not None
    assert power.seeds_needed(0.4, 0.0) is None
    assert power.detectable_difference(0.0, 3) == 0.0


def test_seeds_needed_starts_at_the_three_seed_floor():
    assert power.seeds_needed(0.0, 0.5) == 3 and power.seeds_needed(0.001, 5.0) == 3


@pytest.mark.parametrize("margin, answer", [(0.283, 100), (0.282, None)])
def test_more_than_a_hundred_seeds_is_said_in_words_not_counted(margin, answer):
    # SD 1: 100 seeds detect 0.283 with 80% power, 0.282 needs 101 — "more than 100"
    assert power.seeds_needed(1.0, margin) == answer


def test_a_family_of_three_detects_less_than_one_test_alone():
    assert power.detectable_difference(0.4, 3, alpha=LEVEL / 3) > power.detectable_difference(0.4, 3)


def test_the_far_lower_tail_stays_finite():
    # with 3 seeds and a tiny SD the noncentrality reaches the far lower tail where scipy's nct.cdf returns NaN
    delta = power.detectable_difference(0.0001, 3)
    assert np.isfinite(delta)
    assert power.power(delta, 0.0001, 3) == pytest.approx(power.POWER)
