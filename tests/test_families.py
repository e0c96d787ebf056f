"""The declared families of findings/claims.py: which tests Holm adjusts together ([report] family), the
verdict on the adjusted p, one planning SD per family for power, the 3-seed floor, the spread and reproduction
conclusions, and the interval over seeds and test images where runs stored their predictions."""

from __future__ import annotations

import base64
import math

import numpy as np
import pytest

from report_builder.analysis import power
from report_builder.analysis.predictions import correct_images, compare_images
from report_builder.analysis.statistics import LEVEL, holm, seeds_and_images_interval
from report_builder.analysis.views import experiment_view
from report_builder.findings.claims import MARGIN, REPORT, family, power_level, settle


def view(name: str, finals: dict[int, float], predictions: dict[int, np.ndarray] | None = None, epochs: int = 1):
    """An ExperimentView whose run with seed s ended at finals[s] (and, given, predicted right where
    predictions[s] is True)."""
    runs = []
    for i, (seed, accuracy) in enumerate(finals.items()):
        run = {"seed": seed, "repeat": i, "diverged_at": None, "epochs": [
            {"epoch": e + 1, "train_loss": 1.0, "test_loss": 0.5, "test_accuracy": accuracy, "train_seconds": 1.0,
             "eval_seconds": 0.1} for e in range(epochs)]}
        if predictions is not None:
            run["test_predictions"] = base64.b64encode((predictions[seed] * 0x80 + 3).astype(np.uint8)).decode()
        runs.append(run)
    return experiment_view({"experiment": name, "status": "done", "config": {"hidden": 16}, "runs": runs,
                            "provenance": {}})


def paired(p: float, base: dict[int, float], sd: float = 0.001) -> dict[int, float]:
    """Finals whose paired t-test against `base` over three seeds gives exactly p (differences m + [−sd, 0, sd])."""
    from scipy import stats

    mean = stats.t.isf(p / 2, 2) * sd / math.sqrt(3)
    return {s: base[s] + mean + offset for s, offset in zip(sorted(base), (-sd, 0.0, sd))}


BASE = {0: 0.860, 1: 0.862, 2: 0.864}


def two_questions(p_first: float, p_second: float):
    base = view("base", BASE)
    a, b = view("a", paired(p_first, BASE)), view("b", paired(p_second, BASE))
    return [("one", [base, a], base), ("two", [base, b], base)]


# ---- the family choice -------------------------------------------------------------------------------

def test_per_question_each_group_is_its_own_family():
    a, b = family(two_questions(0.03, 0.03))
    assert (a.family, a.family_size, b.family, b.family_size) == ("group:one", 1, "group:two", 1)
    assert (a.p_adjusted, a.verdict) == (pytest.approx(0.03), "beyond_noise")


def test_over_the_whole_report_the_same_two_tests_are_adjusted_together():
    a, b = family(two_questions(0.03, 0.03), choice=REPORT)
    assert (a.family, a.family_size) == ("report", 2)
    assert (a.p_adjusted, a.verdict) == (pytest.approx(0.06), "not_significant_after_correction")
    assert a.difference.low > 0  # its own 95% interval excludes 0, as "not significant after correction" says


def test_a_difference_whose_interval_holds_zero_is_within_noise():
    (a, _) = family(two_questions(0.3, 0.03))
    assert a.difference.low < 0 < a.difference.high and a.verdict == "within_noise"


def test_a_pair_in_two_groups_is_one_claim_of_its_first_group():
    base = view("base", BASE)
    a, b = view("a", paired(0.01, BASE)), view("b", paired(0.02, BASE))
    claims = family([("one", [base, a], base), ("two", [a, base, b], base)])
    assert [(c.group, c.experiment, c.family, c.family_size) for c in claims] == [
        ("one", "a", "group:one", 1), ("two", "b", "group:two", 1)]
    claims = family([("one", [base, a], base), ("two", [a, base, b], base)], choice=REPORT)
    assert [c.p_adjusted for c in claims] == pytest.approx(holm([c.difference.p_value for c in claims]))


def test_a_sweep_is_its_own_family_or_joins_the_report(tmp_path):
    from conftest import config_text, write_config

    from report_builder.analysis.sweeps import sweep_view
    from report_builder.config import load_suite

    suite = load_suite(write_config(tmp_path / "e.toml", config_text("sweep_family")))
    sweep = next(iter(suite.sweeps.values()))
    names = [p.experiment for p in sweep.points]
    views = {names[0]: view(names[0], BASE), names[1]: view(names[1], paired(0.03, BASE))}
    alone = sweep_view(sweep, views)
    (point,) = alone.tests
    assert (point.family, point.family_size, point.adjusted_p) == ("sweep:lr", 1, pytest.approx(0.03))
    claims, (joined,) = settle(two_questions(0.2, 0.5), [alone], REPORT)
    (point,) = joined.tests
    assert (point.family, point.family_size) == ("report", 3) and claims[0].family_size == 3
    assert point.adjusted_p == pytest.approx(0.09) and point.verdict == "not_significant_after_correction"


# ---- the 3-seed floor --------------------------------------------------------------------------------

def test_two_seeds_make_an_untestable_claim_without_power_or_interval():
    base = view("base", {0: 0.86, 1: 0.87})
    (claim,) = family([("g", [base, view("a", {0: 0.80, 1: 0.83})], base)])
    assert claim.verdict == "untestable" and claim.p_adjusted is None and claim.difference.low is None
    assert claim.detectable is None and claim.seeds_for_margin is None
    assert claim.difference.delta == pytest.approx(-0.05)


# ---- power from the planning SD ------------------------------------------------------------------------

def test_comparisons_of_one_design_in_one_family_state_one_detectable_difference():
    # two members with very different own spreads: each pair's SD differs, the family's planning SD does not
    base = view("base", BASE)
    quiet, noisy = view("quiet", {0: 0.861, 1: 0.863, 2: 0.865}), view("noisy", {0: 0.85, 1: 0.87, 2: 0.86})
    a, b = family([("g", [base, quiet, noisy], base)])
    planning = power.planning_sd([list(BASE.values()), [0.861, 0.863, 0.865], [0.85, 0.87, 0.86]])
    assert a.planning == b.planning == planning and planning.df == 6
    expected = power.detectable_difference(math.sqrt(2) * planning.pooled, 3, alpha=LEVEL / 2)
    assert a.detectable == b.detectable == pytest.approx(expected)
    assert a.seeds_for_margin == power.seeds_needed(math.sqrt(2) * planning.pooled, MARGIN, alpha=LEVEL / 2)
    assert a.difference.sd != pytest.approx(b.difference.sd)


def test_the_planning_sd_pools_variances_weighted_by_their_degrees_of_freedom():
    samples = [[0.80, 0.82, 0.84], [0.5, 0.5, 0.5, 0.5, 0.6], [0.7]]
    planned = power.planning_sd(samples)
    variances = [np.var(s, ddof=1) for s in samples[:2]]
    assert planned.df == 2 + 4 and planned.experiments == 2
    assert planned.pooled == pytest.approx(math.sqrt((2 * variances[0] + 4 * variances[1]) / 6))
    assert planned.difference == pytest.approx(math.sqrt(2) * planned.pooled)
    assert power.planning_sd([[0.7], [0.8]]) is None


def test_power_is_stated_at_holms_strictest_level_of_the_family():
    assert power_level(1) == LEVEL and power_level(4) == LEVEL / 4


# ---- stored predictions --------------------------------------------------------------------------------

def predictions(rng, seeds, accuracy: float, images: int = 2000) -> dict[int, np.ndarray]:
    return {s: rng.random(images) < accuracy for s in seeds}


def test_a_claim_with_stored_predictions_carries_the_seeds_and_images_interval_and_mcnemar():
    rng = np.random.default_rng(1)
    mine, theirs = predictions(rng, [0, 1, 2], 0.88), predictions(rng, [0, 1, 2], 0.86)
    base = view("base", {s: float(theirs[s].mean()) for s in theirs}, theirs)
    a = view("a", {s: float(mine[s].mean()) for s in mine}, mine)
    (claim,) = family([("g", [base, a], base)])
    t = claim.test_set
    expected = seeds_and_images_interval(np.stack([mine[s] for s in (0, 1, 2)]), np.stack([theirs[s] for s in (0, 1, 2)]))
    assert t.interval == expected and t.seeds == (0, 1, 2) and t.check_seed == 0
    assert t.interval.delta == pytest.approx(claim.difference.delta)
    assert (t.check.a_only, t.check.b_only) == (int(np.sum(mine[0] & ~theirs[0])), int(np.sum(~mine[0] & theirs[0])))


def test_results_without_predictions_have_only_the_seed_interval():
    base = view("base", BASE)
    (claim,) = family([("g", [base, view("a", paired(0.03, BASE))], base)])
    assert claim.test_set is None and claim.difference.low is not None


def test_stored_bytes_read_back_as_which_images_were_right():
    right = np.array([True, False, True, True])
    v = view("a", {0: 0.75}, {0: right})
    assert correct_images(v)[0].tolist() == right.tolist()
    other = view("b", {0: 0.5}, {0: np.array([False, False, True, True])})
    check = compare_images(v, other)
    assert (check.check.a_only, check.check.b_only, check.interval) == (1, 0, None)  # one seed: no interval


def test_predictions_on_different_test_subsets_are_not_compared():
    v = view("a", {0: 0.75}, {0: np.array([True, False, True, True])})
    w = experiment_view({**_document(v), "config": {"hidden": 16, "max_test": 4}})
    assert compare_images(v, w) is None


def _document(v) -> dict:
    return {"experiment": "w", "status": "done", "runs": [
        {"seed": 0, "repeat": 0, "diverged_at": None, "test_predictions": v.test_predictions[0],
         "epochs": [{"epoch": 1, "train_loss": 1.0, "test_loss": 0.5, "test_accuracy": 0.75, "train_seconds": 1.0,
                     "eval_seconds": 0.1}]}], "provenance": {}}
