"""Timing rules: which epochs and runs a time may use (clean epochs; no unexplained slowdowns), and a
speed-up's interval (Welch's t on log seconds, checked against scipy)."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from scipy import stats

from report_builder.analysis.views import experiment_view
from report_builder.analysis.timing import (
    clean_run_seconds,
    slowed_runs,
    speedup_interval,
)


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


# ---- the speed-up's interval ---------------------------------------------------------------------------

def test_speedup_interval_matches_scipys_welch_interval_on_log_times():
    rng = random.Random(23)
    for _ in range(200):
        fast = [rng.uniform(0.5, 2.0) for _ in range(rng.randint(2, 6))]
        slow = [rng.uniform(0.5, 4.0) for _ in range(rng.randint(2, 6))]
        ours = speedup_interval(fast, slow)
        welch = stats.ttest_ind(np.log(slow), np.log(fast), equal_var=False).confidence_interval(0.95)
        assert math.log(ours.low) == pytest.approx(welch.low, rel=1e-9, abs=1e-12)
        assert math.log(ours.high) == pytest.approx(welch.high, rel=1e-9, abs=1e-12)
        assert ours.estimate == pytest.approx(math.exp(np.mean(np.log(slow)) - np.mean(np.log(fast))))


def test_speedup_is_the_ratio_of_geometric_means():
    s = speedup_interval([1.0, 4.0], [4.0, 16.0])  # geometric means 2 and 8
    assert s.estimate == pytest.approx(4.0) and s.n == (2, 2)
    assert s.low < 4.0 < s.high


def test_one_run_on_a_side_gives_no_interval():
    s = speedup_interval([1.0], [2.0, 2.2])
    assert s.estimate == pytest.approx(math.sqrt(2.0 * 2.2))
    assert s.low is None and s.high is None
