"""The statistical rules of analysis/statistics.py: each wrapper agrees with scipy.stats on many random cases,
and each rule is pinned at its boundary with small synthetic per-seed values whose answer is known (a level,
multiplier, the 3-seed floor or an order changed makes one of these fail)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from report_builder.analysis import statistics as statistics_module
from report_builder.analysis.statistics import (
    ACCURACY_BOUNDS,
    BEYOND,
    LEVEL,
    MIN_SEEDS,
    NOT_AFTER_CORRECTION,
    PAIRED,
    UNTESTABLE,
    WELCH,
    WITHIN,
    binomial_se,
    difference,
    equivalence,
    holm,
    mcnemar,
    one_sample,
    paired_difference,
    prediction_interval,
    prediction_p,
    seeds_and_images_interval,
    verdict,
    welch_difference,
)

RANDOM_CASES = 200


def _cases(seed: int = 0, smallest: int = 2):
    rng = np.random.default_rng(seed)
    for _ in range(RANDOM_CASES):
        n = int(rng.integers(smallest, 9))
        yield n, rng.normal(0.85, 0.01, n), rng.normal(0.85 + rng.normal(0, 0.01), 0.01, n)


# ---- agreement with scipy ------------------------------------------------------------------------

def test_the_paired_difference_is_scipys_ttest_rel_with_its_confidence_interval():
    for n, xs, ys in _cases():
        d = paired_difference(range(n), xs, ys)
        reference = stats.ttest_rel(xs, ys)
        ci = reference.confidence_interval(0.95)
        assert d.test == PAIRED and d.p_value == pytest.approx(reference.pvalue, rel=1e-9)
        assert (d.low, d.high) == (pytest.approx(ci.low, abs=1e-12), pytest.approx(ci.high, abs=1e-12))
        assert d.delta == pytest.approx(np.mean(xs - ys), abs=1e-12)
        assert d.sd == pytest.approx(np.std(xs - ys, ddof=1), abs=1e-12)
        assert d.wins == int(np.sum(xs > ys))


def test_the_welch_difference_is_scipys_unequal_variance_ttest_ind():
    for n, xs, ys in _cases(1):
        d = welch_difference(range(n), xs, ys[:-1] if n > 2 else ys)
        reference = stats.ttest_ind(xs, ys[:-1] if n > 2 else ys, equal_var=False)
        ci = reference.confidence_interval(0.95)
        assert d.test == WELCH and d.p_value == pytest.approx(reference.pvalue, rel=1e-9)
        assert (d.low, d.high) == (pytest.approx(ci.low, abs=1e-12), pytest.approx(ci.high, abs=1e-12))


def test_the_one_sample_test_is_scipys_ttest_1samp():
    for n, xs, _ in _cases(2, MIN_SEEDS):
        result, reference = one_sample(list(xs), 0.85), stats.ttest_1samp(xs, 0.85)
        ci = reference.confidence_interval(0.95)
        assert result.p_value == pytest.approx(reference.pvalue, rel=1e-9)
        assert (result.low, result.high) == (pytest.approx(ci.low, abs=1e-12), pytest.approx(ci.high, abs=1e-12))


def test_equivalence_is_the_larger_of_two_one_sided_t_tests_with_one_more_runs_error():
    # SD·√(1 + 1/n) = (SD/√n)·√(n + 1): scipy's one-sided one-sample t statistics, shrunk by √(n + 1)
    for n, xs, _ in _cases(3, MIN_SEEDS):
        reference, margin = 0.85, 0.01
        lower = stats.ttest_1samp(xs, reference - margin).statistic / math.sqrt(n + 1)
        upper = stats.ttest_1samp(xs, reference + margin).statistic / math.sqrt(n + 1)
        expected = max(stats.t.sf(lower, n - 1), stats.t.cdf(upper, n - 1))
        assert equivalence(list(xs), reference, margin) == pytest.approx(expected, rel=1e-9)


def test_the_prediction_interval_uses_students_t_not_two():
    for n, xs, _ in _cases(4, MIN_SEEDS):
        interval = prediction_interval(list(xs))
        half = stats.t.ppf(0.975, n - 1) * np.std(xs, ddof=1) * math.sqrt(1 + 1 / n)
        assert (interval.low, interval.high) == (pytest.approx(np.mean(xs) - half), pytest.approx(np.mean(xs) + half))


def test_holm_matches_its_definition_on_random_families():
    rng = np.random.default_rng(5)
    for _ in range(RANDOM_CASES):
        p = list(rng.uniform(0, 0.2, int(rng.integers(1, 8))))
        order = sorted(range(len(p)), key=p.__getitem__)
        m = len(p)
        for rank, i in enumerate(order):
            expected = min(1.0, max((m - r) * p[order[r]] for r in range(rank + 1)))
            assert holm(p)[i] == pytest.approx(expected)


def test_holm_is_never_below_benjamini_hochberg():
    # scipy's false_discovery_control bounds the false discovery rate, a weaker error than Holm's family-wise one:
    # on every family Holm's adjusted p is at least BH's.
    rng = np.random.default_rng(6)
    for _ in range(RANDOM_CASES):
        p = rng.uniform(0, 0.2, int(rng.integers(1, 8)))
        assert np.all(np.array(holm(list(p))) >= stats.false_discovery_control(p) - 1e-12)


def test_the_prediction_p_is_the_interval_turned_into_a_test():
    for n, xs, _ in _cases(7, MIN_SEEDS):
        interval = prediction_interval(list(xs))
        assert prediction_p(list(xs), interval.high) == pytest.approx(LEVEL)
        assert prediction_p(list(xs), interval.low) == pytest.approx(LEVEL)
        assert prediction_p(list(xs), float(np.mean(xs))) == pytest.approx(1.0)


def test_mcnemar_is_scipys_exact_binomial_test_of_the_discordant_images():
    rng = np.random.default_rng(8)
    for _ in range(50):
        a, b = rng.random(500) < 0.8, rng.random(500) < 0.75
        a_only, b_only = int(np.sum(a & ~b)), int(np.sum(~a & b))
        result = mcnemar(a, b)
        assert (result.a_only, result.b_only) == (a_only, b_only)
        assert result.p_value == pytest.approx(stats.binomtest(a_only, a_only + b_only, 0.5).pvalue)


def test_mcnemar_with_ten_images_all_one_way():
    a = np.array([True] * 10 + [True, False] * 5)
    b = np.array([False] * 10 + [True, False] * 5)
    assert mcnemar(a, b).p_value == pytest.approx(2 * 0.5 ** 10) and mcnemar(a, a).p_value == 1.0


# ---- the rules at their boundaries -----------------------------------------------------------------

def test_holm_multiplies_the_smallest_p_by_the_family_size_and_the_next_by_one_less():
    # 0.01 × 3 = 0.03; 0.03 × 2 = 0.06; 0.04 × 1 = 0.04, raised to 0.06 to keep the order
    assert holm([0.04, 0.01, 0.03]) == pytest.approx([0.06, 0.03, 0.06])


def _paired_with_p(target: float, n: int = 3) -> tuple[list[float], list[float]]:
    """Per-seed values a, b whose paired t-test gives exactly `target` (differences mean m, SD 0.01)."""
    t = stats.t.isf(target / 2, n - 1)
    offsets = np.array([-1.0, 0.0, 1.0]) * 0.01  # SD of the offsets: 0.01
    diffs = t * 0.01 / math.sqrt(n) + offsets
    b = [0.85, 0.86, 0.84]
    return [x + d for x, d in zip(b, diffs)], b


@pytest.mark.parametrize("p, beyond", [(0.049, True), (0.051, False), (0.1, False)])
def test_a_difference_is_beyond_noise_below_the_five_percent_level_only(p, beyond):
    a, b = _paired_with_p(p)
    d = difference(dict(enumerate(a)), dict(enumerate(b)))
    assert d.p_value == pytest.approx(p) and d.beyond_noise is beyond


def test_seed_matched_runs_are_paired_and_unmatched_ones_compared_by_welch():
    a, b = {0: 0.80, 1: 0.81, 2: 0.83}, {0: 0.79, 1: 0.80, 2: 0.81}
    assert difference(a, b).test == PAIRED
    assert difference(a, {5: 0.79, 6: 0.80, 7: 0.81}).test == WELCH


def test_pairing_finds_a_difference_that_welch_cannot_see():
    # the seeds disagree by 2 points, the setting moves every seed up by 0.5 ± 0.1
    b = {0: 0.80, 1: 0.82, 2: 0.84}
    a = {0: 0.805, 1: 0.826, 2: 0.844}
    assert difference(a, b).p_value < LEVEL
    assert welch_difference([0, 1, 2], list(a.values()), list(b.values())).p_value > 0.5


def test_one_shared_seed_gives_a_difference_without_a_test():
    d = difference({0: 0.8}, {0: 0.7, 1: 0.72})
    assert d.p_value is None and d.seeds == (0,) and d.delta == pytest.approx(0.1)


@pytest.mark.parametrize("seeds, tested", [(2, False), (3, True)])
def test_a_difference_is_tested_from_three_shared_seeds_on(seeds, tested):
    a = {s: 0.80 + 0.01 * s + 0.002 * (s % 2) for s in range(seeds)}
    b = {s: 0.79 + 0.01 * s for s in range(seeds)}
    d = difference(a, b)
    assert (d.p_value is not None, d.low is not None, d.test) == (tested, tested, PAIRED if tested else None)
    assert verdict(d.p_value, d.p_value) == (UNTESTABLE if not tested else verdict(d.p_value, d.p_value))
    assert d.delta == pytest.approx(np.mean([a[s] - b[s] for s in range(seeds)]))


def test_welch_needs_three_runs_on_each_side():
    assert difference({0: 0.8, 1: 0.81, 2: 0.82}, {5: 0.79, 6: 0.8, 7: 0.81}).test == WELCH
    two = difference({0: 0.8, 1: 0.81, 2: 0.82}, {5: 0.79, 6: 0.8})
    assert two.p_value is None and two.delta == pytest.approx(0.81 - 0.795)


def test_a_constant_per_seed_difference_is_certain_despite_float_noise():
    d = difference({0: 0.86 + 0.002, 1: 0.86 + 0.004, 2: 0.86 + 0.006},
                   {0: 0.865 + 0.002, 1: 0.865 + 0.004, 2: 0.865 + 0.006})
    assert d.sd == 0.0 and d.p_value == 0.0 and d.low == d.high == pytest.approx(-0.005)


@pytest.mark.parametrize("p, adjusted, expected", [
    (None, None, UNTESTABLE), (0.01, 0.049, BEYOND), (0.01, 0.051, NOT_AFTER_CORRECTION),
    (0.049, 0.147, NOT_AFTER_CORRECTION), (0.051, 0.153, WITHIN), (0.3, 0.9, WITHIN)])
def test_the_verdict_on_each_side_of_the_five_percent_level(p, adjusted, expected):
    assert verdict(p, adjusted) == expected


def test_not_significant_after_correction_is_exactly_an_interval_that_excludes_zero():
    # the unadjusted p and the 95% CI agree: p < LEVEL exactly when the CI misses 0
    for n, xs, ys in _cases(9, MIN_SEEDS):
        d = paired_difference(range(n), xs, ys)
        assert (d.p_value < LEVEL) == (d.low > 0 or d.high < 0)
        assert verdict(d.p_value, min(1.0, 10 * d.p_value)) in (
            (BEYOND, NOT_AFTER_CORRECTION) if d.low > 0 or d.high < 0 else (WITHIN,))


def test_accuracy_intervals_stay_within_zero_and_one():
    values = [0.999, 0.97, 0.995]
    assert prediction_interval(values).high > 1 and prediction_interval(values, ACCURACY_BOUNDS).high == 1.0
    low = one_sample([0.01, 0.2, 0.05], 0.1, ACCURACY_BOUNDS)
    assert low.low == 0.0 and one_sample([0.01, 0.2, 0.05], 0.1).low < 0


def test_below_three_values_there_is_no_interval_and_no_equivalence():
    assert prediction_interval([0.85, 0.86]) is None and equivalence([0.85, 0.86], 0.85, 0.01) is None
    assert one_sample([0.15, 0.2], 0.1) is None and prediction_p([0.85, 0.86], 0.8) is None


def test_the_prediction_interval_at_three_seeds_is_4_30_times_sd_root_four_thirds():
    interval = prediction_interval([0.85, 0.86, 0.87])
    assert interval.high - 0.86 == pytest.approx(4.3027 * 0.01 * math.sqrt(4 / 3), rel=1e-4)


def test_equivalence_at_its_margin():
    # n = 30, SD 0.001: SE ≈ 0.001, t(0.95, 29) ≈ 1.70; a gap of 0.5 points against a 1-point margin is equivalent,
    # a gap of 0.95 points is not
    values = list(0.86 + np.linspace(-0.0017, 0.0017, 30))
    assert equivalence(values, 0.855, 0.01) < LEVEL
    assert equivalence(values, 0.8505, 0.01) > LEVEL


def test_the_binomial_error_of_one_run_on_ten_thousand_images():
    assert 100 * binomial_se(0.87, 10_000) == pytest.approx(0.336, abs=0.001)


# ---- seeds and test images ---------------------------------------------------------------------------

def _runs(rng, seeds: int, images: int, accuracy: float, seed_sd: float = 0.0) -> np.ndarray:
    """[seeds, images] booleans: each seed's run right on an image with its own accuracy."""
    per_seed = accuracy + rng.normal(0, seed_sd, seeds)
    return rng.random((seeds, images)) < per_seed[:, None]


def test_with_identical_seeds_the_interval_is_scipys_bootstrap_over_images():
    # every seed's run the same: no seed spread, and what is left is the images' error, as an image bootstrap
    rng = np.random.default_rng(10)
    a1, b1 = _runs(rng, 1, 2000, 0.86), _runs(rng, 1, 2000, 0.84)
    ours = seeds_and_images_interval(np.repeat(a1, 3, axis=0), np.repeat(b1, 3, axis=0))
    theirs = stats.bootstrap((a1[0].astype(float) - b1[0],), np.mean, method="percentile", n_resamples=20_000,
                             random_state=0).confidence_interval
    assert ours.seeds_half == pytest.approx(0.0, abs=1e-12)
    assert ours.delta == pytest.approx(np.mean(a1[0].astype(float) - b1[0]))
    assert (ours.low, ours.high) == (pytest.approx(theirs.low, abs=0.0015), pytest.approx(theirs.high, abs=0.0015))


def test_the_seeds_part_is_the_paired_t_interval():
    rng = np.random.default_rng(11)
    a, b = _runs(rng, 3, 10_000, 0.87, 0.003), _runs(rng, 3, 10_000, 0.865, 0.003)
    interval = seeds_and_images_interval(a, b)
    t = stats.ttest_rel(a.mean(axis=1), b.mean(axis=1)).confidence_interval()
    assert interval.seeds_half == pytest.approx((t.high - t.low) / 2)
    assert interval.images_half == pytest.approx(1.959964 * np.std((a.astype(float) - b).mean(axis=0), ddof=1) / 100)
    assert interval.high - interval.low == pytest.approx(2 * math.hypot(interval.seeds_half, interval.images_half))


def test_the_seeds_and_images_interval_is_never_narrower_than_the_seeds_alone():
    rng = np.random.default_rng(12)
    for _ in range(50):
        n = int(rng.integers(3, 8))
        a, b = _runs(rng, n, 1000, 0.85, 0.01), _runs(rng, n, 1000, 0.85, 0.01)
        i = seeds_and_images_interval(a, b)
        t = stats.ttest_rel(a.mean(axis=1), b.mean(axis=1)).confidence_interval()
        assert i.low <= t.low + 1e-12 and i.high >= t.high - 1e-12


def test_with_three_seeds_it_covers_the_truth_at_least_ninety_five_times_in_a_hundred():
    # the seeds vary the accuracy by 0.5 points and each run sees its own 1,000 images drawn afresh: a new test
    # set each time; the true difference is 0
    rng = np.random.default_rng(13)
    covered = 0
    for _ in range(400):
        a, b = _runs(rng, 3, 1000, 0.85, 0.005), _runs(rng, 3, 1000, 0.85, 0.005)
        i = seeds_and_images_interval(a, b)
        covered += i.low <= 0.0 <= i.high
    assert covered >= 0.93 * 400


def test_the_seeds_and_images_interval_needs_three_seeds():
    rng = np.random.default_rng(14)
    a, b = _runs(rng, 3, 500, 0.8), _runs(rng, 3, 500, 0.8)
    assert seeds_and_images_interval(a[:2], b[:2]) is None and seeds_and_images_interval(a, b) is not None


def test_moving_the_floor_changes_what_is_tested(monkeypatch):
    # the floor is one constant: at 4, three shared seeds give no test
    three = {0: 0.8, 1: 0.82, 2: 0.81}, {0: 0.79, 1: 0.80, 2: 0.805}
    assert difference(*three).p_value is not None
    monkeypatch.setattr(statistics_module, "MIN_SEEDS", 4)
    assert difference(*three).p_value is None
