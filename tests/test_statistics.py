"""The statistical rules of analysis/statistics.py: each wrapper agrees with scipy.stats on many random cases,
and each rule is pinned at its boundary with small synthetic per-seed values whose answer is known (a level,
multiplier or order changed makes one of these fail)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from report_builder.analysis.statistics import (
    LEVEL,
    PAIRED,
    WELCH,
    binomial_se,
    difference,
    equivalence,
    equivalence_normal,
    holm,
    one_sample,
    paired_difference,
    prediction_interval,
    welch_difference,
)

RANDOM_CASES = 200


def _cases(seed: int = 0):
    rng = np.random.default_rng(seed)
    for _ in range(RANDOM_CASES):
        n = int(rng.integers(2, 9))
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
    for n, xs, _ in _cases(2):
        result, reference = one_sample(list(xs), 0.85), stats.ttest_1samp(xs, 0.85)
        ci = reference.confidence_interval(0.95)
        assert result.p_value == pytest.approx(reference.pvalue, rel=1e-9)
        assert (result.low, result.high) == (pytest.approx(ci.low, abs=1e-12), pytest.approx(ci.high, abs=1e-12))


def test_equivalence_is_the_larger_of_two_one_sided_t_tests_with_one_more_runs_error():
    # SD·√(1 + 1/n) = (SD/√n)·√(n + 1): scipy's one-sided one-sample t statistics, shrunk by √(n + 1)
    for n, xs, _ in _cases(3):
        reference, margin = 0.85, 0.01
        lower = stats.ttest_1samp(xs, reference - margin).statistic / math.sqrt(n + 1)
        upper = stats.ttest_1samp(xs, reference + margin).statistic / math.sqrt(n + 1)
        expected = max(stats.t.sf(lower, n - 1), stats.t.cdf(upper, n - 1))
        assert equivalence(list(xs), reference, margin) == pytest.approx(expected, rel=1e-9)


def test_the_prediction_interval_uses_students_t_not_two():
    for n, xs, _ in _cases(4):
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


def test_a_constant_per_seed_difference_is_certain_despite_float_noise():
    d = difference({0: 0.86 + 0.002, 1: 0.86 + 0.004}, {0: 0.865 + 0.002, 1: 0.865 + 0.004})
    assert d.sd == 0.0 and d.p_value == 0.0 and d.low == d.high == pytest.approx(-0.005)


def test_the_prediction_interval_at_three_seeds_is_4_30_times_sd_root_four_thirds():
    interval = prediction_interval([0.85, 0.86, 0.87])
    assert interval.high - 0.86 == pytest.approx(4.3027 * 0.01 * math.sqrt(4 / 3), rel=1e-4)


def test_equivalence_at_its_margin():
    # n = 30, SD 0.001: SE ≈ 0.001, t(0.95, 29) ≈ 1.70; a gap of 0.5 points against a 1-point margin is equivalent,
    # a gap of 0.95 points is not
    values = list(0.86 + np.linspace(-0.0017, 0.0017, 30))
    assert equivalence(values, 0.855, 0.01) < LEVEL
    assert equivalence(values, 0.8505, 0.01) > LEVEL


def test_normal_equivalence_with_a_known_error():
    # 1.645 standard errors inside the margin on each side is the 5% boundary
    assert equivalence_normal(0.0, 0.01 / 1.6448536, 0.01) == pytest.approx(0.05, rel=1e-6)


def test_the_binomial_error_of_one_run_on_ten_thousand_images():
    assert 100 * binomial_se(0.87, 10_000) == pytest.approx(0.336, abs=0.001)


# ---- the family of claims ----------------------------------------------------------------------------

FAMILY_SUITE = """
[defaults]
epochs = 3
device = "cpu"
repeats = 3
[experiments.base]
[experiments.a]
lr = 0.01
[experiments.b]
lr = 0.0001
"""


def _views(tmp_path, specs: dict) -> dict:
    from conftest import fixture_result, write_config

    from report_builder.analysis.views import experiment_view

    config = write_config(tmp_path / "experiments.toml", FAMILY_SUITE)
    return {name: experiment_view(fixture_result(config, name, **spec)) for name, spec in specs.items()}


def test_a_pair_in_two_groups_is_one_claim_of_the_family(tmp_path):
    from report_builder.findings.claims import family

    seeds3 = {"accuracies": [0.8, 0.84, 0.86], "repeats": 3}
    v = _views(tmp_path, {"base": {**seeds3, "spread": 0.002}, "a": {**seeds3, "spread": 0.003},
                          "b": {**seeds3, "spread": 0.0045}})
    claims = family([("one", [v["base"], v["a"]], v["base"]), ("two", [v["a"], v["base"], v["b"]], v["base"])])
    assert [(c.group, c.experiment, c.baseline) for c in claims] == [("one", "a", "base"), ("two", "b", "base")]
    assert [c.family_size for c in claims] == [2, 2]
    assert [c.p_adjusted for c in claims] == pytest.approx(holm([c.difference.p_value for c in claims]))


def test_a_claim_carries_what_its_design_could_detect(tmp_path):
    from report_builder.analysis import power
    from report_builder.findings.claims import MARGIN, family

    seeds3 = {"accuracies": [0.8, 0.84, 0.86], "repeats": 3}
    v = _views(tmp_path, {"base": {**seeds3, "spread": 0.002}, "a": {**seeds3, "spread": 0.006}})
    (claim,) = family([("g", [v["base"], v["a"]], v["base"])])
    assert claim.difference.sd == pytest.approx(0.004)
    assert claim.detectable == pytest.approx(power.detectable_difference(0.004, 3))
    assert claim.seeds_for_margin == power.seeds_needed(0.004, MARGIN) == 4
    assert claim.difference.wins == 2 and claim.verdict == "within_noise"  # seed 0 is a tie, not a win


def test_in_a_family_power_is_stated_at_holms_strictest_threshold(tmp_path):
    # Two claims: the smaller p faces 0.05 / 2, so what the design detects is stated at that level.
    from report_builder.analysis import power
    from report_builder.findings.claims import MARGIN, family

    seeds3 = {"accuracies": [0.8, 0.84, 0.86], "repeats": 3}
    v = _views(tmp_path, {"base": {**seeds3, "spread": 0.002}, "a": {**seeds3, "spread": 0.006},
                          "b": {**seeds3, "spread": 0.0045}})
    a, _ = family([("g", [v["base"], v["a"], v["b"]], v["base"])])
    assert a.detectable == pytest.approx(power.detectable_difference(0.004, 3, alpha=0.025))
    assert a.detectable > power.detectable_difference(0.004, 3)
    assert a.seeds_for_margin == power.seeds_needed(0.004, MARGIN, alpha=0.025)


def test_finals_after_different_epochs_make_no_claim(tmp_path):
    from report_builder.findings.claims import family

    v = _views(tmp_path, {"base": {"accuracies": [0.8, 0.84, 0.86], "repeats": 3},
                          "a": {"accuracies": [0.8, 0.84], "repeats": 3}})
    assert family([("g", [v["base"], v["a"]], v["base"])]) == []
