"""Timing rules: which epochs and runs a time may use (clean epochs; no unexplained slowdowns; no spread from
fewer than three values), and the rules of the timing rounds, each fed recorded readings and round timings:
the idle gate, the exclusion of whole rounds, the per-round ratio (checked against scipy), the drift check and
when a claim is withheld. Each threshold has a test on either side of it."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from scipy import stats

from report_builder.analysis.views import experiment_view
from report_builder.analysis import timing
from report_builder.analysis.timing import (
    busy_figures,
    clean_run_seconds,
    drift,
    excluded_rounds,
    gate,
    round_ratio,
    slowed_runs,
    spread,
    withheld_reason,
)
from rounds_fixture import BUSY, QUIET


def run(seed: int, seconds: list[float], disturbed: tuple[int, ...] = ()) -> dict:
    return {"seed": seed, "repeat": seed, "diverged_at": None,
            "epochs": [{"epoch": i + 1, "train_loss": 1.0, "test_loss": 1.0, "test_accuracy": 0.8,
                        "train_seconds": s, "eval_seconds": 0.5, "timing_disturbed": (i + 1) in disturbed}
                       for i, s in enumerate(seconds)]}


def result(*runs: dict) -> dict:
    return {"experiment": "e", "status": "done", "config": {"probes": []}, "runs": list(runs), "provenance": {}}


# ---- the outlier rule, at its boundary ------------------------------------------------------------

def test_a_run_at_exactly_the_limit_is_not_a_slowdown():
    runs = [run(0, [1.0, 1.0, 1.0]), run(1, [1.0, 1.0, 1.0]), run(2, [1.25, 1.25, 1.25])]
    assert slowed_runs(runs) == []


def test_a_run_just_past_the_limit_is_an_unexplained_slowdown():
    runs = [run(0, [1.0, 1.0, 1.0]), run(1, [1.0, 1.0, 1.0]), run(2, [1.26, 1.26, 1.26])]
    [slow] = slowed_runs(runs)
    assert slow.seed == 2 and slow.ratio == pytest.approx(1.26)


def test_the_rule_reads_each_runs_median_epoch_not_its_mean():
    # seed 2's mean is 1.6 s (one long epoch), its median 1.0 s: not a slowdown of the run
    runs = [run(0, [1.0, 1.0, 1.0]), run(1, [1.0, 1.0, 1.0]), run(2, [1.0, 2.8, 1.0])]
    assert slowed_runs(runs) == []


def test_a_slowed_run_is_left_out_of_the_mean_time_per_epoch():
    view = experiment_view(result(run(0, [1.0, 1.0]), run(1, [1.2, 1.2]), run(2, [2.0, 2.0])))
    assert [s.seed for s in view.slowed] == [2]
    assert view.mean_epoch_seconds.mean == pytest.approx(1.1) and view.mean_epoch_seconds.n == 2
    assert view.mean_epoch_seconds.std is None  # two values: no spread
    assert sorted(view.run_epoch_seconds) == [0, 1]


# ---- clean epochs only ------------------------------------------------------------------------------

def test_a_disturbed_epoch_is_left_out_of_its_runs_mean_and_the_epochs_mean():
    view = experiment_view(result(run(0, [1.0, 9.0, 1.0], disturbed=(2,)), run(1, [1.0, 1.0, 1.0])))
    assert view.mean_epoch_seconds.mean == pytest.approx(1.0)
    assert view.epochs[1].train_seconds.mean == pytest.approx(1.0) and view.epochs[1].train_seconds.n == 1
    assert view.epochs[1].disturbed_runs == 1 and view.epochs[0].disturbed_runs == 0


def test_totals_cover_only_runs_with_no_disturbed_epoch():
    view = experiment_view(result(run(0, [1.0, 9.0, 1.0], disturbed=(2,)), run(1, [1.0, 1.0, 1.0])))
    assert view.total_seconds.mean == pytest.approx(4.5) and view.total_seconds.n == 1
    assert view.unclean_totals == 1
    assert clean_run_seconds(run(0, [1.0], disturbed=(1,))) is None


# ---- no spread from fewer than three values ---------------------------------------------------------------

def test_two_values_have_no_standard_deviation_and_three_do():
    assert spread([1.0, 1.2]) is None
    assert spread([1.0, 1.2, 1.4]) == pytest.approx(0.2)


def test_seconds_of_two_runs_show_no_spread_but_accuracies_do():
    view = experiment_view(result(run(0, [1.0, 1.0]), run(1, [1.2, 1.2])))
    assert view.epochs[0].train_seconds.std is None and view.epochs[0].train_seconds.n == 2
    assert view.total_seconds.std is None and view.total_seconds.n == 2
    three = experiment_view(result(run(0, [1.0]), run(1, [1.2]), run(2, [1.4])))
    assert three.mean_epoch_seconds.std == pytest.approx(0.2) and three.mean_epoch_seconds.n == 3


# ---- the idle gate, figure by figure, at each limit ----------------------------------------------------------
# QUIET (rounds_fixture) passes every limit; each test moves one figure to its limit (quiet) and just past it.

@pytest.mark.parametrize("key, at_limit, past", [
    ("cpu_pressure", 10.0, 10.01),   # PSI cpu some avg10, %
    ("io_pressure", 10.0, 10.01),    # PSI io some avg10, %
    ("steal_share", 0.05, 0.051),
    ("others_cores", 0.2, 0.21),     # on 2 CPUs: 10% of them
])
def test_each_gate_figure_is_quiet_at_its_limit_and_busy_past_it(key, at_limit, past):
    assert gate({**QUIET, key: at_limit}).quiet
    verdict = gate({**QUIET, key: past})
    assert not verdict.quiet and len(verdict.over) == 1


def test_the_gate_limits_are_the_ones_the_report_states():
    assert (timing.GATE_OTHERS_LOAD_PER_CPU, timing.GATE_CPU_PRESSURE, timing.GATE_IO_PRESSURE, timing.GATE_STEAL,
            timing.GATE_OTHERS_SHARE) == (0.25, 10.0, 10.0, 0.05, 0.10)


def test_a_process_pinned_to_some_cpus_shares_other_work_over_the_whole_machine():
    # one core of other work on a 16-CPU machine is quiet for a process pinned to 2 of them; on 2 CPUs it is not
    pinned = {**QUIET, "cpus": 2, "machine_cpus": 16, "others_cores": 1.0, "load": 3.0, "own_threads": 2}
    assert gate(pinned).quiet
    assert set(gate({**pinned, "machine_cpus": 2}).over) == {"load", "others_share"}


def test_the_load_gate_counts_only_load_beyond_this_process_trees_own_threads():
    # load 2.5 on 2 CPUs while timing with 2 threads: others' load 0.25 per CPU, at the limit
    assert gate({**QUIET, "load": 2.5, "own_threads": 2}).quiet
    assert gate({**QUIET, "load": 2.52, "own_threads": 2}).over == ("load",)
    # the same load with one thread of ours: 0.75 per CPU is others' work
    assert gate({**QUIET, "load": 2.5, "own_threads": 1}).over == ("load",)


def test_a_figure_the_machine_cannot_give_does_not_count_against_it():
    unknown = {**QUIET, "cpu_pressure": None, "io_pressure": None, "steal_share": None}
    assert gate(unknown).quiet and gate(unknown).figures["cpu_pressure"] is None


def test_a_busy_reading_names_every_figure_over_its_limit():
    assert set(gate(BUSY).over) == {"load", "cpu_pressure", "others_share"}


def test_busy_figures_are_medians_over_the_readings():
    figures = busy_figures([QUIET, BUSY, {**BUSY, "cpu_pressure": 80.0}])
    assert figures["cpu_pressure"] == 60.0 and figures["steal"] == 0.0


# ---- the exclusion rule: whole rounds ---------------------------------------------------------------------

def timing_round(number: int, before=QUIET, after=QUIET, shares=(0.01, 0.01)) -> dict:
    return {"round": number, "before": before, "after": after,
            "samples": {f"e{i}": {"others_share": share} for i, share in enumerate(shares)}}


def test_a_round_busy_before_or_after_is_left_out_whole():
    rounds = [timing_round(1), timing_round(2, before=BUSY), timing_round(3, after=BUSY), timing_round(4)]
    assert excluded_rounds(rounds) == [2, 3]


def test_a_round_with_one_disturbed_sample_is_left_out_whole():
    limit = 0.10
    rounds = [timing_round(1, shares=(0.01, limit)), timing_round(2, shares=(limit + 0.001, 0.01)),
              timing_round(3, shares=(None, 0.01))]
    assert excluded_rounds(rounds) == [2]  # at the limit kept; a sample too short to judge does not count


# ---- the ratio over rounds ------------------------------------------------------------------------------

def test_round_ratio_matches_scipys_t_interval_on_log_ratios():
    rng = random.Random(29)
    for _ in range(200):
        n = rng.randint(2, 9)
        fast = [rng.uniform(0.5, 2.0) for _ in range(n)]
        slow = [f * rng.uniform(1.0, 4.0) for f in fast]
        ours = round_ratio(fast, slow)
        logs = np.log(np.array(slow) / np.array(fast))
        half = stats.t.ppf(0.975, n - 1) * logs.std(ddof=1) / math.sqrt(n)
        assert math.log(ours.estimate) == pytest.approx(logs.mean(), rel=1e-9, abs=1e-12)
        assert math.log(ours.low) == pytest.approx(logs.mean() - half, rel=1e-9, abs=1e-12)
        assert math.log(ours.high) == pytest.approx(logs.mean() + half, rel=1e-9, abs=1e-12)
        assert ours.rounds == n


def test_pairing_by_round_cancels_drift_that_run_by_run_means_would_keep():
    # The machine slows 10% a round; the slow setting always takes 3× the fast one in the same round, but was
    # timed mostly late (its mean over rounds would be inflated if only its later rounds were kept).
    fast = [1.0 * 1.1 ** r for r in range(5)]
    slow = [3.0 * 1.1 ** r for r in range(5)]
    ratio = round_ratio(fast, slow)
    assert ratio.estimate == pytest.approx(3.0) and ratio.low == pytest.approx(3.0) and ratio.high == pytest.approx(3.0)


def test_a_round_missing_a_value_is_left_out_of_the_ratio_and_one_round_has_no_interval():
    ratio = round_ratio([1.0, None, 1.0], [2.0, 2.0, None])
    assert ratio.estimate == pytest.approx(2.0) and ratio.rounds == 1 and ratio.low is None
    assert round_ratio([None], [1.0]) is None


# ---- the drift check, at 5% ------------------------------------------------------------------------------

def test_drift_compares_the_median_reference_step_at_both_ends():
    assert drift([1.0, 1.0], [1.05, 1.05]) == pytest.approx(0.05)
    assert drift([1.0, 3.0, 1.0], [0.9, 0.9]) == pytest.approx(0.1)
    assert drift([], [1.0]) is None


def test_a_drift_of_exactly_five_percent_is_allowed_and_more_withholds():
    assert timing.DRIFT_LIMIT == 0.05
    assert withheld_reason(5, drift([20.0], [21.0])) is None   # 5.0% exactly
    assert withheld_reason(5, drift([20.0], [19.0])) is None
    assert withheld_reason(5, drift([20.0], [21.01])) == timing.DRIFT
    assert withheld_reason(5, drift([20.0], [18.99])) == timing.DRIFT


def test_fewer_than_three_kept_rounds_withhold_as_busy_before_drift_is_looked_at():
    assert timing.MIN_KEPT_ROUNDS == 3
    assert withheld_reason(3, 0.0) is None
    assert withheld_reason(2, 0.0) == timing.BUSY
    assert withheld_reason(2, 0.5) == timing.BUSY


def test_a_speed_up_prints_the_digits_its_interval_tells_apart():
    from report_builder.analysis.precision import interval_decimals

    assert interval_decimals(15.35, 19.31) == 1      # "17.2× [15.4, 19.3]", not "17.22× [15.35, 19.31]"
    assert interval_decimals(2.52, 2.78) == 2        # "2.64× [2.52, 2.78]"
    assert interval_decimals(10.0, 40.0) == 0        # "20× [10, 40]"
    assert interval_decimals(None, None) == 2 and interval_decimals(2.0, 2.0) == 2  # no interval to go by
